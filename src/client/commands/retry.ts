/**
 * `flotilla retry ID TASK`: a failed, skipped or cancelled task runs again. A running mission gets
 * it as an update; one that ended failed is reopened (a new run of its workflow).
 */
import { Command } from 'commander';
import { retryUpdate } from '../../workflows/messages';
import { loadConfig, workflowUrl } from '../config';
import { CliError, EXIT } from '../errors';
import { AlreadyReopenedError, reopenMission } from '../reopen';
import { MissionContext, say, withMission } from './context';

/**
 * Reopens the ended mission for `taskId`. @returns false when another `retry` reopened it first
 * (the retry then goes to the reopened run as an update).
 */
async function reopen(mission: MissionContext, taskId: string): Promise<boolean> {
  const { client, config, missionId } = mission;
  let workflowId: string;
  try {
    workflowId = await reopenMission(client, config, await mission.describe(), taskId, mission.ask);
  } catch (err) {
    if (err instanceof AlreadyReopenedError) return false;
    throw err;
  }
  say(`mission ${missionId} had ended failed; reopened it: task ${taskId} runs again, with what the failure skipped`);
  const url = workflowUrl(config, workflowId);
  if (url) say(`  Web UI: ${url}`);
  if (!(await mission.workerPolling()))
    say(`no worker is running: it goes on when one does (\`flotilla worker\` or \`flotilla watch ${missionId}\`)`);
  return true;
}

/**
 * Retries `taskId` of the mission: an update to a running mission; a reopening of one that ended
 * failed. When another `retry` reopened it first, this one goes to the reopened run as an update,
 * and a rejection because the task runs again already is no failure.
 * @throws CliError exit 2 rejected, exit 1 ended otherwise (completed, cancelled), exit 4 unknown
 */
export async function retryTask(first: MissionContext, taskId: string): Promise<void> {
  const id = first.missionId;
  let mission = first;
  let reopenedByOther = false;
  if (!(await mission.running())) {
    if (await reopen(mission, taskId)) return;
    reopenedByOther = true;
    say(`mission ${id} was reopened meanwhile by another \`flotilla retry\`; sending this retry to it`);
    // Describe the reopened run, not the ended one.
    mission = new MissionContext(first.connected, id);
  }
  let reopened: string[];
  try {
    reopened = (await mission.update('retry', (h) => h.executeUpdate(retryUpdate, { args: [{ taskId }] }))).reopened;
  } catch (err) {
    if (!(reopenedByOther && err instanceof CliError && err.exitCode === EXIT.invalid)) throw err;
    // Two retries of the same task: the other one's reopening runs it already.
    const task = (await mission.progress()).tasks.find((t) => t.id === taskId);
    if (task && ['pending', 'running'].includes(task.status)) {
      say(`mission ${id}: task ${taskId} runs again already (the other retry reopened the mission for it)`);
      return;
    }
    throw err;
  }
  say(`mission ${id}: task ${taskId} will run again${reopened.length ? `, then ${reopened.join(', ')}` : ''}`);
  if (!(await mission.workerPolling())) say(`no worker is running: it starts when one does (\`flotilla worker\`)`);
}

/** Adds `flotilla retry` to the program. */
export function register(program: Command): void {
  program
    .command('retry')
    .description(
      'run a failed, skipped or cancelled task again; its skipped dependents become runnable (reopens a mission that ended failed)',
    )
    .argument('<id>', 'mission id')
    .argument('<task>', 'task id')
    .action(async (id: string, taskId: string) => {
      await withMission(loadConfig(), id, (mission) => retryTask(mission, taskId));
    });
}
