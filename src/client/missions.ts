/**
 * Reading a mission's progress, running or ended. One place knows every way a mission's workflow
 * can end ({@link finalProgress}): `status`, `watch`, `run` and `retry`'s reopening all read it
 * from here.
 */
import {
  ApplicationFailure,
  Client,
  WorkflowExecutionDescription,
  WorkflowFailedError,
  WorkflowHandle,
  WorkflowNotFoundError,
} from '@temporalio/client';
import type { MissionProgress } from '../mission/progress';
import { names } from '../mission/types';
import { progressQuery } from '../workflows/messages';
import type { CarriedState } from '../workflows/mission';
import { FlotillaConfig, workflowUrl } from './config';
import { CliError, EXIT, NoWorkerError } from './errors';
import { annotateRunningTasks } from './live-tasks';

/**
 * The `ApplicationFailure` type of a mission that ended failed: its workflow ends Failed with
 * `details[0]` the final progress and `details[1]` (when present) the state to reopen it from.
 */
export const MISSION_FAILED = 'MissionFailed';

/** How long a progress query may wait for a worker to answer, ms. */
const QUERY_DEADLINE_MS = 10_000;

/** Runs a query with a worker to answer it (see `withWorkflowWorker`); by default, as is. */
export type Ask = <T>(fn: () => Promise<T>) => Promise<T>;
const asIs: Ask = (fn) => fn();

/** The progress query, waiting at most {@link QUERY_DEADLINE_MS} for a worker to answer. */
function queryProgress(handle: WorkflowHandle): Promise<MissionProgress> {
  return handle.client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(progressQuery));
}

/** A mission's workflow handle and its description, read once. */
export interface DescribedMission {
  handle: WorkflowHandle;
  description: WorkflowExecutionDescription;
}

/**
 * Looks a mission up.
 * @throws CliError exit 4 when there is no such mission
 */
export async function describeMission(
  client: Client,
  config: FlotillaConfig,
  missionId: string,
): Promise<DescribedMission> {
  const handle = client.workflow.getHandle(names.missionWorkflowId(missionId));
  try {
    return { handle, description: await handle.describe() };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new CliError(
        `no mission "${missionId}" in namespace ${config.namespace} (see \`flotilla list\`)`,
        EXIT.unknownMission,
      );
    throw err;
  }
}

/** An ended mission: its final progress, and the state a reopened run continues from when known. */
export interface EndedMission {
  progress: MissionProgress;
  /** Absent for missions that ended completed, cancelled, or failed before Flotilla carried it. */
  carried?: CarriedState;
}

/**
 * How an ended mission ended, from each way its workflow can close:
 * - Completed: its result (older missions also ended this way when failed or cancelled);
 * - Failed with a `MissionFailed` application failure: its details;
 * - Canceled: the progress query, which a closed workflow answers while a worker polls (`ask`
 *   provides one when none does).
 * @throws CliError exit 1 for a workflow that ended outside Flotilla's control (terminated, timed
 *   out, failed otherwise); NoWorkerError when a cancelled mission's query found no worker
 */
export async function finalProgress(
  handle: WorkflowHandle,
  description: WorkflowExecutionDescription,
  config: FlotillaConfig,
  ask: Ask = asIs,
): Promise<EndedMission> {
  const outside = (detail: string): CliError =>
    new CliError(
      `mission "${handle.workflowId.replace(/^mission-/, '')}" ${detail} outside Flotilla's control (see the Web UI: ${workflowUrl(config, handle.workflowId) ?? handle.workflowId})`,
      EXIT.failed,
    );
  switch (description.status.name) {
    case 'COMPLETED':
      return { progress: (await handle.result()) as MissionProgress };
    case 'FAILED': {
      const failure = await handle.result().then(
        () => undefined,
        (err: unknown) => (err instanceof WorkflowFailedError ? err.cause : err),
      );
      if (failure instanceof ApplicationFailure && failure.type === MISSION_FAILED && failure.details?.[0]) {
        const [progress, carried] = failure.details as [MissionProgress, CarriedState | undefined];
        return { progress, carried: carried ?? undefined };
      }
      throw outside(`failed (${failure instanceof Error ? failure.message : 'no failure recorded'})`);
    }
    case 'CANCELLED': {
      let progress: MissionProgress;
      try {
        progress = await ask(() => queryProgress(handle));
      } catch {
        throw new NoWorkerError(
          `mission "${handle.workflowId.replace(/^mission-/, '')}" was cancelled; no worker answered for its final progress (start one with \`flotilla worker\`)`,
        );
      }
      // Cancelled before the workflow could record it (e.g. from the Web UI while it set up).
      if (progress.phase !== 'cancelled') progress = { ...progress, phase: 'cancelled' };
      return { progress };
    }
    default:
      throw outside(`ended as ${description.status.name.toLowerCase()}`);
  }
}

/**
 * The mission's progress (`status --json` shape) from a description already read. Running
 * missions answer the progress query, their running tasks corrected by what Temporal knows of
 * their agents (see `annotateRunningTasks`); ended ones answer through {@link finalProgress}.
 * @param ask provides a worker for the query when none may poll
 * @throws NoWorkerError when a running mission's query went unanswered; CliError as
 *   {@link finalProgress}
 */
export async function progressOf(
  client: Client,
  config: FlotillaConfig,
  { handle, description }: DescribedMission,
  ask: Ask = asIs,
): Promise<MissionProgress> {
  let progress: MissionProgress;
  if (description.status.name === 'RUNNING') {
    const missionId = handle.workflowId.replace(/^mission-/, '');
    try {
      progress = await ask(() => queryProgress(handle));
    } catch {
      throw new NoWorkerError(
        `mission "${missionId}" is running but no worker answered; start one with \`flotilla worker\` (or \`flotilla watch ${missionId}\`)`,
      );
    }
    await annotateRunningTasks(client, missionId, progress);
  } else {
    progress = (await finalProgress(handle, description, config, ask)).progress;
  }
  progress.uiUrl = workflowUrl(config, progress.workflowId);
  return progress;
}

/**
 * The mission's progress, running or ended (see {@link progressOf}); describes the mission first.
 * @throws CliError exit 4 when there is no such mission; as {@link progressOf}
 */
export async function getProgress(
  client: Client,
  config: FlotillaConfig,
  missionId: string,
  ask: Ask = asIs,
): Promise<MissionProgress> {
  return progressOf(client, config, await describeMission(client, config, missionId), ask);
}

/** How an ended mission ended, for messages: `failed: task a failed`, `completed`. */
export function endedAs(progress: Pick<MissionProgress, 'phase' | 'reason'>): string {
  return `${progress.phase}${progress.reason && progress.phase !== 'completed' ? `: ${progress.reason}` : ''}`;
}
