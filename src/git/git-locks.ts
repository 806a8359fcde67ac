/**
 * Git lock files a killed git leaves behind (a worker crash kills its git children): found and
 * removed, so that every retry does not fail on them forever, but only when nothing may still
 * hold them. Used by the merge queue's `verifyAt` in the integration worktree (merge-queue.ts), the task's commit
 * and the resolver's commit.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { git } from './git';
import { gitDirsOf } from './git-dirs';

/**
 * A git lock file (`index.lock`, `HEAD.lock`, the checked-out branch's ref lock) older than this,
 * while no git process works in the worktree, was left by a git that was killed (a worker crash
 * kills its git children): it is removed, or every retry would fail on it forever. ms.
 */
export const STALE_GIT_LOCK_MS = 30_000;

/**
 * PIDs of git processes working in `dir` (their cwd is in it), read from /proc; undefined where
 * there is no /proc to read (then only a lock's age decides).
 */
export function gitProcessesIn(dir: string): number[] | undefined {
  if (!existsSync('/proc/self/cwd')) return undefined;
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/comm`, 'utf8').startsWith('git')) continue;
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (cwd === dir || cwd.startsWith(dir + path.sep)) found.push(Number(entry));
    } catch {
      // Exited, or not ours to read.
    }
  }
  return found;
}

/**
 * Removes the git locks a killed git (a worker SIGKILLed with its git children) left in a
 * worktree: `index.lock` and `HEAD.lock` in its own git directory, the checked-out branch's ref
 * lock, and the temporary `.merge_file_*` inputs of a merge driver it ran. Only when no git
 * process works in the worktree (read from /proc; where /proc cannot tell, only with a minimum
 * age) and all are older than `minAgeMs` (default {@link STALE_GIT_LOCK_MS}; 0 where nothing of
 * Flotilla's can be working there, e.g. the task's own commit after its agent ended). A lock
 * that may still be held is left alone: the step then fails on it and Temporal retries it later.
 * @returns the lock files removed
 */
export async function removeStaleLocks(
  worktree: string,
  ownGitDir: string,
  minAgeMs = STALE_GIT_LOCK_MS,
  /** What the caller has read already: HEAD's full ref name (`''`: detached), saving a git process. */
  known: { headRef?: string } = {},
): Promise<string[]> {
  const common =
    gitDirsOf(worktree)?.common ??
    path.resolve(worktree, (await git(worktree, ['rev-parse', '--git-common-dir'])).trim());
  // The checked-out branch's ref lock; none on a detached HEAD (the queue's integration worktree).
  const head = known.headRef ?? (await git(worktree, ['symbolic-ref', '-q', 'HEAD']).catch(() => '')).trim();
  const locks = [path.join(ownGitDir, 'index.lock'), path.join(ownGitDir, 'HEAD.lock')];
  if (head) locks.push(path.join(common, `${head}.lock`));
  // The temporary files a killed merge driver's git had made (`git merge-file` inputs).
  for (const f of readdirSync(worktree)) if (/^\.merge_file_\w{6}$/.test(f)) locks.push(path.join(worktree, f));
  const present = locks.filter((f) => existsSync(f));
  if (present.length === 0) return [];
  const now = Date.now();
  if (present.some((f) => now - statSync(f).mtimeMs < minAgeMs)) return [];
  const live = gitProcessesIn(path.resolve(worktree));
  if (live ? live.length > 0 : minAgeMs <= 0) return [];
  for (const f of present) rmSync(f, { force: true });
  return present;
}
