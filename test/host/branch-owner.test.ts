/**
 * A branch Flotilla makes and its owner record (src/git/branch-owner.ts) are written together, in
 * one `git update-ref --stdin` transaction: no branch without its owner, and no owner recorded
 * over a branch someone else made.
 */
import { branchOwner, ownerRef } from '../../src/git/branch-owner';
import { withRepoLock } from '../../src/git/repo-lock';
import { ensureBranch } from '../../src/git/worktree-git';
import { git, makeRepo } from '../helpers/git';

test('a new branch is made with its owner; a second branch of the run reuses the owner blob', async () => {
  const repo = makeRepo();
  const base = git(repo, 'rev-parse', 'HEAD');
  await withRepoLock(repo, async (hold) => {
    await ensureBranch(repo, 'flotilla/m/tasks/a', base, 'run-1', hold, null);
    await ensureBranch(repo, 'flotilla/m/tasks/b', base, 'run-1', hold, null);
  });
  expect(git(repo, 'rev-parse', 'refs/heads/flotilla/m/tasks/a')).toBe(base);
  expect(await branchOwner(repo, 'flotilla/m/tasks/a')).toBe('run-1');
  expect(await branchOwner(repo, 'flotilla/m/tasks/b')).toBe('run-1');
  expect(git(repo, 'rev-parse', ownerRef('flotilla/m/tasks/a'))).toBe(
    git(repo, 'rev-parse', ownerRef('flotilla/m/tasks/b')),
  );
  // The branch's reflog says who made it.
  expect(git(repo, 'reflog', 'show', '--format=%gs', 'refs/heads/flotilla/m/tasks/a')).toBe(
    'flotilla: branch flotilla/m/tasks/a',
  );
});

test('a branch someone made after it was read as absent is not taken over: no owner is recorded on it', async () => {
  const repo = makeRepo();
  const base = git(repo, 'rev-parse', 'HEAD');
  // Made by a person between the read (known: null) and the creation.
  git(repo, 'branch', 'flotilla/m/tasks/t', base);
  await expect(
    withRepoLock(repo, (hold) => ensureBranch(repo, 'flotilla/m/tasks/t', base, 'run-1', hold, null)),
  ).rejects.toThrow(/reference already exists/);
  expect(await branchOwner(repo, 'flotilla/m/tasks/t')).toBeNull();
});

test('a base that is no commit in the repository is refused by name', async () => {
  const repo = makeRepo();
  const missing = 'f'.repeat(40);
  await expect(
    withRepoLock(repo, (hold) => ensureBranch(repo, 'flotilla/m/tasks/t', missing, 'run-1', hold, null)),
  ).rejects.toThrow(`cannot create branch flotilla/m/tasks/t: ${missing} is not a commit`);
  expect(await branchOwner(repo, 'flotilla/m/tasks/t')).toBeNull();
});
