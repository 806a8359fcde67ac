/**
 * Mission state as kept by `missionWorkflow`, and its derivation into the `status --json` shape of
 * README.md ("status --json"). Pure: imported by the workflow (for the progress query) and by the client.
 */
import { hostOfQueue, MissionPhase, MissionSpec, TaskStatus, TASK_STATUSES, TERMINAL_PHASES, names } from './types';
import { withoutUrlCredentials } from './url-credentials';

export type WaveStatus =
  'pending' | 'running' | 'merging' | 'verifying' | 'merged' | 'failed' | 'skipped' | 'cancelled';

/** Per task, what the mission knows; serialized in history across continue-as-new, so keep it small. */
export interface TaskState {
  id: string;
  title: string;
  wave: number;
  status: TaskStatus;
  /** Agent attempts so far (retries included), summed over gate iterations. */
  attempts: number;
  iterations: number;
  branch: string;
  headSha: string | null;
  sessionId: string | null;
  /** Model turns, USD cost and tokens over every attempt (Claude reports cost; Codex does not). */
  turns: number;
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
  /** ISO-8601 times from workflow time (deterministic). */
  startedAt: string | null;
  endedAt: string | null;
  error: string | null;
  diffstat: Diffstat | null;
  /** When its merge was published to the integration branch, ISO-8601. */
  mergedAt?: string | null;
  /**
   * The host (its id: `FLOTILLA_HOST_ID`, else its hostname) the task runs or last ran on; null
   * before it starts.
   */
  host?: string | null;
  /** The hosts it ran on before `host`, oldest first, when it moved (its host was lost). */
  previousHosts?: string[];
}

/** `git diff --shortstat` numbers. */
export interface Diffstat {
  files: number;
  insertions: number;
  deletions: number;
}

export interface WaveState {
  index: number;
  taskIds: string[];
  status: WaveStatus;
}

/** A conflict the queue met, and how its resolution goes (status, the Web UI). */
export interface ConflictState {
  taskId: string;
  files: string[];
  /** Merged tasks whose lines clash with the task's in the conflicting hunks (conflict-tasks.ts). */
  withTasks: string[];
  /**
   * `resolving` (the resolver agent works), `checking`, `resolved`, `replayed` (rerere), `rejected`,
   * `blocked` (waits for a human), `failed` (the mission stopped on it: `onMergeConflict: fail`).
   */
  state: 'resolving' | 'checking' | 'resolved' | 'replayed' | 'rejected' | 'blocked' | 'failed';
  /** Resolver runs so far (at most 2: a rejected resolution goes back once). */
  attempts: number;
  /** What the last check found wrong, or the resolver's explanation of what it kept. */
  note: string | null;
  /** What the resolver's runs cost, USD (counted in the mission's cost). */
  costUsd?: number;
  /** The worktree that has the task branch checked out (where a person resolves it), or null. */
  worktree?: string | null;
  /** When the resolver began on it and was done with it (ISO-8601, workflow time). */
  startedAt?: string | null;
  endedAt?: string | null;
}

/** One mission verify run of the merge queue. */
export interface VerifyRun {
  batch: number;
  /** The candidate commit verified. */
  sha: string;
  /** The tasks whose merges it holds (the batch, or the prefix bisection tried). */
  taskIds: string[];
  /** `batch`, `rerun` (the same commit again: flaky commands), `bisect`. */
  kind: 'batch' | 'rerun' | 'bisect';
  ok: boolean;
  /** The failing command and its exit code, when it failed. */
  failed: string | null;
}

/** The batch the merge queue is merging and verifying now. */
export interface BatchState {
  index: number;
  taskIds: string[];
  /** `merging` onto the candidate ref, `verifying` it, `bisecting` for the culprit. */
  step: 'merging' | 'resolving' | 'verifying' | 'bisecting';
  candidateSha: string | null;
}

/** Live work of two running tasks that would conflict if merged now (`merge-tree` on their checkpoints). */
export interface PredictedConflict {
  a: string;
  b: string;
  files: string[];
}

/** A culprit sent back to its agent under `onVerifyFailure: fix`. */
export interface FixRequest {
  command: string;
  exitCode: number | null;
  outputTail: string;
  /** The candidate commit that failed: the task branch is fast-forwarded to it first, so the agent sees the failure. */
  syncTo: string;
  /** The commit the task's merge went onto (the integration branch then): the fix run's base. */
  onto: string;
}

export interface MissionState {
  phase: MissionPhase;
  paused: boolean;
  /** Why the mission is paused, blocked or ended the way it did. */
  reason: string | null;
  blocked: boolean;
  repo: string;
  baseBranch: string;
  baseSha: string | null;
  integrationBranch: string;
  integrationSha: string | null;
  integrationWorktree: string | null;
  /** The worker-specific task queue of the host that holds the repository. */
  hostQueue: string | null;
  /** The shared origin (`origin:`), when the mission has one. */
  origin?: string;
  /** With an origin: the clone on the mission's host (`hostQueue`) that holds the integration worktree. */
  hostRepo?: string | null;
  /** With an origin: hosts that held the mission before `hostQueue` and were lost, oldest first. */
  previousHosts?: string[];
  currentWave: number;
  waves: WaveState[];
  tasks: TaskState[];
  startedAt: string;
  endedAt: string | null;
  /** The mission's budget in USD; passing it pauses the mission once. */
  budgetUsd: number | null;
  // The merge queue.
  /** Set when the mission's story starts (its merge queue exists from then on; `progress.mergeQueue`). */
  mergeQueue?: boolean;
  /** Tasks that succeeded and wait to be merged, in the order they will be. */
  queue?: string[];
  batch?: BatchState | null;
  batches?: number;
  /** Every conflict met (latest per task). */
  conflicts?: ConflictState[];
  /** The latest mission verify runs (at most {@link MAX_VERIFY_RUNS}). */
  verifyRuns?: VerifyRun[];
  predicted?: PredictedConflict[];
  /** Pending tasks that wait for a running task their `touches` match (predicted), by id. */
  waitingFor?: Record<string, string[]>;
  /** `onVerifyFailure: fix` runs per task so far, and the ones about to start. */
  fixes?: Record<string, number>;
  fixRequests?: Record<string, FixRequest>;
  /** What the candidate ref (`refs/flotilla/candidates/<id>`) holds, or null before the first merge. */
  candidateTip?: string | null;
  /** The automatic landing (`land:` ff, push or pr) when the mission completed. */
  landing?: LandingState | null;
}

/** How the mission's automatic landing went (`land:`); `flotilla land` does the same by hand. */
export interface LandingState {
  mode: 'ff' | 'push' | 'pr';
  status: 'landed' | 'needs-human' | 'failed';
  /** The commit landed, when it landed. */
  sha: string | null;
  /** What happened, in words (a pull request's URL, what to do). */
  message: string;
}

/** How many verify runs the state keeps (history carries it across continue-as-new). */
export const MAX_VERIFY_RUNS = 50;

/** The `status --json` shape (README.md), plus `reason`, token totals, `budgetUsd`, `startedAt`, `endedAt`. */
export interface MissionProgress {
  missionId: string;
  workflowId: string;
  phase: MissionPhase;
  reason: string | null;
  repo: string;
  /** The shared origin (`origin:`), when the mission has one: its tasks may run on any host. */
  origin?: string;
  /** The host that holds the integration worktree (null before the mission claimed one). */
  host?: string | null;
  /** Hosts that held it before and were lost (missions with an origin), oldest first. */
  previousHosts?: string[];
  paused: boolean;
  baseBranch: string;
  baseSha: string | null;
  integrationBranch: string;
  integrationSha: string | null;
  currentWave: number;
  waves: WaveState[];
  tasks: Array<
    Omit<TaskState, 'title' | 'diffstat' | 'iterations'> & {
      title: string;
      diffstat: Diffstat | null;
      iterations: number;
    }
  >;
  counts: Record<TaskStatus, number> & { total: number };
  percent: number;
  /** Mission totals over every task. */
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
  /** The mission's `budget.usd`, or null. */
  budgetUsd: number | null;
  startedAt: string;
  endedAt: string | null;
  uiUrl: string | null;
  /** The merge queue (absent only before the mission's story started): the queue, the batch in flight, conflicts, verify runs, predictions. */
  mergeQueue?: {
    queue: string[];
    batch: BatchState | null;
    batches: number;
    conflicts: ConflictState[];
    verifyRuns: VerifyRun[];
    predictedConflicts: PredictedConflict[];
    waitingFor: Record<string, string[]>;
    landing: LandingState | null;
  };
}

/** A fresh state for a mission about to start. */
export function initialState(spec: MissionSpec, waves: string[][], nowIso: string): MissionState {
  const waveOf = new Map<string, number>();
  waves.forEach((ids, i) => ids.forEach((id) => waveOf.set(id, i)));
  return {
    phase: 'planning',
    paused: false,
    reason: null,
    blocked: false,
    repo: spec.repo,
    ...(spec.origin ? { origin: spec.origin } : {}),
    baseBranch: spec.base,
    baseSha: null,
    integrationBranch: names.integrationBranch(spec.id),
    integrationSha: null,
    integrationWorktree: null,
    hostQueue: null,
    currentWave: 0,
    waves: waves.map((taskIds, index) => ({ index, taskIds, status: 'pending' })),
    tasks: spec.tasks.map((t) => ({
      id: t.id,
      title: t.title,
      wave: waveOf.get(t.id) ?? 0,
      status: 'pending',
      attempts: 0,
      iterations: 0,
      branch: names.taskBranch(spec.id, t.id),
      headSha: null,
      sessionId: null,
      turns: 0,
      costUsd: 0,
      inputTokens: 0,
      outputTokens: 0,
      startedAt: null,
      endedAt: null,
      error: null,
      diffstat: null,
      host: null,
    })),
    startedAt: nowIso,
    endedAt: null,
    budgetUsd: spec.budgetUsd ?? null,
  };
}

/** Task statuses after which the task will not change again on its own. */
const FINISHED: readonly TaskStatus[] = ['merged', 'failed', 'skipped', 'cancelled'];

/**
 * Derives the phase users see: a terminal phase wins; then blocked (waiting for a human after a
 * conflict or a failed verify); then paused; else the workflow's own phase.
 */
export function effectivePhase(state: MissionState): MissionPhase {
  if (TERMINAL_PHASES.includes(state.phase)) return state.phase;
  if (state.blocked) return 'blocked';
  if (state.paused) return 'paused';
  return state.phase;
}

/**
 * The progress query's answer. `percent` is the share of tasks that are finished (merged,
 * failed, skipped or cancelled), rounded down, so 100 means nothing is left to run; a completed
 * mission is always 100.
 */
export function deriveProgress(missionId: string, state: MissionState): MissionProgress {
  const counts = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
  for (const t of state.tasks) counts[t.status]++;
  const total = state.tasks.length;
  const finished = state.tasks.filter((t) => FINISHED.includes(t.status)).length;
  const costUsd =
    state.tasks.reduce((sum, t) => sum + t.costUsd, 0) +
    (state.conflicts ?? []).reduce((sum, c) => sum + (c.costUsd ?? 0), 0);
  return {
    missionId,
    workflowId: names.missionWorkflowId(missionId),
    phase: effectivePhase(state),
    reason: state.reason,
    repo: withoutUrlCredentials(state.repo),
    ...(state.origin ? { origin: withoutUrlCredentials(state.origin) } : {}),
    host: state.hostQueue ? hostOfQueue(state.hostQueue) : null,
    ...(state.previousHosts?.length ? { previousHosts: [...state.previousHosts] } : {}),
    paused: state.paused,
    baseBranch: state.baseBranch,
    baseSha: state.baseSha,
    integrationBranch: state.integrationBranch,
    integrationSha: state.integrationSha,
    currentWave: state.currentWave,
    waves: state.waves.map((w) => ({ ...w, taskIds: [...w.taskIds] })),
    tasks: state.tasks.map((t) => ({ ...t })),
    counts: { ...counts, total },
    percent: total === 0 ? 100 : Math.floor((100 * finished) / total),
    costUsd: Math.round(costUsd * 1e6) / 1e6,
    inputTokens: state.tasks.reduce((sum, t) => sum + t.inputTokens, 0),
    outputTokens: state.tasks.reduce((sum, t) => sum + t.outputTokens, 0),
    budgetUsd: state.budgetUsd,
    startedAt: state.startedAt,
    endedAt: state.endedAt,
    uiUrl: null,
    ...(state.mergeQueue
      ? {
          mergeQueue: {
            queue: [...(state.queue ?? [])],
            batch: state.batch ? { ...state.batch, taskIds: [...state.batch.taskIds] } : null,
            batches: state.batches ?? 0,
            conflicts: (state.conflicts ?? []).map((c) => ({ ...c, files: [...c.files], withTasks: [...c.withTasks] })),
            verifyRuns: (state.verifyRuns ?? []).map((v) => ({ ...v, taskIds: [...v.taskIds] })),
            predictedConflicts: (state.predicted ?? []).map((p) => ({ ...p, files: [...p.files] })),
            waitingFor: { ...(state.waitingFor ?? {}) },
            landing: state.landing ? { ...state.landing } : null,
          },
        }
      : {}),
  };
}
