/** `flotilla resume ID`: continue a paused mission, or retry what a blocked one waits on. */
import { Command } from 'commander';
import { resumeSignal } from '../../workflows/messages';
import { loadConfig } from '../config';
import { say, withMission } from './context';

/** Adds `flotilla resume` to the program. */
export function register(program: Command): void {
  program
    .command('resume')
    .description('continue a paused mission, or retry what a blocked mission waits on')
    .argument('<id>', 'mission id')
    .action(async (id: string) => {
      const polling = await withMission(loadConfig(), id, async (mission) => {
        await mission.signal(
          'resume',
          (h) => h.signal(resumeSignal),
          (p) =>
            p.phase === 'paused' || p.phase === 'blocked'
              ? null
              : `mission ${id} is ${p.phase}, neither paused nor blocked: there is nothing to resume`,
        );
        return mission.workerPolling();
      });
      say(`mission ${id}: resumed`);
      if (!polling)
        say(
          `no worker is running: the mission goes on when one does (\`flotilla worker\` or \`flotilla watch ${id}\`)`,
        );
    });
}
