/** The mission workflow's own data shapes: what it carries between runs and what its steps report. */
import type { MissionState, TaskState } from '../mission/progress';
import type { MissionSpec } from '../mission/types';
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
  /**
   * The run id that owns the mission's branches and worktrees: the first run of the first
   * execution. Carried because a reopened mission is a new execution with a new first run id.
   */
  ownerRunId: string;
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

/**
 * What a mission's commands (setup, gates, verify) are given by name, spread into the inputs of
 * the activities that run them: `env`, the variables they get besides the baseline (the
 * mission's `env:`); `redact`, every secret name the mission lists (every `agent.env`,
 * `resolver.env` and `env:`), which the worker's redaction boundary learns from the input before
 * the activity runs (src/worker/redaction.ts), so their values are redacted even from a command
 * that found them some other way. Names only: never a value.
 */
export interface CommandNames {
  env: string[];
  redact: string[];
}

/** The {@link CommandNames} of `spec`. */
export function commandNamesOf(spec: MissionSpec): CommandNames {
  const listed = [...spec.tasks.flatMap((t) => t.agent.env), ...(spec.resolver?.env ?? []), ...(spec.env ?? [])];
  return { env: [...(spec.env ?? [])], redact: [...new Set(listed)] };
}
