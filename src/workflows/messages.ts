/**
 * Signals, queries and updates of `missionWorkflow` and `taskWorkflow`. Signals where the sender
 * needs no answer (pause, resume, cancel); updates with synchronous validators where the user
 * needs to know it worked (steer, retry, skip: a validator rejects an unknown task or a request
 * that makes no sense in the task's state before anything enters history). The progress query
 * answers `flotilla status`.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { MissionProgress } from '../mission/progress';
import type { TaskUsage } from '../mission/usage';

/**
 * Pause. Soft by default: running tasks finish, no new task starts. With `now`, running agents
 * are also stopped after a checkpoint; `resume` resumes their sessions. `reason` shows in status.
 */
export const pauseSignal = defineSignal<[{ reason?: string; now?: boolean }?]>('pause');
/** Ends a pause, and retries what a blocked mission waits on (a merge or the mission verify). */
export const resumeSignal = defineSignal<[]>('resume');
/**
 * Why the mission is being cancelled (`flotilla cancel --reason`), sent before Temporal's
 * cancellation request, which cancels it: running agents are stopped (their worktrees and branches
 * kept) and the run ends Canceled. The signal alone changes nothing else.
 */
export const cancelSignal = defineSignal<[{ reason?: string }?]>('cancel');

/** The `status --json` shape (without `uiUrl`, which the client adds). */
export const progressQuery = defineQuery<MissionProgress>('progress');

/** `flotilla steer`: a message for a running task's agent. */
export interface SteerRequest {
  taskId: string;
  /** At most {@link MAX_STEER_MESSAGE_CHARS} characters; it enters history, so no secrets. */
  message: string;
  /** Deliver when the agent's current run ends instead of interrupting it. */
  queue?: boolean;
}
export interface SteerResult {
  taskId: string;
  /** `interrupt`: the agent is stopped and its session resumed with the message now. */
  delivery: 'interrupt' | 'queued';
}
export { MAX_STEER_MESSAGE_CHARS } from '../mission/control';
export const steerUpdate = defineUpdate<SteerResult, [SteerRequest]>('steer');

/** `flotilla retry` / `flotilla skip`: one task of the mission. */
export interface TaskRequest {
  taskId: string;
}
export interface RetryResult {
  taskId: string;
  /** Skipped dependents that became runnable again. */
  reopened: string[];
}
/** A failed, skipped or cancelled task runs again (continuing its branch and agent session). */
export const retryUpdate = defineUpdate<RetryResult, [TaskRequest]>('retry');
export interface SkipResult {
  taskId: string;
  /** What the task was when it was skipped. */
  was: string;
  /** Dependents skipped with it. */
  skipped: string[];
}
/** Gives up on a task (stopping its agent if it runs); its dependents are skipped. */
export const skipUpdate = defineUpdate<SkipResult, [TaskRequest]>('skip');

/**
 * From a task workflow to its mission: usage so far (live accounting and the budget), a note for
 * status (a rate-limit wait, a failed gate) or null, and `held` when `pause --now` stopped its
 * agent (true) or `resume` restarted it (false); `host` when the task was placed on a host (missions
 * with `origin:`).
 */
export const taskUpdateSignal =
  defineSignal<[{ taskId: string; usage: TaskUsage; note: string | null; held?: boolean; host?: string }]>(
    'taskUpdate',
  );

/** From a mission to its task: `pause --now` (stop the agent after a checkpoint and wait). */
export const holdSignal = defineSignal<[]>('hold');
/** From a mission to its task: `resume` after `pause --now` (resume the agent's session). */
export const releaseSignal = defineSignal<[]>('release');
/** From a mission to its task: a steering message for the agent. */
export const steerTaskSignal = defineSignal<[{ message: string; queue: boolean }]>('steerTask');
