/**
 * Mission types shared by the client, the activities and the workflows.
 *
 * This file is imported by workflow code, which runs in Temporal's deterministic sandbox, so it
 * holds types and pure constants only: no Node APIs, no zod, no I/O.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** The agent program a task runs. */
export type Runtime = 'claude' | 'codex' | 'command';

/**
 * A command from the mission file (`setup`, `verify`). A string is run by `sh -c`, as a CI
 * system would run a line of its config: it is the user's own script, never built from input.
 * An array is an argv run directly, with no shell.
 */
export type CommandLine = string | string[];

/** `agent.sandbox`: how an agent and its tool commands are confined (README, "Sandboxing agents"). */
export type SandboxMode = 'none' | 'bwrap';

/** Durations are carried as milliseconds once parsed (the mission file says `10m`, `2h`). */
export interface AgentSpec {
  runtime: Runtime;
  model?: string;
  /** Extra CLI arguments appended to the agent's argv. */
  args: string[];
  /** `command` runtime only: the argv to run; the prompt arrives in `$FLOTILLA_PROMPT`. */
  command?: string[];
  /** NAMES of environment variables passed through from the worker; values never enter history. */
  env: string[];
  /** Limit for one attempt, ms. */
  timeoutMs: number;
  /** No output for this long means stalled (killed, retried), ms. */
  idleTimeoutMs: number;
  /** Retries after the first attempt (Temporal `maximumAttempts` = retries + 1). */
  retries: number;
  /** `bwrap`: run the agent in a bubblewrap sandbox (src/agents/sandbox.ts); absent: `none`. */
  sandbox?: Exclude<SandboxMode, 'none'>;
}

export type OnTaskFailure = 'skip-dependents' | 'stop-wave' | 'stop-all';
export type OnMergeConflict = 'pause' | 'resolve' | 'fail';
export type OnVerifyFailure = 'fix' | 'revert' | 'pause' | 'fail';
/** What happens when a mission completes (`flotilla land` does the same by hand). */
export type LandMode = 'ff' | 'push' | 'pr' | 'none';

export interface MissionPolicy {
  onTaskFailure: OnTaskFailure;
  onMergeConflict: OnMergeConflict;
  onVerifyFailure: OnVerifyFailure;
}

export interface TaskSpec {
  id: string;
  title: string;
  /** The prompt text (a `promptFile` is read by the client, so workflows only see text). */
  prompt: string;
  dependsOn: string[];
  /** Task gate: run in the task's worktree after the agent ends. */
  verify: CommandLine[];
  /** How many agent runs the gate allows (the first run included). */
  maxIterations: number;
  agent: AgentSpec;
  /** WIP checkpoint period while the agent runs, ms. */
  checkpointEveryMs: number;
  /** Path globs the task expects to edit (`touches:`); absent when the mission file gives none. */
  touches?: string[];
  /** TCP ports reserved for the task on its host (`ports:`, the task's or the mission's); absent: none. */
  ports?: number;
  /**
   * Earlier tasks (in file order) whose `touches` overlap this one's: it starts only after they
   * are merged (or ended unmerged). Computed by the client; absent when there are none.
   */
  after?: string[];
}

/**
 * A validated, normalized mission: the input of `missionWorkflow`. Paths are absolute and refer
 * to the worker's host (the worker that holds the repository runs every git activity).
 */
export interface MissionSpec {
  id: string;
  /**
   * Absolute path of the git repository. With `origin`, the origin itself as given (for display
   * and the `FlotillaRepo` attribute): every host works in its own clone, whose path the
   * workflows learn from `claimHost`/`claimTaskHost`.
   */
  repo: string;
  /**
   * The shared origin (`origin:`): a git URL or an absolute path every worker host can reach.
   * Set, tasks may run on any host (each in its own clone under `$FLOTILLA_HOME/clones/`); absent,
   * the whole mission runs on the host that holds `repo`.
   */
  origin?: string;
  /**
   * With `origin`: how long an activity of a task (or of the mission) may wait on its host's
   * task queue with no worker polling before the host counts as lost and the work moves, ms
   * (`hostLostAfter:`, default 20 s). Absent: the default.
   */
  hostLostAfterMs?: number;
  /** The base branch; the client resolves the default (the branch checked out in `repo`). */
  base: string;
  concurrency: number;
  setup: CommandLine[];
  copy: string[];
  verify: CommandLine[];
  /**
   * NAMES of the worker's environment variables that setup, gate and verify commands get besides
   * the baseline (`env:`); secrets, so their values never enter history. Absent: none.
   */
  env?: string[];
  policy: MissionPolicy;
  /** The merge-conflict resolver agent (`resolver:`, defaulting to the mission's `agent:`; absent: the first task's agent). */
  resolver?: AgentSpec;
  /** What happens when the mission completes; absent = `none`. */
  land?: LandMode;
  /** Keep merged tasks' worktrees (`keepWorktrees: true`); by default they are removed once merged and clean. */
  keepWorktrees?: boolean;
  /** Who is told when the mission blocks, fails, completes, lands or passes its budget (`notify:`); absent: nobody. */
  notify?: NotifySpec;
  /** TCP ports reserved for the mission verify (`ports:` of the mission); absent: none. */
  ports?: number;
  /** Mission budget in USD (accounting arrives with the agent runtimes). */
  budgetUsd?: number;
  tasks: TaskSpec[];
  /** The mission file this came from, for messages only. */
  sourceFile?: string;
}

/**
 * What a runtime namespace is reserved for on a host (src/agents/namespace.ts: `FLOTILLA_SLOT`,
 * `FLOTILLA_PORTS`, `COMPOSE_PROJECT_NAME`, `TMPDIR`): a task of a mission run, its resolver, or
 * (no `taskId`) the mission verify. Carried in activity inputs; no secret.
 */
export interface NamespaceRequest {
  missionId: string;
  /** The task; absent for the mission verify. */
  taskId?: string;
  /** A task's merge-conflict resolver gets a namespace of its own. */
  role?: 'resolver';
  /** The mission's first run id: a newer run's reservation of the same task replaces an older one's. */
  runId: string;
  /** How many TCP ports (`ports:` of the task or mission; 0: none). */
  ports: number;
}

/** What `notify:` can be told about (README "The mission file", `notify`). */
export type NotifyEvent = 'blocked' | 'failed' | 'completed' | 'landed' | 'budget';
export const NOTIFY_EVENTS: readonly NotifyEvent[] = ['blocked', 'failed', 'completed', 'landed', 'budget'];

/**
 * One `notify:` entry: the events it wants and where they go, a webhook (a URL with no secret in
 * it, or the NAME of the worker's variable that holds the URL, read when it is sent) or a command
 * (an argv; it gets the notification's JSON on stdin). Never a secret's value: it is in history.
 */
export interface NotifyTarget {
  on: NotifyEvent[];
  webhook?: string | { env: string };
  command?: string[];
}

/** `notify:` as the workflows carry it: the targets and the links the client knew at start. */
export interface NotifySpec {
  targets: NotifyTarget[];
  /** The mission's page in the Temporal Web UI, when the client knows the UI's address. */
  webUi: string | null;
  /** Where `flotilla report` writes the mission's report on the client's host (a file:// URL). */
  report: string | null;
}

/** Task status, as in the `status --json` contract (README.md). */
export type TaskStatus =
  'pending' | 'running' | 'succeeded' | 'merged' | 'failed' | 'skipped' | 'conflict' | 'cancelled';

/** Mission phase, as in the `status --json` contract (README.md). */
export type MissionPhase =
  'planning' | 'running' | 'paused' | 'merging' | 'blocked' | 'completed' | 'failed' | 'cancelled';

export const TASK_STATUSES: readonly TaskStatus[] = [
  'pending',
  'running',
  'succeeded',
  'merged',
  'failed',
  'skipped',
  'conflict',
  'cancelled',
];

/** Every mission phase, in the order a mission may pass through them. */
export const MISSION_PHASES: readonly MissionPhase[] = [
  'planning',
  'running',
  'paused',
  'merging',
  'blocked',
  'completed',
  'failed',
  'cancelled',
];

export const TERMINAL_PHASES: readonly MissionPhase[] = ['completed', 'failed', 'cancelled'];

/** The task queue every worker with room for an agent polls for `claimTaskHost` (tasks of missions with `origin:`). */
export function placementQueueName(taskQueue: string): string {
  return `${taskQueue}.placement`;
}

/** The host id part of a host's task queue (`<shared task queue>@<host id>`). */
export function hostOfQueue(hostQueue: string): string {
  return hostQueue.slice(hostQueue.lastIndexOf('@') + 1);
}

/** Names of workflow ids, branches and refs (docs/architecture.md): other tools rely on them. */
export const names = {
  missionWorkflowId: (missionId: string): string => `mission-${missionId}`,
  taskWorkflowId: (missionId: string, taskId: string): string => `mission-${missionId}/task-${taskId}`,
  integrationBranch: (missionId: string): string => `flotilla/${missionId}/integration`,
  taskBranch: (missionId: string, taskId: string): string => `flotilla/${missionId}/tasks/${taskId}`,
  checkpointRef: (missionId: string, taskId: string): string => `refs/flotilla/checkpoints/${missionId}/${taskId}`,
};

/**
 * Search attributes Flotilla registers (operator API, idempotent: `ensureSearchAttributes`, before
 * it starts a mission) and its workflows set, by name. Setting one the namespace lacks would fail
 * the workflow task, so a mission starts only on a namespace that has them all.
 */
export const SEARCH_ATTRIBUTES = {
  missionId: 'FlotillaMissionId',
  taskId: 'FlotillaTaskId',
  phase: 'FlotillaPhase',
  /** Share of the mission's tasks finished, 0..100 (`MissionProgress.percent`). */
  progress: 'FlotillaProgress',
  /** USD spent so far (mission: every task and resolver; task: its agent runs). */
  costUsd: 'FlotillaCostUsd',
  /** The repository path (missions and tasks). */
  repo: 'FlotillaRepo',
  /** Agent runtimes: every one a mission uses; a task's own. */
  runtime: 'FlotillaRuntime',
} as const;

/** Each attribute's indexed type (Temporal's `IndexedValueType`, by the SDK's names). */
export const SEARCH_ATTRIBUTE_TYPES: Record<keyof typeof SEARCH_ATTRIBUTES, SearchAttributeType> = {
  missionId: SearchAttributeType.KEYWORD,
  taskId: SearchAttributeType.KEYWORD,
  phase: SearchAttributeType.KEYWORD,
  progress: SearchAttributeType.INT,
  costUsd: SearchAttributeType.DOUBLE,
  repo: SearchAttributeType.KEYWORD,
  runtime: SearchAttributeType.KEYWORD_LIST,
};

/** The same attributes as typed keys, for `upsertSearchAttributes` and `typedSearchAttributes`. */
export const SEARCH_ATTRIBUTE_KEYS = {
  missionId: defineSearchAttributeKey(SEARCH_ATTRIBUTES.missionId, SearchAttributeType.KEYWORD),
  taskId: defineSearchAttributeKey(SEARCH_ATTRIBUTES.taskId, SearchAttributeType.KEYWORD),
  phase: defineSearchAttributeKey(SEARCH_ATTRIBUTES.phase, SearchAttributeType.KEYWORD),
  progress: defineSearchAttributeKey(SEARCH_ATTRIBUTES.progress, SearchAttributeType.INT),
  costUsd: defineSearchAttributeKey(SEARCH_ATTRIBUTES.costUsd, SearchAttributeType.DOUBLE),
  repo: defineSearchAttributeKey(SEARCH_ATTRIBUTES.repo, SearchAttributeType.KEYWORD),
  runtime: defineSearchAttributeKey(SEARCH_ATTRIBUTES.runtime, SearchAttributeType.KEYWORD_LIST),
};
