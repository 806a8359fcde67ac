/**
 * `flotilla retry` on a mission that has ended failed: a new execution of its workflow (same
 * workflow id, same spec, same branch owner) from its final state.
 */
import { Client, defaultPayloadConverter, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { missionDetails, missionSummary } from '../mission/describe';
import { missionStartAttributes } from '../mission/search';
import { planWaves } from '../mission/plan';
import { retryRejection } from '../mission/control';
import { missionWorkflow } from '../workflows';
import type { CarriedState, MissionInput } from '../workflows/mission';
import { FlotillaConfig } from './config';
import { CliError, EXIT } from './errors';
import { Ask, DescribedMission, finalProgress } from './missions';
import { ensureSearchAttributes } from './search-attributes';

/** Another `retry` reopened the mission between this one's look and its start. */
export class AlreadyReopenedError extends CliError {
  constructor(missionId: string) {
    super(`mission "${missionId}" was reopened meanwhile (by another \`flotilla retry\`)`, EXIT.failed);
    this.name = 'AlreadyReopenedError';
  }
}

/**
 * Reopens an ended mission to retry `taskId`: the task runs again, and what Flotilla skipped or
 * cancelled because of its failure becomes runnable again. The spec comes from the last run's start
 * event; the state and the branch owner from what the mission carried out of its failure (the
 * `MissionFailed` details: its usage included, so the reopened mission does not count an agent
 * session's cost twice).
 * @returns the workflow id
 * @throws CliError exit 2 when the retry makes no sense (the reason of `retryRejection`), exit 1
 *   when the mission did not end failed (completed: nothing to retry; cancelled: start it again)
 *   or its failure carried no state; AlreadyReopenedError when another retry reopened it first
 */
export async function reopenMission(
  client: Client,
  config: FlotillaConfig,
  { handle, description }: DescribedMission,
  taskId: string,
  ask?: Ask,
): Promise<string> {
  const missionId = handle.workflowId.replace(/^mission-/, '');
  const ended = await finalProgress(handle, description, config, ask);
  if (ended.progress.phase !== 'failed')
    throw new CliError(
      ended.progress.phase === 'completed'
        ? `mission "${missionId}" completed; there is nothing to retry`
        : `mission "${missionId}" was cancelled; start it again (with another --id, or after deleting its branches)`,
      EXIT.failed,
    );
  const history = await handle.fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const payload = started?.input?.payloads?.[0];
  if (!started || !payload) throw new CliError(`cannot read how mission "${missionId}" was started`, EXIT.failed);
  const input = defaultPayloadConverter.fromPayload<MissionInput>(payload);
  if (!ended.carried)
    throw new CliError(`cannot retry: mission "${missionId}" failed without recording its state`, EXIT.failed);
  const why = retryRejection(input.spec, ended.carried.state, taskId);
  if (why) throw new CliError(`cannot retry: ${why}`, EXIT.invalid);
  const carried: CarriedState = { ...ended.carried, reopen: taskId };
  await ensureSearchAttributes(client.connection, config.namespace);
  const next: MissionInput = { spec: input.spec, carried };
  try {
    await client.workflow.start(missionWorkflow, {
      workflowId: handle.workflowId,
      taskQueue: description.taskQueue,
      args: [next],
      // The reopened run sets itself up first; it says `running` once it does.
      typedSearchAttributes: missionStartAttributes(next.spec, 'planning'),
      staticSummary: missionSummary(next.spec),
      staticDetails: missionDetails(next.spec, planWaves(next.spec.tasks)),
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new AlreadyReopenedError(missionId);
    throw err;
  }
  return handle.workflowId;
}
