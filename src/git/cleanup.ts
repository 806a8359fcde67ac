/**
 * Removing a merged task's worktree, only when nothing in it can be lost. The task branch and its
 * checkpoint refs hold the work and are never touched; the worktree is only a checkout of them,
 * plus what setup made (ignored files such as node_modules) and the mission's `copy` files.
 *
 * What stays next to the worktree is not removed: `<worktree>.verify.log` (the task verify's
 * output) and the task's state folder `runs/<mission>/<task>/worktree-<runKey>/` (setup.log and
 * the `setup.done` marker, which `ensureTaskWorktree` discards itself when it re-creates the
 * worktree) are logs and evidence, not cache, and sit beside the transcripts, which must stay.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { git } from './git';
import { gitDirsOf } from './git-dirs';
import { withRepoLock } from './repo-lock';
import { clonePath } from './origin';
import type { RemoveTaskWorktreeInput, RemoveTaskWorktreeResult, RemoveTaskWorktreesInput } from './merge-queue-types';
import { paths, taskWorktreePath } from './worktree-layout';
import { finishRemoval, removalStarted, removeWorktree } from './worktree-removal';
import { whyKeepWorktree } from './worktree-safety';

/**
 * Removes the worktree of task `input.taskId` (at `taskWorktreePath`, worktree-layout.ts) when
 * removing it loses nothing (`whyKeepWorktree`, worktree-safety.ts: no live agent, no git
 * operation in progress, HEAD held by a ref, no changes), under the repository lock: the decision
 * is recorded, identical `copy` files and setup's unchanged leftovers are cleared, then `git
 * worktree remove` without `--force` (which deletes ignored files with it and refuses a dirty,
 * locked or submodule-holding worktree on its own as well): worktree-removal.ts. A removal that
 * a crash cut short is finished by the retry (`finishRemoval`), not judged again.
 * Idempotent: a worktree that is already gone is `{removed: true}` (it is not there, which is what
 * the caller wants; stale administrative files are pruned). A directory at that path that is not
 * a worktree is kept, never deleted: it may hold someone's work.
 * Never deletes the task branch, its checkpoint refs, transcripts or logs. With `input.origin`,
 * in this host's clone of it (the task's host, for a mission whose tasks run on any host); no
 * clone here is `{removed: true}`.
 * @returns `{removed: true, kept: null}`, or `{removed: false, kept: '<reason with the first paths>'}`
 * @throws GitError when git fails
 */
export async function removeTaskWorktree(
  home: string,
  input: RemoveTaskWorktreeInput,
): Promise<RemoveTaskWorktreeResult> {
  if (input.origin) {
    const repo = clonePath(home, input.origin);
    if (!existsSync(path.join(repo, '.git'))) return { removed: true, kept: null };
    input = { ...input, repo };
  }
  const wt = taskWorktreePath(home, input.missionId, input.runId, input.taskId);
  const pidFiles = [path.join(paths.runDir(home, input.missionId, input.taskId), 'agent.pid')];
  const result = (kept: string | null): RemoveTaskWorktreeResult => ({ removed: kept === null, kept });
  return withRepoLock(input.repo, async () => {
    // A removal begun before a crash is finished, not judged again (worktree-removal.ts).
    if (removalStarted(wt)) return result(await finishRemoval(input.repo, wt, pidFiles));
    if (!existsSync(wt)) {
      await git(input.repo, ['worktree', 'prune']);
      return { removed: true, kept: null };
    }
    if (!(await isWorktreeAt(wt)))
      return { removed: false, kept: `${wt} is not a git worktree; left for a person to look at` };
    const verdict = await whyKeepWorktree({ repo: input.repo, worktree: wt, copy: input.copy, pidFiles });
    if (verdict.reason) return { removed: false, kept: verdict.reason };
    return result(await removeWorktree(input.repo, wt, verdict));
  });
}

/**
 * `removeTaskWorktree` for each of `input.tasks` in turn (each under the repository lock of its
 * own, so a merge need not wait for them all): a batch's merged worktrees in one call. Every task
 * is tried; the first error is thrown after the others were tried (the caller retries the whole
 * call, and a worktree already removed is `{removed: true}` again).
 * @returns each task's result, in order
 * @throws GitError when git fails for one of them
 */
export async function removeTaskWorktrees(
  home: string,
  input: RemoveTaskWorktreesInput,
): Promise<RemoveTaskWorktreeResult[]> {
  const results: RemoveTaskWorktreeResult[] = [];
  let failure: unknown;
  for (const task of input.tasks) {
    try {
      results.push(await removeTaskWorktree(home, task));
    } catch (err) {
      failure ??= err;
      results.push({ removed: false, kept: null });
    }
  }
  if (failure !== undefined) throw failure;
  return results;
}

/**
 * Whether `wt` is the top of a git worktree. Without starting git when its `.git` file names a
 * linked worktree's git directory whose `gitdir` file points back at it (how `git worktree add`
 * links the two, gitrepository-layout(5)); otherwise `git rev-parse --show-toplevel` answers.
 */
async function isWorktreeAt(wt: string): Promise<boolean> {
  if (!existsSync(path.join(wt, '.git'))) return false;
  const dirs = gitDirsOf(wt);
  if (dirs && dirs.own !== dirs.common) {
    try {
      const back = readFileSync(path.join(dirs.own, 'gitdir'), 'utf8').trim();
      if (existsSync(path.join(dirs.own, 'HEAD')) && path.resolve(dirs.own, back) === path.resolve(wt, '.git'))
        return true;
    } catch {
      // No back link: ask git below.
    }
  }
  const top = (await git(wt, ['rev-parse', '--show-toplevel']).catch(() => '')).trim();
  return top !== '' && path.resolve(top) === path.resolve(wt);
}
