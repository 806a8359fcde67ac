/**
 * The task workflow's data shapes, in one place: what `taskWorkflow` is started with
 * ({@link TaskInput}), what it returns ({@link TaskResult}), and what its steps pass between them.
 * Types only (and so free of import cycles): the workflow, its agent, its steps and its placement
 * all import from here, never from each other's modules for a shape.
 */
import type { FixRequest, Diffstat } from '../../mission/progress';
import type { CommandLine, TaskSpec } from '../../mission/types';
import type { TaskUsage } from '../../mission/usage';

export type { TaskUsage } from '../../mission/usage';

/** What `taskWorkflow` is started with: one task of a mission and where it runs. */
export interface TaskInput {
  missionId: string;
  /** The mission's first run id: owner of the branches this task makes. */
  runId: string;
  repo: string;
  hostQueue: string;
  /** The integration SHA this task starts from (a fix run: the candidate that failed the mission verify). */
  baseSha: string;
  task: TaskSpec;
  setup: CommandLine[];
  copy: string[];
  /** The mission's `env:`: names of the worker's variables setup and gate commands get. */
  env?: string[];
  /** Every secret name the mission lists (`agent.env`s, `resolver.env`, `env:`): see CommandNames. */
  redact?: string[];
  /** Set when `flotilla retry` runs the task again: its usage so far and how it ended. */
  retry?: { usage: TaskUsage; error: string | null };
  /**
   * Set when the merge queue sends the task back to its agent (`onVerifyFailure: fix`): the failed
   * mission verify and the candidate to start from; `retry` carries its usage and session.
   */
  fix?: FixRequest & { round: number };
  /**
   * The mission's shared origin: the task claims a host of its own (see placement.ts) and
   * `repo`/`hostQueue` are only the mission's. Absent: the task runs on the mission's host.
   */
  origin?: string;
  /** With `origin`, on a retry or fix run: the host the task last ran on (where its session is). */
  lastHost?: string;
  /** With `origin`: the mission's `hostLostAfter`, ms (absent: HOST_LOST_AFTER_MS). */
  hostLostAfterMs?: number;
}

/** What `taskWorkflow` returns: how the task ended, its branch and head, and its usage (the ledger's totals). */
export interface TaskResult extends TaskUsage {
  status: 'succeeded' | 'failed';
  branch: string;
  headSha: string | null;
  diffstat: Diffstat | null;
  iterations: number;
  summary: string;
  error: string | null;
}

/** What a result says besides its status, branch and usage. */
export type TaskEnding = Omit<TaskResult, 'status' | 'branch' | keyof TaskUsage>;

/** A task that moved because its host was lost: from where, to where, why, and in which gate iteration. */
export interface Move {
  from: string;
  to: string;
  why: string;
  iteration: number;
}
