/** `flotilla pause ID [--now]`: no new task starts; with --now running agents stop too. */
import { Command } from 'commander';
import { pauseSignal } from '../../workflows/messages';
import { loadConfig } from '../config';
import { say, withMission } from './context';

/** Adds `flotilla pause` to the program. */
export function register(program: Command): void {
  program
    .command('pause')
    .description('soft pause: running tasks finish, no new task starts (--now: also stop running agents)')
    .argument('<id>', 'mission id')
    .option('--now', 'also stop running agents after a checkpoint; `resume` resumes their sessions')
    .option('--reason <text>', 'shown in status')
    .action(async (id: string, opts: { reason?: string; now?: boolean }) => {
      await withMission(loadConfig(), id, (mission) =>
        mission.signal(
          'pause',
          (h) => h.signal(pauseSignal, { reason: opts.reason, now: !!opts.now }),
          (p) =>
            !p.paused
              ? null
              : !opts.now
                ? `mission ${id} is already paused${p.counts.running > 0 ? `; \`flotilla pause ${id} --now\` also stops its ${p.counts.running} running agent(s)` : ''}`
                : p.counts.running === 0
                  ? `mission ${id} is already paused and no agent is running`
                  : null,
        ),
      );
      say(
        opts.now
          ? `mission ${id}: pause requested; running agents are checkpointed and stopped (\`flotilla resume ${id}\` resumes their sessions)`
          : `mission ${id}: pause requested (running tasks finish; nothing new starts until \`flotilla resume ${id}\`)`,
      );
    });
}
