/** `flotilla cancel ID`: Temporal's cancellation of the mission's workflow, as the Web UI's Cancel. */
import { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../config';
import { say, withMission } from './context';

/** Adds `flotilla cancel` to the program. */
export function register(program: Command): void {
  program
    .command('cancel')
    .description('cancel a mission: running agents are killed, worktrees and branches are kept')
    .argument('<id>', 'mission id')
    .option('--reason <text>', 'recorded with the cancellation request (Web UI, history)', 'cancelled by user')
    .action(async (id: string, opts: { reason: string }) => {
      await withMission(loadConfig(), id, async (mission) => {
        await mission.requireRunning('cancel');
        const { handle } = await mission.describe();
        // What `handle.cancel()` sends, plus the reason, which it cannot carry.
        await mission.client.workflowService.requestCancelWorkflowExecution({
          namespace: mission.config.namespace,
          workflowExecution: { workflowId: handle.workflowId },
          identity: mission.client.options.identity,
          requestId: randomUUID(),
          reason: opts.reason,
        });
      });
      say(`mission ${id}: cancel requested (agents are stopped; worktrees and branches are kept)`);
    });
}
