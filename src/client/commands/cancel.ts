/**
 * `flotilla cancel ID`: the `cancel` signal with the reason, then Temporal's cancellation of the
 * mission's workflow (as the Web UI's Cancel). The signal carries the reason into the mission's
 * state and `status`; the request makes the run end Canceled (a workflow ends Canceled only when
 * its cancellation was requested). A mission started before `mission-outcome-status`
 * (docs/architecture.md) takes the request as the Web UI's Cancel: its agents are stopped at once.
 */
import { Command } from 'commander';
import { WorkflowNotFoundError } from '@temporalio/client';
import { cancelSignal } from '../../workflows/messages';
import { loadConfig } from '../config';
import { say, withMission } from './context';

/** Adds `flotilla cancel` to the program. */
export function register(program: Command): void {
  program
    .command('cancel')
    .description('cancel a mission: running agents are killed, worktrees and branches are kept')
    .argument('<id>', 'mission id')
    .option('--reason <text>', 'why: shown by status and recorded in the history', 'cancelled by user')
    .action(async (id: string, opts: { reason: string }) => {
      await withMission(loadConfig(), id, async (mission) => {
        await mission.requireRunning('cancel');
        const { handle } = await mission.describe();
        await handle.signal(cancelSignal, { reason: opts.reason });
        // A mission with nothing running may already have ended on the signal: nothing to request.
        await handle.cancel().catch((err: unknown) => {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        });
      });
      say(`mission ${id}: cancel requested (agents are stopped; worktrees and branches are kept)`);
    });
}
