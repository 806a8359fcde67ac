/**
 * `flotilla cancel ID`: the `cancel` signal with the reason, then Temporal's cancellation of the
 * mission's workflow (as the Web UI's Cancel). The signal carries the reason into the mission's
 * state and `status`; the request cancels it, and the run ends Canceled (a workflow ends Canceled
 * only when its cancellation was requested).
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
        // A mission that ended on its own meanwhile: nothing left to cancel.
        await handle.cancel().catch((err: unknown) => {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        });
      });
      say(`mission ${id}: cancel requested (agents are stopped; worktrees and branches are kept)`);
    });
}
