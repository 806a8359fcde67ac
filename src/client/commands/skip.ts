/** `flotilla skip ID TASK`: give up on a task; its dependents are skipped. */
import { Command } from 'commander';
import { skipUpdate } from '../../workflows/messages';
import { loadConfig } from '../config';
import { say, withMission } from './context';

/** Adds `flotilla skip` to the program. */
export function register(program: Command): void {
  program
    .command('skip')
    .description('give up on a task (its agent is stopped, its work kept); its dependents are skipped')
    .argument('<id>', 'mission id')
    .argument('<task>', 'task id')
    .action(async (id: string, taskId: string) => {
      const result = await withMission(loadConfig(), id, (mission) =>
        mission.update('skip', (h) => h.executeUpdate(skipUpdate, { args: [{ taskId }] })),
      );
      say(
        `mission ${id}: task ${taskId} skipped (was ${result.was})${result.skipped.length ? `; also skipped: ${result.skipped.join(', ')}` : ''}`,
      );
    });
}
