/**
 * Signals and queries of `missionWorkflow` and `taskWorkflow`. Signals where the sender needs no
 * answer (pause, resume, cancel); the progress query answers `flotilla status`.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { MissionProgress } from '../mission/progress';
import type { TaskUsage } from './task';

/** Soft pause: running tasks finish, no new task starts. `reason` shows in status. */
export const pauseSignal = defineSignal<[{ reason?: string }?]>('pause');
/** Ends a pause, and retries what a blocked mission waits on (a merge or the mission verify). */
export const resumeSignal = defineSignal<[]>('resume');
/** Stops running agents (their worktrees and branches are kept) and ends the mission as cancelled. */
export const cancelSignal = defineSignal<[{ reason?: string }?]>('cancel');

/** The `status --json` shape (without `uiUrl`, which the client adds). */
export const progressQuery = defineQuery<MissionProgress>('progress');

/** Where a task workflow is: `preparing`, `agent` (iteration n), `checkpoint`, `verify`, `done`. */
export interface TaskStep {
  step: 'preparing' | 'agent' | 'checkpoint' | 'verify' | 'done';
  iteration: number;
  /** What the task is waiting on, e.g. a rate limit's reset. */
  note: string | null;
}
export const taskStepQuery = defineQuery<TaskStep>('step');

/**
 * From a task workflow to its mission: usage so far (live accounting and the budget) and a note
 * for status (a rate-limit wait, a failed gate), or null when there is nothing to say.
 */
export const taskUpdateSignal = defineSignal<[{ taskId: string; usage: TaskUsage; note: string | null }]>('taskUpdate');
