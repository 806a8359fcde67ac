/** The mission workflow's own data shapes: what it carries between runs and what its steps report. */
import type { MissionState, TaskState } from '../mission/progress';
import type { TaskUsage } from '../mission/usage';

/** A task `flotilla retry` made pending: what it spent so far and how it ended. */
export interface PendingRetry {
  usage: TaskUsage;
  error: string | null;
}

/** Mission state across continue-as-new and reopening: everything decided so far. */
export interface CarriedState {
  state: MissionState;
  resumes: number;
  budgetTripped: boolean;
  /** Tasks `flotilla retry` made pending that have not started yet. */
  retries?: Record<string, PendingRetry>;
  /** Each task's latest usage, session totals included (the base of a retry's resumed session). */
  lastUsage?: Record<string, TaskUsage>;
  /** The run before already took the `retry-reruns-earlier-waves` path. */
  rerunsEarlierWaves?: boolean;
  /**
   * The run id that owns the mission's branches and worktrees: the first run of the first
   * execution. Carried because a reopened mission is a new execution with a new first run id.
   */
  ownerRunId?: string;
  /** Reopen an ended (failed) mission by retrying this task: set by `flotilla retry` on it. */
  reopen?: string;
}

/** What a blocked mission waits for: a human to fix a conflict or the integration branch. */
export type Block =
  | { kind: 'conflict'; taskId: string; reason: string }
  /** `taskId`: the culprit the merge queue found (a skip of it lifts the block). */
  | { kind: 'verify'; taskId?: string; reason: string };

/** How a task's child workflow ended, as `missionWorkflow` saw it. */
export type TaskOutcome =
  { kind: 'result'; result: TaskUsage & TaskEnd } | { kind: 'cancelled' } | { kind: 'error'; message: string };
/** The parts of a `TaskResult` the mission keeps besides usage. */
export interface TaskEnd {
  status: 'succeeded' | 'failed';
  headSha: string | null;
  diffstat: TaskState['diffstat'];
  iterations: number;
  error: string | null;
}
