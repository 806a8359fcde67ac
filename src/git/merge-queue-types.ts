/**
 * The shapes of the merge queue's activities (queue.ts, conflict.ts, cleanup.ts, predict.ts). They are recorded
 * in workflow histories: add optional fields only. Every SHA is a full hex object id.
 */
import type { ChecksInput, ChecksResult } from '../agents/commands';
import type { NamespaceRequest } from '../mission/types';
import type { CommandLine } from '../mission/types';

/**
 * Merge a task branch onto a commit without a worktree: `git merge-tree --write-tree`, then
 * `git commit-tree` (two parents: `onto`, the branch tip), then `git update-ref ref <new> <expected>`.
 */
export interface QueueMergeInput {
  repo: string;
  /** The commit the merge goes onto (the candidate's tip so far). */
  onto: string;
  /** The task branch (short name, `flotilla/<mission>/tasks/<task>`). */
  branch: string;
  taskId: string;
  title: string;
  /** The ref the merge commit is published to (the mission's candidate ref, `refs/flotilla/candidates/<missionId>`). */
  ref: string;
  /** What `ref` must hold before (compare-and-swap); null: it must not exist. */
  expected: string | null;
  /**
   * Author and committer date of the merge commit (ISO-8601, workflow time): with the fixed
   * identity, the same merge retried after a crash makes the same commit SHA.
   */
  date: string;
}
export type QueueMergeResult =
  | {
      status: 'merged';
      sha: string;
      /** The branch tip was already contained in `onto`; `sha` is then `onto`. */
      alreadyMerged: boolean;
      /** The task branch's tip that was merged (read when the merge was made). */
      tip?: string;
    }
  | {
      status: 'conflict';
      files: string[];
      message: string;
      /**
       * The tasks merged on `onto` since the branch's merge base whose changes clash with the
       * branch's in the conflicting hunks (conflict-tasks.ts), oldest merge first.
       */
      withTasks?: string[];
      /** The worktree that has the task branch checked out on this host (where to resolve it), or null. */
      worktree?: string | null;
    };

/** A task branch to merge, in a batch (see {@link QueueMergeBatchInput}). */
export interface QueueMergeBatchTask {
  /** The task branch (short name, `flotilla/<mission>/tasks/<task>`). */
  branch: string;
  taskId: string;
  title: string;
}

/**
 * Merge several task branches one after the other onto a commit, without a worktree, in one
 * activity: per task `git merge-tree --write-tree` and `git commit-tree` (each merge onto the one
 * before), then one `git update-ref ref <last> <expected>` for the whole batch. The first conflict
 * stops it: the tasks after it are not tried.
 */
export interface QueueMergeBatchInput {
  repo: string;
  /** The commit the first merge goes onto (the candidate's tip so far). */
  onto: string;
  /** The branches, in the order they are merged; at least one. */
  tasks: QueueMergeBatchTask[];
  /** The ref the last merge commit is published to (the mission's candidate ref). */
  ref: string;
  /** What `ref` must hold before (compare-and-swap); null: it must not exist. */
  expected: string | null;
  /** Author and committer date of every merge commit (ISO-8601, workflow time), as in {@link QueueMergeInput}. */
  date: string;
  /**
   * A mission without a verify: the merges need no test, so the integration branch moves to the
   * last one too, by compare-and-swap against `expected` (as `publishRef` would, right after), and
   * the queue saves that activity. Absent: only the candidate moves.
   */
  publish?: { ref: string; expected: string | null };
}

/** One task of a batch that merged: as `queueMerge`'s `merged` answer, with the task. */
export interface BatchMerged {
  taskId: string;
  /** The merge commit (or, `alreadyMerged`, the commit that already held the branch). */
  sha: string;
  alreadyMerged: boolean;
  /** The task branch's tip that was merged (read when the merge was made). */
  tip: string;
}

export interface QueueMergeBatchResult {
  /** The tasks merged, in order, each onto the one before; `ref` holds the last one's `sha`. */
  merged: BatchMerged[];
  /** What `publish.ref` holds after the call, when `publish` was given and something merged. */
  published?: string;
  /** The task whose merge conflicted (no commit made for it, the tasks after it not tried), or null. */
  conflict: ({ taskId: string } & Extract<QueueMergeResult, { status: 'conflict' }>) | null;
}

/** Moves a ref with compare-and-swap (`git update-ref ref new expected`); idempotent when it already holds `sha`. */
export interface PublishInput {
  repo: string;
  /** Full ref name, e.g. `refs/heads/flotilla/<mission>/integration`. */
  ref: string;
  sha: string;
  /** What the ref must hold before; null: it must not exist. */
  expected: string | null;
}

/** Runs the mission verify on a commit, in the integration worktree checked out detached at it. */
export interface VerifyAtInput extends Omit<ChecksInput, 'cwd'> {
  repo: string;
  /** The integration worktree, where the commands run (the checks' `cwd`). */
  worktree: string;
  sha: string;
}
export type VerifyAtResult = ChecksResult;

/** A merge that conflicts, set up in its own worktree so a resolver agent can work on it. */
export interface PrepareConflictInput {
  missionId: string;
  /** The mission's first run id (names the worktree folder, as for task worktrees). */
  runId: string;
  repo: string;
  taskId: string;
  /** The candidate commit the task branch is merged onto. */
  onto: string;
  branch: string;
  /** The mission's `setup` and `copy`, so the task and mission verify can run there. */
  setup: CommandLine[];
  copy: string[];
  setupTimeoutMs: number;
  /** Names of the worker's variables setup commands get besides the baseline (the mission's `env:`). */
  env?: string[];
  /** Every secret name the mission lists; the worker's redaction boundary learns them (see CommandNames). */
  redact?: string[];
  /** The resolver's runtime namespace, which setup runs in (src/agents/namespace.ts); absent: none. */
  namespace?: NamespaceRequest;
}
export interface PrepareConflictResult {
  /** The conflict worktree: detached at `onto`, with `git merge --no-commit` of the branch in progress (diff3 markers). */
  worktree: string;
  /** Every path the merge conflicted on (before rerere). */
  conflicted: string[];
  /** Paths still unmerged after rerere replayed recorded resolutions (empty: rerere resolved all). */
  remaining: string[];
  /** The merge base, and the task branch's tip merged. */
  mergeBase: string;
  branchTip: string;
  /** Task ids whose merges (already on `onto` since the merge base) clash with the branch in the conflicting hunks (conflict-tasks.ts). */
  otherTasks: string[];
  /** For the resolver's prompt, each at most 12 000 characters (cut with a note). */
  oursDiff: string;
  theirsDiff: string;
  /** `git log --oneline` of what was merged on `onto` since the merge base. */
  mergedLog: string;
}

/** Checks a resolution (not trusting the resolver): markers, files outside the conflicted set, lines each side added. */
export interface CheckResolutionInput {
  worktree: string;
  conflicted: string[];
  onto: string;
  branchTip: string;
  mergeBase: string;
  /** The task being merged, named in the problems (else only MERGE_HEAD's SHA is). */
  taskId?: string;
}
export interface CheckResolutionResult {
  ok: boolean;
  /** Each failed check, in words a resolver (and a human) can act on. */
  problems: string[];
}

/** Commits a checked resolution as the merge commit and publishes it to the candidate ref (compare-and-swap). */
export interface CommitResolutionInput {
  repo: string;
  worktree: string;
  taskId: string;
  title: string;
  onto: string;
  branchTip: string;
  ref: string;
  expected: string | null;
  date: string;
  /** PrepareConflictResult.conflicted (staged and named in the message); recomputed with `git merge-tree` anyway. */
  conflicted?: string[];
}
export interface CommitResolutionResult {
  sha: string;
}

/** Removes a conflict worktree (after its resolution is committed, or when given up). */
export interface DropConflictInput {
  repo: string;
  worktree: string;
}

/** Removes a merged task's worktree when it is clean (`git worktree remove`, never forced). */
export interface RemoveTaskWorktreeInput {
  missionId: string;
  runId: string;
  repo: string;
  taskId: string;
  /** The mission's `copy` files: copies identical to the repository's do not make a worktree dirty. */
  copy: string[];
  /**
   * A mission with a shared origin: the worktree is in this host's clone of it (`repo` is then
   * ignored); a host without a clone has nothing to remove.
   */
  origin?: string;
}
export interface RemoveTaskWorktreeResult {
  /** True when the worktree is gone afterwards, also when it was already gone (a retry). */
  removed: boolean;
  /** Why it was kept (modified or untracked files, in use), or null. */
  kept: string | null;
}

/** The worktrees of a batch's merged tasks, removed one after the other in one activity. */
export interface RemoveTaskWorktreesInput {
  tasks: RemoveTaskWorktreeInput[];
}

/** Live conflict prediction between running tasks (their latest checkpoint or commit). */
export interface PredictConflictsInput {
  repo: string;
  /**
   * Each running task with the refs that may hold its latest work, first choice first (checkpoint
   * ref, then its branch); the first that resolves counts, a task with none is left out.
   */
  running: Array<{ taskId: string; refs: string[] }>;
  /** The integration commit tasks branch from (the merge base for files-changed). */
  base: string;
  /** Pending tasks and their `touches` globs: reported as waiting when they match a running task's changed files. */
  pending: Array<{ taskId: string; touches: string[] }>;
}
export interface PredictConflictsResult {
  /** Pairs of running tasks whose work conflicts now (by `merge-tree`), with the files. */
  conflicts: Array<{ a: string; b: string; files: string[] }>;
  /** Pending task id -> running task ids whose changed files match its `touches` (only tasks that wait on one). */
  waitFor: Record<string, string[]>;
}
