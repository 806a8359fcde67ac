/**
 * `flotilla retry` on a mission that has ended failed: a new execution of its workflow (same
 * workflow id, same spec, same branch owner) from its final state.
 */
import { Client, defaultPayloadConverter, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { missionDetails, missionSummary } from '../mission/describe';
import { missionStartAttributes } from '../mission/search';
import { planWaves } from '../mission/plan';
import { budgetReached, retryRejection, stateFromResult } from '../mission/control';
import { missionWorkflow } from '../workflows';
import type { CarriedState, MissionInput } from '../workflows/mission';
import { FlotillaConfig } from './config';
import { CliError, EXIT } from './errors';
import { Ask, DescribedMission, finalProgress } from './missions';
import { ensureSearchAttributes } from './server';

/** Another `retry` reopened the mission between this one's look and its start. */
export class AlreadyReopenedError extends CliError {
  constructor(missionId: string) {
    super(`mission "${missionId}" was reopened meanwhile (by another \`flotilla retry\`)`, EXIT.failed);
    this.name = 'AlreadyReopenedError';
  }
}

/**
 * Reopens an ended mission to retry `taskId`: the task runs again, and what Flotilla skipped or
 * cancelled because of its failure becomes runnable again. The spec and branch owner come from the
 * last run's start event; the state from what the mission carried out of its failure (its usage
 * included, so the reopened mission does not count an agent session's cost twice) or, for
 * missions that ended before Flotilla carried it, from its final progress.
 * @returns the workflow id
 * @throws CliError exit 2 when the retry makes no sense (the reason of `retryRejection`), exit 1
 *   when the mission did not end failed (completed: nothing to retry; cancelled: start it again);
 *   AlreadyReopenedError when another retry reopened it first
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
  const state = ended.carried?.state ?? stateFromResult(ended.progress);
  const why = retryRejection(input.spec, state, taskId);
  if (why) throw new CliError(`cannot retry: ${why}`, EXIT.invalid);
  const ownerRunId = ended.carried?.ownerRunId ?? input.carried?.ownerRunId ?? started.firstExecutionRunId ?? undefined;
  const carried: CarriedState = ended.carried
    ? { ...ended.carried, ownerRunId, rerunsEarlierWaves: true, reopen: taskId }
    : {
        state,
        resumes: 0,
        budgetTripped: budgetReached(input.spec, state) !== null,
        ownerRunId,
        rerunsEarlierWaves: true,
        reopen: taskId,
      };
  // The namespace may have gained attributes since the mission started (a newer Flotilla's `run`).
  const sets = await ensureSearchAttributes(client.connection, config.namespace);
  const next: MissionInput = { spec: input.spec, ...sets, carried };
  try {
    await client.workflow.start(missionWorkflow, {
      workflowId: handle.workflowId,
      taskQueue: description.taskQueue,
      args: [next],
      // The reopened run sets itself up first; it says `running` once it does.
      typedSearchAttributes: missionStartAttributes(next.spec, 'planning', sets),
      staticSummary: missionSummary(next.spec),
      staticDetails: missionDetails(next.spec, planWaves(next.spec.tasks)),
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) throw new AlreadyReopenedError(missionId);
    throw err;
  }
  return handle.workflowId;
}
