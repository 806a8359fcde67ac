/**
 * The mission workflow's data shapes, in one place: what `missionWorkflow` is started with and
 * returns, what it carries between runs, and what its steps, its merge queue and its handlers
 * pass between them. Types (and the one helper that derives {@link CommandNames}): every module of
 * the mission workflow imports its shapes from here, never from a sibling that uses them.
 */
import type { MissionProgress, MissionState, TaskState } from '../../mission/progress';
import type { MissionSpec } from '../../mission/types';
import type { TaskUsage } from '../../mission/usage';

/** What `missionWorkflow` is started with (and continued as new with). */
export interface MissionInput {
  spec: MissionSpec;
  /** What a continued-as-new or reopened run carries from the one before (absent on the first run). */
  carried?: CarriedState;
}

/** What `missionWorkflow` returns: its final progress (the `status --json` shape). */
export type MissionResult = MissionProgress;

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
  /** How many notifications of each event were sent (`notify:`; their idempotency keys count on). */
  notified?: Record<string, number>;
  /** Reopen an ended (failed) mission by retrying this task: set by `flotilla retry` on it. */
  reopen?: string;
}

/** What a blocked mission waits for: a human to fix a conflict or the integration branch. */
export type Block =
  | { kind: 'conflict'; taskId: string; reason: string }
  /** `taskId`: the culprit the merge queue found (a skip of it lifts the block). */
  | { kind: 'verify'; taskId?: string; reason: string };

/** What the merge queue needs from the mission's steps. */
export interface MergeQueueHooks {
  /** Waits until a block is lifted (resume, or a skip of its task); false when the mission was cancelled. */
  blockUntilLifted(block: Block): Promise<boolean>;
  setPhase(phase: 'running' | 'merging'): void;
  /** Workflow time, ISO-8601. */
  now(): string;
  /** What the mission's commands get by name, and every secret name it lists (see CommandNames). */
  commandNames: CommandNames;
}

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
