/**
 * Adding a worktree so that a crash in the middle never leaves one that is then reused half made.
 *
 * `git worktree add` (builtin/worktree.c, git 2.39) registers the worktree first: its own git
 * directory `.git/worktrees/<name>/` with `locked` ("initializing"), `HEAD`, `gitdir` and
 * `commondir`, and the new folder's `.git` file. Then a child git checks it out (`git reset
 * --hard`: the files, then the index through `index.lock`), and the `locked` file goes last. A git
 * killed in between (a SIGKILLed worker takes its git children with it) leaves the worktree
 * registered, locked, partly checked out, with no index and a leftover `index.lock`: to the quick
 * checks (its `.git` file, HEAD on the branch) a healthy worktree, in which an agent would work on
 * a partial tree and every commit would fail on the lock.
 *
 * So Flotilla writes a marker file (`worktree.adding`, in the worktree's state folder outside it)
 * right before `git worktree add` and deletes it once the add succeeded. A half-made worktree
 * with the marker is one whose add Flotilla started and git never finished: no agent, setup or
 * person has used it, and it is removed and added again. One without the marker (in doubt) is
 * moved aside, never deleted.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { git, GitError, gitRun } from './git';
import { gitDirsOf } from './git-dirs';
import { hostLog } from './log';

/** The marker's file name, in the state folder of the worktree being added (see the file's comment). */
export const ADDING_MARKER = 'worktree.adding';

/**
 * The own git directory of the linked worktree at `dir` (`.git/worktrees/<name>`), read from its
 * `.git` file (`gitdir: <path>`, gitrepository-layout(5)); null when there is no such file or
 * the directory it names is gone.
 */
export function ownGitDir(dir: string): string | null {
  const dirs = gitDirsOf(dir);
  return dirs && dirs.own !== dirs.common ? dirs.own : null;
}

/**
 * Why the worktree at `dir` is one `git worktree add` did not finish, or null (also for a folder
 * that is no linked worktree at all: the caller's own checks move that aside). Signs, in its own
 * git directory: `locked` holding git's reason while it adds ("initializing"; git may translate
 * it, hence also:) no `index` (git writes one for every checkout, even of an empty tree).
 */
export function unfinishedAdd(dir: string): string | null {
  const own = ownGitDir(dir);
  if (!own) return null;
  let reason: string | null = null;
  try {
    reason = readFileSync(path.join(own, 'locked'), 'utf8').trim();
  } catch {
    // Not locked.
  }
  if (reason === 'initializing') return '`git worktree add` did not finish (the worktree is locked "initializing")';
  if (!existsSync(path.join(own, 'index'))) return '`git worktree add` did not finish (the worktree has no index)';
  return null;
}

/**
 * Moves whatever is at `dir` aside to `<dir>.stale-<epoch ms>` (never deleted: it may hold
 * someone's work) and drops git's registration of a worktree there: unlocked (a locked one is
 * never pruned, and `git worktree add` refuses a "missing but locked" path) and pruned.
 * @returns where it went
 */
export async function moveAside(repo: string, dir: string): Promise<string> {
  const aside = `${dir}.stale-${Date.now()}`;
  renameSync(dir, aside);
  await gitRun(repo, ['worktree', 'unlock', dir]);
  await git(repo, ['worktree', 'prune']);
  return aside;
}

/**
 * Frees `dir` for a new `git worktree add`: a worktree whose add Flotilla started and git never
 * finished (the marker `adding` is there, see the file's comment) is removed with `git worktree
 * remove --force --force` (which takes a locked one); anything else is moved aside
 * ({@link moveAside}).
 * @throws GitError when git fails
 */
export async function clearForAdd(repo: string, dir: string, adding: string): Promise<void> {
  const unfinished = unfinishedAdd(dir);
  if (unfinished && existsSync(adding)) {
    const r = await gitRun(repo, ['worktree', 'remove', '--force', '--force', dir]);
    if (r.exitCode === 0 && !existsSync(dir)) {
      hostLog.warn('removed a worktree whose `git worktree add` was cut short', { worktree: dir, why: unfinished });
      return;
    }
  }
  const aside = await moveAside(repo, dir);
  hostLog.warn('moved aside what was in the way of a new worktree', { worktree: dir, aside, why: unfinished });
}

/**
 * `git worktree add --quiet <args>` (whose folder is `dir`), marked: `adding` is written before
 * (its folder made when missing) and deleted once git succeeded. A registration git kept of a
 * folder that is gone is pruned when git refuses the add for it (then the add runs again); one
 * left locked by an add that the marker says Flotilla started is unlocked first for that.
 * @throws GitError when git fails (the marker stays: the next call clears what git left)
 */
export async function addWorktree(repo: string, dir: string, args: string[], adding: string): Promise<void> {
  if (!existsSync(dir) && existsSync(adding)) await gitRun(repo, ['worktree', 'unlock', dir]);
  mkdirSync(path.dirname(dir), { recursive: true });
  mkdirSync(path.dirname(adding), { recursive: true });
  writeFileSync(adding, `${dir}\n`);
  // `git worktree prune` only when git refuses the path for a registration whose folder is gone
  // ("a missing but already registered worktree"), not before every add: one process less a task.
  const add = ['worktree', 'add', '--quiet', ...args];
  const first = await gitRun(repo, add);
  if (first.exitCode !== 0) {
    if (!/already registered|prune/.test(first.output)) throw new GitError(add, repo, first.exitCode, first.output);
    await git(repo, ['worktree', 'prune']);
    await git(repo, add);
  }
  rmSync(adding, { force: true });
}
