/**
 * "Is this branch's work in that commit?": one answer, used by `flotilla land` (every merged task
 * must be in the integration branch) and `flotilla clean` (a task branch goes only once its work
 * is in the base or the integration branch).
 */
import { git, isAncestor, resolveRef } from './git';
import { runGitTrimmed } from './spawn';

const lines = (out: string): string[] =>
  out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);

/** The ref `flotilla clean` records a deleted branch's tip under: `refs/flotilla/archive/<mission>/<leaf>`. */
export function archiveRef(missionId: string, leaf: string): string {
  return `refs/flotilla/archive/${missionId}/${leaf}`;
}

/**
 * True when `head` has commits (since its merge base with `upstream`) whose change `upstream`
 * does not hold by patch id (`git cherry upstream head` prints them with `+`). Merge commits
 * have no patch id and are not listed: see {@link workIn}, which does not trust it for them.
 * @throws GitError when git fails
 */
export async function notInByPatch(repo: string, upstream: string, head: string): Promise<boolean> {
  const out = await git(repo, ['cherry', upstream, head]);
  return lines(out).some((l) => l.startsWith('+'));
}

/**
 * True when merging `branch` into `tip` would change nothing: `git merge-tree --write-tree tip
 * branch` (git-merge-tree(1), git >= 2.38) merges cleanly and its tree is `tip`'s own. A conflict,
 * or any other tree, means some of the branch's changes are not in `tip`.
 * @throws GitError-like Error when git fails otherwise (exit other than 0 and 1)
 */
export async function mergeChangesNothing(repo: string, tip: string, branch: string): Promise<boolean> {
  const r = await runGitTrimmed(['merge-tree', '--write-tree', '--no-messages', tip, branch], { cwd: repo });
  if (r.exitCode === 1) return false;
  if (r.exitCode !== 0) throw new Error(`git merge-tree failed in ${repo}: ${r.stderr || r.stdout}`);
  const tree = lines(r.stdout)[0];
  return tree === (await git(repo, ['rev-parse', `${tip}^{tree}`])).trim();
}

/** True when `head` has a merge commit that `upstream` does not contain. */
async function hasMergeSince(repo: string, upstream: string, head: string): Promise<boolean> {
  const out = await git(repo, ['rev-list', '--merges', '--max-count=1', `${upstream}..${head}`]);
  return out.trim() !== '';
}

/**
 * How the work of `branch` (a commit) is in `tip`, or null when it is not (all of it, or nothing):
 * - `ancestor`: the branch's tip is an ancestor of `tip` (merged by commit);
 * - `content`: its changes are there without its commits: every commit of it is in `tip` by
 *   patch id (`git cherry`), trusted only when none of its commits since the merge base is a
 *   merge (a merge's own changes, e.g. a conflict resolved while merging something into the
 *   branch, have no patch id); else (and when some patch differs) merging it into `tip` must
 *   change nothing ({@link mergeChangesNothing}).
 * Conservative: a change made again differently (a later commit on `tip` edits the same lines)
 * makes the branch count as not merged, never the other way round.
 * @throws GitError when git fails
 */
export async function workIn(repo: string, tip: string, branch: string): Promise<'ancestor' | 'content' | null> {
  if (await isAncestor(repo, branch, tip)) return 'ancestor';
  if (!(await hasMergeSince(repo, tip, branch)) && !(await notInByPatch(repo, tip, branch))) return 'content';
  return (await mergeChangesNothing(repo, tip, branch)) ? 'content' : null;
}

/**
 * The merged tasks whose work is not in `tip` ({@link workIn}). A task branch that is gone is
 * looked up in its archive ref (`flotilla clean`).
 * @returns the ids of the missing tasks, in input order
 * @throws GitError when git fails
 */
export async function missingTasks(
  repo: string,
  missionId: string,
  tip: string,
  tasks: Array<{ id: string; branch: string }>,
): Promise<string[]> {
  const missing: string[] = [];
  for (const t of tasks) {
    const branchTip =
      (await resolveRef(repo, `refs/heads/${t.branch}`)) ??
      (await resolveRef(repo, archiveRef(missionId, t.branch.split('/').pop()!)));
    if (!branchTip || !(await workIn(repo, tip, branchTip))) missing.push(t.id);
  }
  return missing;
}
