/** `flotilla watch ID`: follow a mission until it ends, with a worker in-process if none polls. */
import { Command } from 'commander';
import { loadConfig } from '../config';
import { followWithWorker } from './follow';
import { withMission } from './context';

/** Adds `flotilla watch` to the program. */
export function register(program: Command): void {
  program
    .command('watch')
    .description('follow a mission until it ends (runs a worker in-process if none polls)')
    .argument('<id>', 'mission id')
    .action(async (id: string) => {
      process.exitCode = await withMission(loadConfig(), id, async (mission) => {
        await mission.describe(); // an unknown mission exits 4 before any worker starts
        return followWithWorker(mission.connected, id);
      });
    });
}
