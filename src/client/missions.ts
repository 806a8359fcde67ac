/**
 * Reading a mission's progress, running or ended. One place knows every way a mission's workflow
 * can end ({@link finalProgress}): `status`, `watch`, `run` and `retry`'s reopening all read it
 * from here.
 */
import { ErrorType } from '../mission/error-types';
import {
  ApplicationFailure,
  Client,
  defaultPayloadConverter,
  WorkflowExecutionDescription,
  WorkflowFailedError,
  WorkflowHandle,
  WorkflowNotFoundError,
} from '@temporalio/client';
import type { MissionProgress } from '../mission/progress';
import { names } from '../mission/types';
import { progressQuery } from '../workflows/messages';
import type { CarriedState, MissionInput } from '../workflows/mission';
import { FlotillaConfig, workflowUrl } from './config';
import { CliError, EXIT, NoWorkerError } from './errors';
import { annotateRunningTasks, LiveAgent } from './live-tasks';

/**
 * How long a progress query may wait for a worker to answer, ms: longer than the workers' sticky
 * queue timeout (5 s, src/worker/index.ts), so a query to a workflow whose worker just died is
 * answered by another one instead of failing.
 */
const QUERY_DEADLINE_MS = 15_000;

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
  /** What a failed mission carried out of its failure (`MissionFailed` details); absent otherwise. */
  carried?: CarriedState;
}

/**
 * How an ended mission ended, from each way its workflow can close:
 * - Completed: its result;
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
      if (failure instanceof ApplicationFailure && failure.type === ErrorType.MissionFailed && failure.details?.[0]) {
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

/** How closely {@link progressOf} looks at a running mission's running tasks. */
export interface ProgressLook {
  /** Filled with each running task's agent attempt (see `annotateRunningTasks`). */
  live?: Map<string, LiveAgent>;
  /**
   * false: the running tasks as the query says, without describing each of them (a server request
   * per running task saved; see `carryAnnotations`). Default true.
   */
  annotate?: boolean;
  /** Filled with the ids of the tasks described (those the query called running). */
  described?: Set<string>;
}

/**
 * The mission's progress (`status --json` shape) from a description already read. Running
 * missions answer the progress query, their running tasks corrected by what Temporal knows of
 * their agents (see `annotateRunningTasks`); ended ones answer through {@link finalProgress}.
 * @param ask provides a worker for the query when none may poll
 * @param look how closely running tasks are looked at (see {@link ProgressLook})
 * @throws NoWorkerError when a running mission's query went unanswered; CliError as
 *   {@link finalProgress}
 */
export async function progressOf(
  client: Client,
  config: FlotillaConfig,
  { handle, description }: DescribedMission,
  ask: Ask = asIs,
  look: ProgressLook = {},
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
    if (look.annotate !== false) await annotateRunningTasks(client, missionId, progress, look.live, look.described);
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
  look: ProgressLook = {},
): Promise<MissionProgress> {
  return progressOf(client, config, await describeMission(client, config, missionId), ask, look);
}

/** How an ended mission ended, for messages: `failed: task a failed`, `completed`. */
export function endedAs(progress: Pick<MissionProgress, 'phase' | 'reason'>): string {
  return `${progress.phase}${progress.reason && progress.phase !== 'completed' ? `: ${progress.reason}` : ''}`;
}

/** How a mission's current run was started. */
export interface MissionStart {
  /** The run's input: the spec, and what the run carried from the one before. */
  input: MissionInput;
  /** The first run id of the run's chain (continue-as-new keeps it; a reopening starts a new one). */
  firstRunId: string;
  /**
   * The run id that owns the mission's branches and worktrees (`CarriedState.ownerRunId`, else the
   * first run id): with `$FLOTILLA_HOME` it names the worktree folder (worktree-layout.ts).
   */
  ownerRunId: string;
}

/**
 * Reads how the mission's current run was started from the first event of its history (one
 * event, not the whole history: a long mission's history can be large).
 * @throws CliError exit 1 when the start event cannot be read
 */
export async function missionStart(
  client: Client,
  config: FlotillaConfig,
  { handle, description }: DescribedMission,
): Promise<MissionStart> {
  const res = await client.workflowService.getWorkflowExecutionHistory({
    namespace: config.namespace,
    execution: { workflowId: handle.workflowId, runId: description.runId },
    maximumPageSize: 1,
  });
  const started = res.history?.events?.[0]?.workflowExecutionStartedEventAttributes;
  const payload = started?.input?.payloads?.[0];
  const missionId = handle.workflowId.replace(/^mission-/, '');
  if (!started || !payload) throw new CliError(`cannot read how mission "${missionId}" was started`, EXIT.failed);
  const input = defaultPayloadConverter.fromPayload<MissionInput>(payload);
  const firstRunId = started.firstExecutionRunId || description.runId;
  return { input, firstRunId, ownerRunId: input.carried?.ownerRunId ?? firstRunId };
}
