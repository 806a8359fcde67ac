/**
 * The merge queue's batch merge: every task branch waiting, merged one onto the other without a
 * worktree in ONE activity, and the candidate ref moved once for the whole batch. A batch of n
 * tasks costs two `for-each-ref`, n `merge-tree` and n `commit-tree` and one `update-ref`, and one
 * activity's round trip to Temporal instead of n: the queue merges faster than tasks finish, so
 * a task's wait from its end to its merge does not grow with the mission's size.
 *
 * The same guarantees as `queueMerge` (merge-queue.ts), whose pieces it uses: merge commits with fixed
 * dates and identity (a retry makes the same SHAs), the ref moved only by compare-and-swap, a ref
 * that holds something unexpected is the non-retryable `CandidateMoved`, and a conflict moves no
 * ref for the task that conflicts.
 */
import { git, isAncestor, refValues, requireGitVersion } from './git';
import type { BatchMerged, QueueMergeBatchInput, QueueMergeBatchResult, QueueMergeResult } from './merge-queue-types';
import { cloneOrigin } from './origin';
import {
  casUpdateRef,
  checkOid,
  checkRef,
  conflictResult,
  gitDate,
  MERGE_TREE_FEATURE,
  mergeTree,
  publishToOrigin,
  queueMerge,
} from './merge-queue';

type ConflictResult = Extract<QueueMergeResult, { status: 'conflict' }>;

/** A merge commit the batch made: onto `parent`, merging `tip`, with tree `tree`. */
interface Made {
  sha: string;
  parent: string;
  tip: string;
  tree: string;
}

/**
 * Whether `held` is the tip of the same chain of merges as `made` (the same parents and trees,
 * commit by commit: e.g. an earlier attempt's commits signed by `commit.gpgSign` with other
 * signatures); its commits' SHAs, oldest first, when it is, else null. One `git log`.
 */
async function sameChain(repo: string, onto: string, made: Made[], held: string): Promise<string[] | null> {
  const out = await git(repo, ['log', '--first-parent', `-n${made.length}`, '--format=%H %P %T', held]).catch(() => '');
  const lines = out.trim().split('\n').reverse();
  if (lines.length !== made.length) return null;
  const shas: string[] = [];
  for (let i = 0; i < made.length; i++) {
    const [sha, parent, tip, tree, ...more] = lines[i].split(' ');
    const expectedParent = i === 0 ? onto : shas[i - 1];
    if (more.length || parent !== expectedParent || tip !== made[i].tip || tree !== made[i].tree) return null;
    shas.push(sha);
  }
  return shas;
}

/**
 * Merges `input.tasks` one after the other onto `input.onto` (see {@link QueueMergeBatchInput}):
 * a branch already contained in what it would be merged onto is `alreadyMerged` (no commit); a
 * conflict stops the batch (what `queueMerge` says of it, and the worktree that has the branch);
 * else `git commit-tree <tree> -p <previous> -p <tip>` with `queueMerge`'s message, dates and
 * identity. Then `input.ref` moves to the last commit by compare-and-swap against
 * `input.expected` (not at all when nothing merged, or when it holds that commit already). In a
 * clone of a shared origin each task goes through `queueMerge`'s own steps (fetch, push).
 * @throws non-retryable `GitTooOld`, `CandidateMoved`; Error when a task branch does not exist
 *   (before anything is merged); GitError when git fails
 */
export async function mergeBatch(input: QueueMergeBatchInput): Promise<QueueMergeBatchResult> {
  const { repo, onto, ref } = input;
  checkOid('onto', onto);
  checkRef(ref);
  await requireGitVersion(2, 38, MERGE_TREE_FEATURE);
  if (await cloneOrigin(repo)) return mergeEach(input);
  const names = input.tasks.map((t) => `refs/heads/${t.branch}`);
  const tips = await refValues(repo, names);
  const missing = input.tasks.find((_, i) => !tips.has(names[i]));
  if (missing) throw new Error(`task branch ${missing.branch} does not exist in ${repo}`);
  const contained = await refValues(repo, names, onto);
  const date = gitDate(input.date);
  const merged: BatchMerged[] = [];
  const made: Made[] = [];
  let head = onto;
  for (const [i, t] of input.tasks.entries()) {
    const tip = tips.get(names[i])!;
    const already = (): void => void merged.push({ taskId: t.taskId, sha: head, alreadyMerged: true, tip });
    if (contained.has(names[i])) {
      already();
      continue;
    }
    const m = await mergeTree(repo, head, tip);
    if (!m.clean) {
      const conflict = (await conflictResult(repo, head, tip, t.branch, m.files)) as ConflictResult;
      return finish(input, { merged, made, head, conflict: { taskId: t.taskId, ...conflict } });
    }
    // Contained in a merge made in this batch (a branch built on another one): nothing to merge.
    const last = made[made.length - 1];
    if (last?.sha === head && m.tree === last.tree && (await isAncestor(repo, tip, head))) {
      already();
      continue;
    }
    const message = `flotilla: merge ${t.taskId}: ${t.title}`;
    const sha = (
      await git(repo, ['commit-tree', m.tree, '-p', head, '-p', tip, '-m', message], {
        identity: true,
        env: { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date },
      })
    ).trim();
    made.push({ sha, parent: head, tip, tree: m.tree });
    merged.push({ taskId: t.taskId, sha, alreadyMerged: false, tip });
    head = sha;
  }
  return finish(input, { merged, made, head, conflict: null });
}

/** Where a batch's merges ended: what merged, the commits made for it, the last one, the conflict that stopped it. */
interface BatchEnd {
  merged: BatchMerged[];
  made: Made[];
  head: string;
  conflict: QueueMergeBatchResult['conflict'];
}

/** Moves the ref to `head` (see {@link mergeBatch}) and answers with the SHAs it holds. */
async function finish(input: QueueMergeBatchInput, end: BatchEnd): Promise<QueueMergeBatchResult> {
  const { merged, conflict } = end;
  if (merged.length === 0) return { merged, conflict };
  const moved = end.head === input.expected ? { merged, conflict } : await moveCandidate(input, end);
  return published(input, moved);
}

/**
 * With `input.publish`, moves the integration branch to the batch's last merge as `publishRef`
 * does (compare-and-swap, pushed to a shared origin); the result says what it holds.
 */
async function published(input: QueueMergeBatchInput, r: QueueMergeBatchResult): Promise<QueueMergeBatchResult> {
  if (!input.publish || r.merged.length === 0) return r;
  // The candidate's new tip (an earlier attempt's equivalent commits included) goes to the branch too.
  const last = r.merged[r.merged.length - 1].sha;
  const { ref, expected } = input.publish;
  if (last !== expected) {
    await casUpdateRef(input.repo, ref, last, expected, `flotilla: publish ${last}`);
    await publishToOrigin(input.repo, ref, last);
  }
  return { ...r, published: last };
}

/** Moves the candidate ref to `head` by compare-and-swap (see {@link mergeBatch}). */
async function moveCandidate(
  input: QueueMergeBatchInput,
  { merged, made, head, conflict }: BatchEnd,
): Promise<QueueMergeBatchResult> {
  const { repo, ref, expected, onto } = input;
  let chain: string[] | null = null;
  const reason = `flotilla: merge ${merged.map((x) => x.taskId).join(', ')}`.slice(0, 200);
  const held = await casUpdateRef(repo, ref, head, expected, reason, async (h) => {
    chain = made.length ? await sameChain(repo, onto, made, h) : null;
    return chain !== null;
  });
  if (held === head || chain === null) return { merged, conflict };
  // An earlier attempt's equivalent commits hold the ref: answer with those.
  const to = new Map(made.map((x, i) => [x.sha, chain![i]]));
  return { merged: merged.map((x) => ({ ...x, sha: to.get(x.sha) ?? x.sha })), conflict };
}

/** In a clone of a shared origin: `queueMerge`'s steps for each task, each onto the one before. */
async function mergeEach(input: QueueMergeBatchInput): Promise<QueueMergeBatchResult> {
  const merged: BatchMerged[] = [];
  let onto = input.onto;
  let expected = input.expected;
  for (const t of input.tasks) {
    const r = await queueMerge({ ...input, ...t, onto, expected });
    if (r.status === 'conflict') return published(input, { merged, conflict: { taskId: t.taskId, ...r } });
    merged.push({ taskId: t.taskId, sha: r.sha, alreadyMerged: r.alreadyMerged, tip: r.tip ?? '' });
    onto = expected = r.sha;
  }
  return published(input, { merged, conflict: null });
}
