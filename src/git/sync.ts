/**
 * Brings a task's worktree up to a candidate commit of the merge queue before its agent fixes a
 * failed mission verify (`onVerifyFailure: fix`): the candidate is the integration branch with the
 * task's own merge on top, so the agent sees, and can run, exactly what failed.
 */
import { git, gitSucceeds } from './git';
import { withRepoLock } from './repo-lock';
import { cloneOrigin, fetchOrigin, pushTracked } from './origin';

export interface SyncTaskInput {
  /** The task's worktree (its branch checked out). */
  worktree: string;
  /** The commit to fast-forward to: it descends from the task branch's tip (the queue merged the branch into it). */
  sha: string;
}

/**
 * Fast-forwards the worktree's branch to `input.sha` (`git merge --ff-only`). Idempotent: a branch
 * that already contains `sha` is left as it is (a retry after a crash). In a clone of a shared
 * origin the candidate and merge refs are fetched first, and the branch pushed after.
 * @returns the branch's new HEAD
 * @throws GitError when the worktree has changes that the fast-forward would overwrite, or when
 *   `sha` does not descend from HEAD (the branch moved since the queue merged it)
 */
export async function syncTaskBranch(input: SyncTaskInput): Promise<{ headSha: string }> {
  // A clone of a shared origin: the merge was made on the mission's host, which pushed it
  // (under the candidate ref, and under the task's own merge ref for when the candidate moved on).
  if (await cloneOrigin(input.worktree))
    await withRepoLock(input.worktree, () =>
      fetchOrigin(input.worktree, [
        '+refs/flotilla/candidates/*:refs/flotilla/origin/candidates/*',
        '+refs/flotilla/merges/*:refs/flotilla/origin/merges/*',
      ]),
    );
  const contained = await gitSucceeds(input.worktree, ['merge-base', '--is-ancestor', input.sha, 'HEAD']);
  if (!contained) await git(input.worktree, ['merge', '--ff-only', '--quiet', input.sha]);
  const branch = (await git(input.worktree, ['symbolic-ref', '--quiet', 'HEAD']).catch(() => '')).trim();
  if (branch) await pushTracked(input.worktree, branch);
  return { headSha: (await git(input.worktree, ['rev-parse', 'HEAD'])).trim() };
}
