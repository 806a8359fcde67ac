/**
 * The locks a killed git leaves (a worker SIGKILLed with its git children): removed only when
 * nothing may still hold them, so that retries do not fail on them forever and a live git is
 * never robbed of its lock. The merge queue's `verifyAt` removes them before it checks out.
 */
import { copyFileSync, existsSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { removeStaleLocks } from '../../src/git/git-locks';
import { git, makeRepo, tempDir } from '../helpers/git';

/** A worktree of a new repository with its HEAD detached (as the queue's integration worktree). */
function detachedWorktree(): { worktree: string; gitDir: string } {
  const repo = makeRepo({ 'f.txt': 'base\n' });
  const worktree = path.join(tempDir('flotilla-locks-'), 'integration');
  git(repo, 'worktree', 'add', '--quiet', '--detach', worktree, 'main');
  return { worktree, gitDir: path.resolve(worktree, git(worktree, 'rev-parse', '--git-dir')) };
}

const age = (file: string, ms: number): void => {
  const then = new Date(Date.now() - ms);
  utimesSync(file, then, then);
};

test('a stale index.lock and merge-file leftovers of a killed git are removed; a fresh lock is left alone', async () => {
  const { worktree, gitDir } = detachedWorktree();
  const lock = path.join(gitDir, 'index.lock');
  const leftover = path.join(worktree, '.merge_file_a1B2c3');
  copyFileSync(path.join(gitDir, 'index'), lock);
  writeFileSync(leftover, 'ours\n');

  // Fresh: a git may be writing it right now; git itself then refuses to work until it is gone.
  expect(await removeStaleLocks(worktree, gitDir)).toEqual([]);
  expect(existsSync(lock)).toBe(true);
  expect(() => git(worktree, 'update-index', '--refresh')).toThrow(/index\.lock/);

  // One of them old is not enough: every lock found must be old.
  age(lock, 5 * 60_000);
  expect(await removeStaleLocks(worktree, gitDir)).toEqual([]);

  // All old, and no git process works in the worktree: their owner is dead.
  age(leftover, 5 * 60_000);
  expect((await removeStaleLocks(worktree, gitDir)).sort()).toEqual([lock, leftover].sort());
  expect(existsSync(lock)).toBe(false);
  expect(existsSync(leftover)).toBe(false);
  expect(() => git(worktree, 'update-index', '--refresh')).not.toThrow();
});

test("on a branch, the branch's ref lock counts too", async () => {
  const repo = makeRepo();
  const own = path.join(repo, '.git');
  const refLock = path.join(repo, '.git', 'refs', 'heads', 'main.lock');
  writeFileSync(refLock, '');
  age(refLock, 5 * 60_000);
  expect(await removeStaleLocks(repo, own)).toEqual([refLock]);
  expect(existsSync(refLock)).toBe(false);
});
