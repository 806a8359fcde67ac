/**
 * The merge queue's git, which the `queueMerge`, `publishRef` and `verifyAt` activities run:
 * merges made without a worktree (`git merge-tree --write-tree` and `git commit-tree`, git >=
 * 2.38) onto the mission's candidate ref, refs moved only by
 * compare-and-swap, and the mission verify run on a given commit in the integration worktree
 * (checked out detached there, so moving the integration branch never leaves a worktree stale).
 *
 * Every step is idempotent for Temporal's retries: a merge retried after a crash makes the same
 * commit (fixed dates and identity) and finds the ref already holding it; a ref that holds
 * something else than the workflow expected is a non-retryable `CandidateMoved`.
 */
import { HostFailure } from './failure';
import { hostLog } from './log';
import { ErrorType } from '../mission/error-types';
import { CommandRunOptions, runCommands } from '../agents/commands';
import { withNamespace } from '../agents/namespace';
import { conflictingTasks } from './conflict-tasks';
import { git, GitError, gitSucceeds, requireGitVersion, resolveRef } from './git';
import { runGitTrimmed } from './spawn';
import { worktreeGitDir } from './git-dirs';
import { removeStaleRefLock, withRepoLock } from './repo-lock';
import { removeStaleLocks } from './git-locks';
import { listWorktrees } from './worktree-list';
import { cloneOrigin, pushOrigin, pushTracked, takeBranchFromOrigin } from './origin';
import type {
  PublishInput,
  QueueMergeInput,
  QueueMergeResult,
  VerifyAtInput,
  VerifyAtResult,
} from './merge-queue-types';

/** What needs git >= 2.38 (`merge-tree --write-tree`, `--name-only`, `-z`; see git-merge-tree(1)). */
export const MERGE_TREE_FEATURE = 'the merge queue (git merge-tree --write-tree)';

const OBJECT_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/** Refuses what is not a full object id: an abbreviated or symbolic one would make CAS meaningless. */
export function checkOid(what: string, value: string): void {
  if (!OBJECT_ID.test(value)) throw new Error(`${what} must be a full hex object id, got ${JSON.stringify(value)}`);
}

/** Refuses a short ref name: `git update-ref flotilla/x` would write `.git/flotilla/x`, outside `refs/`. */
export function checkRef(ref: string): void {
  if (!ref.startsWith('refs/')) throw new Error(`ref must be a full ref name (refs/…), got ${JSON.stringify(ref)}`);
}

/** The object id `ref` holds (not peeled), or undefined when it does not exist. */
async function refValue(repo: string, ref: string): Promise<string | undefined> {
  const r = await runGitTrimmed(['rev-parse', '--verify', '--quiet', ref], { cwd: repo });
  return (r.exitCode === 0 && r.stdout.trim()) || undefined;
}

/**
 * The ISO-8601 `date` as git's internal date format (`<epoch seconds> +0000`), which every git
 * parses the same way (fractions of a second are dropped, as git does for ISO dates).
 * @throws Error when `date` is not a date
 */
export function gitDate(date: string): string {
  const ms = Date.parse(date);
  if (Number.isNaN(ms)) throw new Error(`date ${JSON.stringify(date)} is not an ISO-8601 date`);
  return `${Math.floor(ms / 1000)} +0000`;
}

/**
 * `-c merge.<name>.driver=true` for every merge driver configured in `repo` (gitattributes(5),
 * "Defining a custom merge driver"): the driver is not run, and the files it manages merge as
 * `ours`. For predictions, which must stay cheap and free of side effects: a user's driver may be
 * slow, or write outside the merge.
 */
async function driversOff(repo: string): Promise<string[]> {
  const r = await runGitTrimmed(['config', '--get-regexp', '^merge\\..+\\.driver$'], { cwd: repo });
  return (r.stdout ?? '')
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter(Boolean)
    .flatMap((key) => ['-c', `${key}=true`]);
}

/** What `git merge-tree --write-tree` says about merging two commits. */
export type MergeTreeResult = { clean: true; tree: string } | { clean: false; tree: string; files: string[] };

/**
 * `git merge-tree --write-tree --name-only -z --no-messages a b` in `repo`: the merged tree
 * (written to the object database, no ref, index or worktree touched) and, when the merge
 * conflicts (exit 1), the conflicted paths. Output with `-z` (git-merge-tree(1), "OUTPUT"):
 * `<tree>\0<path>\0<path>\0…`. The merge base is git's own (`merge-base a b`, several merged
 * recursively).
 * `drivers: false` runs no custom merge driver ({@link driversOff}).
 * @throws GitError when git fails otherwise (exit > 1: unrelated histories, a missing object)
 */
export async function mergeTree(
  repo: string,
  a: string,
  b: string,
  opts: { drivers?: boolean } = {},
): Promise<MergeTreeResult> {
  const args = [
    ...(opts.drivers === false ? await driversOff(repo) : []),
    'merge-tree',
    '--write-tree',
    '--name-only',
    '-z',
    '--no-messages',
    a,
    b,
  ];
  const r = await runGitTrimmed(args, { cwd: repo, stripFinalNewline: false });
  const [tree, ...rest] = (r.stdout ?? '').split('\0');
  if ((r.exitCode !== 0 && r.exitCode !== 1) || !OBJECT_ID.test(tree ?? ''))
    throw new GitError(args, repo, r.exitCode ?? -1, r.stderr || r.stdout || '');
  if (r.exitCode === 0) return { clean: true, tree };
  const end = rest.indexOf('');
  const files = [...new Set(end < 0 ? rest : rest.slice(0, end))];
  return { clean: false, tree, files };
}

/**
 * Moves `ref` to `sha` by compare-and-swap (`git update-ref ref sha expected`; a zero id for
 * `expected: null` makes git require that the ref does not exist, see git-update-ref(1)), under
 * the repository lock. Idempotent: a ref that already holds `sha` (a retry after a crash that
 * followed the update) is success, and so is one for which `alsoFine` says yes (see queueMerge).
 * The ref gets a reflog (`--create-reflog`): refs outside `refs/heads` have none by default. A
 * ref lock a killed git left is removed first (`removeStaleRefLock`: `ref` must be one Flotilla
 * alone moves under the repository lock, such as the candidate ref or the integration branch).
 * @returns the object id the ref holds afterwards (`sha`, or the one `alsoFine` accepted)
 * @throws non-retryable `CandidateMoved` when the ref holds something else than `expected` (or
 *   exists when it must not); GitError (retryable) when the update fails for another reason
 */
export async function casUpdateRef(
  repo: string,
  ref: string,
  sha: string,
  expected: string | null,
  reason: string,
  alsoFine?: (held: string) => Promise<boolean>,
): Promise<string> {
  checkRef(ref);
  checkOid('sha', sha);
  if (expected !== null) checkOid('expected', expected);
  return withRepoLock(repo, async (hold) => {
    const args = ['update-ref', '--create-reflog', '-m', reason, ref, sha, expected ?? '0'.repeat(sha.length)];
    await removeStaleRefLock(repo, ref, hold);
    const r = await runGitTrimmed(args, { cwd: repo });
    if (r.exitCode === 0) return sha;
    const held = await refValue(repo, ref);
    if (held === sha) return sha;
    if (held && alsoFine && (await alsoFine(held))) return held;
    if (held !== (expected ?? undefined)) {
      throw HostFailure.nonRetryable(
        `${ref} holds ${held ?? 'nothing (it does not exist)'}, but ${expected ?? 'no ref'} was expected there ` +
          `(it was not moved to ${sha}): something else moved it`,
        ErrorType.CandidateMoved,
      );
    }
    // The ref holds what was expected, yet the update failed: a lock, a full disk. Retryable.
    throw new GitError(args, repo, r.exitCode ?? -1, r.stderr || r.stdout || '');
  });
}

/**
 * In a clone of a shared origin, what the merge queue just moved goes to the origin too: the
 * integration branch (leased on what this host last pushed), because tasks on other hosts start
 * from it; the candidate ref (forced: only the mission's host writes it), because a fix round on
 * another host starts from it and a host taking the mission over resumes the queue from it.
 */
/** `refs/flotilla/merges/<mission>/<task>` for the candidate ref `refs/flotilla/candidates/<mission>`. */
function mergeRef(candidateRef: string, taskId: string): string {
  return `${candidateRef.replace(/^refs\/flotilla\/candidates\//, 'refs/flotilla/merges/')}/${taskId}`;
}

export async function publishToOrigin(repo: string, ref: string, sha: string): Promise<void> {
  if (!(await cloneOrigin(repo))) return;
  if (ref.startsWith('refs/heads/')) await pushTracked(repo, ref);
  else if (ref.startsWith('refs/flotilla/candidates/')) await pushOrigin(repo, ref, sha, { kind: 'force' });
}

/**
 * What `queueMerge` says about a conflict: the conflicted files, the tasks the conflict is with
 * ({@link conflictingTasks}) and the worktree on this host that has the task branch checked out
 * (`git worktree list`: where a person resolves it, since git refuses to check the branch out a
 * second time). Finding the tasks or the worktree never fails the merge: what cannot be told is
 * left empty (and logged).
 */
export async function conflictResult(
  repo: string,
  onto: string,
  tip: string,
  branch: string,
  files: string[],
): Promise<QueueMergeResult> {
  let withTasks: string[] = [];
  let worktree: string | null = null;
  try {
    const base = (await git(repo, ['merge-base', onto, tip])).trim();
    withTasks = await conflictingTasks(repo, base, onto, tip, files);
    worktree = (await listWorktrees(repo)).find((w) => w.branch === branch && !w.prunable)?.path ?? null;
  } catch (err) {
    hostLog.warn('could not tell which tasks a conflict is with', { branch, error: String(err) });
  }
  return { status: 'conflict', files, message: `merge conflict in ${files.join(', ')}`, withTasks, worktree };
}

/**
 * Merges task branch `branch` onto commit `onto` without a worktree and publishes the merge
 * commit to `ref` by compare-and-swap against `expected`:
 * - the branch tip already contained in `onto` → `{status: 'merged', sha: onto, alreadyMerged:
 *   true, tip}`, and `ref` is made to hold `onto` (same compare-and-swap); a merge made says
 *   the branch `tip` it merged too;
 * - `git merge-tree --write-tree` conflicts → `{status: 'conflict', files, message, withTasks,
 *   worktree}` (see {@link conflictResult}); no commit is made and no ref moves (merge-tree
 *   only writes the tree's objects);
 * - else `git commit-tree <tree> -p onto -p tip` with message `flotilla: merge <taskId>:
 *   <title>`, author and committer dates `input.date` and Flotilla's identity where the
 *   repository has none: retried with the same input it makes the same SHA. A retry that finds
 *   `ref` already holding this merge (same parents and tree, e.g. an earlier attempt's commit
 *   signed by `commit.gpgSign` with another signature) returns that commit.
 * In a clone of a shared origin the task branch is fetched first (see {@link takeBranchFromOrigin}) and the merge
 * pushed to the origin's `ref`; this is also the batch merge's way there, task by task (queue-batch.ts).
 * @throws non-retryable `GitTooOld` (git < 2.38), `CandidateMoved` (`ref` holds something
 *   else than `expected`); Error when the task branch does not exist; GitError when git fails
 */
export async function queueMerge(input: QueueMergeInput): Promise<QueueMergeResult> {
  const { repo, onto, ref, expected } = input;
  checkOid('onto', onto);
  checkRef(ref);
  await requireGitVersion(2, 38, MERGE_TREE_FEATURE);
  // A clone of a shared origin: the task ran on some host, which pushed its branch there.
  if (await cloneOrigin(repo)) await withRepoLock(repo, () => takeBranchFromOrigin(repo, input.branch));
  const tip = await resolveRef(repo, `refs/heads/${input.branch}`);
  if (!tip) throw new Error(`task branch ${input.branch} does not exist in ${repo}`);
  if (await gitSucceeds(repo, ['merge-base', '--is-ancestor', tip, onto])) {
    await casUpdateRef(repo, ref, onto, expected, `flotilla: ${input.taskId} already merged`);
    await publishToOrigin(repo, ref, onto);
    return { status: 'merged', sha: onto, alreadyMerged: true, tip };
  }
  const merged = await mergeTree(repo, onto, tip);
  if (!merged.clean) return conflictResult(repo, onto, tip, input.branch, merged.files);
  const date = gitDate(input.date);
  const commit = (
    await git(
      repo,
      ['commit-tree', merged.tree, '-p', onto, '-p', tip, '-m', `flotilla: merge ${input.taskId}: ${input.title}`],
      { identity: true, env: { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date } },
    )
  ).trim();
  const sameMerge = async (held: string): Promise<boolean> => {
    const line = (await git(repo, ['rev-list', '--no-walk', '--parents', held]).catch(() => '')).trim();
    const tree = (await git(repo, ['rev-parse', `${held}^{tree}`]).catch(() => '')).trim();
    return line === `${held} ${onto} ${tip}` && tree === merged.tree;
  };
  const sha = await casUpdateRef(repo, ref, commit, expected, `flotilla: merge ${input.taskId}`, sameMerge);
  await publishToOrigin(repo, ref, sha);
  // A fix round of this task (another host) starts from this merge, after the candidate
  // has moved on: keep it reachable on the origin under a ref of its own.
  if (await cloneOrigin(repo)) await pushOrigin(repo, mergeRef(ref, input.taskId), sha, { kind: 'force' });
  return { status: 'merged', sha, alreadyMerged: false, tip };
}

/**
 * Moves `input.ref` to `input.sha` by compare-and-swap against `input.expected` (e.g. the
 * integration branch `refs/heads/flotilla/<mission>/integration` to a verified candidate).
 * Idempotent: a ref already holding `sha` is success. In a clone of a shared origin a branch is pushed there too,
 * leased on what this host last pushed. A worktree that has the ref's branch checked out is not
 * updated (git does not): `prepareIntegration` keeps the integration worktree detached.
 * @throws non-retryable `CandidateMoved` when the ref holds something else; GitError
 */
export async function publishRef(input: PublishInput): Promise<void> {
  await casUpdateRef(input.repo, input.ref, input.sha, input.expected, `flotilla: publish ${input.sha}`);
  await publishToOrigin(input.repo, input.ref, input.sha);
}

/**
 * Runs the mission verify on commit `input.sha` in the integration worktree: `git checkout
 * --detach --force <sha>` (under the repository lock, after removing git locks a killed git
 * left there), then `input.commands` in order through `runCommands`, the full output appended
 * to `input.logFile`, log and output tail redacted of every secret. Tracked files
 * are forced to the commit's content; untracked and ignored files stay (never `git clean`: what
 * setup made, such as node_modules, is needed by the commands). A failing command is a result
 * (`ok: false`), not an error. With `opts.home`, the commands get the mission verify's runtime
 * namespace (`input.namespace`). `opts.onProgress` hears about the running command every second;
 * `opts.signal` aborted kills its process group.
 * @throws GitError when the checkout fails (e.g. `sha` is not in the repository)
 */
export async function verifyAt(
  input: VerifyAtInput,
  opts: CommandRunOptions & { home?: string } = {},
): Promise<VerifyAtResult> {
  checkOid('sha', input.sha);
  await withRepoLock(input.repo, async () => {
    const own = await worktreeGitDir(input.worktree);
    const locks = await removeStaleLocks(input.worktree, own);
    if (locks.length) hostLog.warn('removed git locks left by a killed git', { locks });
    await git(input.worktree, ['checkout', '--quiet', '--detach', '--force', input.sha]);
  });
  const head = (await git(input.worktree, ['rev-parse', 'HEAD'])).trim();
  if (head !== input.sha) throw new Error(`checkout of ${input.sha} in ${input.worktree} left HEAD at ${head}`);
  // With `opts.home`, the commands run in the mission verify's runtime namespace (src/agents/namespace.ts).
  const { home, ...run } = opts;
  return withNamespace(home, input.namespace, input.worktree, (env) =>
    runCommands(
      {
        cwd: input.worktree,
        commands: input.commands,
        timeoutMs: input.timeoutMs,
        logFile: input.logFile,
        env: input.env,
        redact: input.redact,
        namespace: input.namespace,
      },
      { ...run, env },
    ),
  );
}
