/**
 * Signals and queries of `missionWorkflow` and `taskWorkflow`. Signals where the sender needs no
 * answer (pause, resume, cancel); the progress query answers `flotilla status`.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { MissionProgress } from '../mission/progress';

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
}
export const taskStepQuery = defineQuery<TaskStep>('step');
