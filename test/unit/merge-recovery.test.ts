/**
 * mergeBranch after a worker was killed in the middle of a merge (the crash matrix,
 * test/faults/worker-kill-merge.test.ts, does it with real SIGKILLs): what the killed git left in
 * the integration worktree is undone only when it is provably the merge's own doing, and the
 * merge then happens exactly once.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { copyFileSync, existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createActivities } from '../../src/activities';
import { git, makeRepo, tempDir } from '../helpers/git';

const home = tempDir('flotilla-home-');
const acts = createActivities({ home, hostQueue: 'q@test' });
const runId = '0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee';

function mock<A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  return new MockActivityEnvironment().run(fn, ...args) as Promise<R>;
}

/** An integration worktree and a task branch that changes `f.txt` and adds `dir/new.txt`. */
async function setup(missionId: string) {
  const repo = makeRepo({ 'f.txt': 'base\n', 'keep.txt': 'keep\n' });
  const integ = await mock(acts.prepareIntegration, {
    missionId,
    runId,
    repo,
    baseBranch: 'main',
    baseSha: null,
    setup: [],
    copy: [],
    setupTimeoutMs: 60_000,
  });
  const branch = `flotilla/${missionId}/tasks/t`;
  git(repo, 'branch', branch, 'main');
  const side = tempDir('side-');
  git(repo, 'worktree', 'add', '--quiet', side, branch);
  writeFileSync(path.join(side, 'f.txt'), 'task\n');
  mkdirSync(path.join(side, 'dir'));
  writeFileSync(path.join(side, 'dir', 'new.txt'), 'new\n');
  git(side, 'add', '--all');
  git(side, 'commit', '--quiet', '-m', 'task work');
  const input = { worktree: integ.worktree, repo, branch, taskId: 't', title: 'T' };
  const gitDir = path.resolve(integ.worktree, git(integ.worktree, 'rev-parse', '--git-dir'));
  return { repo, integ, branch, input, gitDir };
}

const merges = (repo: string, branch: string): string[] =>
  git(repo, 'log', '--merges', '--format=%s', branch).split('\n').filter(Boolean);

test('a merge killed before its commit (no MERGE_HEAD, the result staged) is undone and done once', async () => {
  const { repo, integ, branch, input, gitDir } = await setup('killed-hook');
  // The state `git merge` is in while its pre-merge-commit hook runs: index and files hold the
  // merge's result, HEAD has not moved, and there is no MERGE_HEAD yet.
  const tree = git(integ.worktree, 'merge-tree', '--write-tree', 'HEAD', branch);
  git(integ.worktree, 'read-tree', '-m', '-u', 'HEAD', tree);
  expect(existsSync(path.join(gitDir, 'MERGE_HEAD'))).toBe(false);
  expect(git(integ.worktree, 'status', '--porcelain')).not.toBe('');
  const r = await mock(acts.mergeBranch, input);
  expect(r).toMatchObject({ status: 'merged', alreadyMerged: false });
  expect(merges(repo, integ.branch)).toEqual(['flotilla: merge t: T']);
  expect(git(integ.worktree, 'status', '--porcelain')).toBe('');
  expect(readFileSync(path.join(integ.worktree, 'dir', 'new.txt'), 'utf8')).toBe('new\n');
});

test('a merge killed in its checkout (files half written, index untouched) is undone and done once', async () => {
  const { repo, integ, input } = await setup('killed-checkout');
  // Only some of the merge's files reached the disk.
  mkdirSync(path.join(integ.worktree, 'dir'));
  writeFileSync(path.join(integ.worktree, 'dir', 'new.txt'), 'new\n');
  writeFileSync(path.join(integ.worktree, 'f.txt'), 'task\n');
  const r = await mock(acts.mergeBranch, input);
  expect(r).toMatchObject({ status: 'merged', alreadyMerged: false });
  expect(merges(repo, integ.branch)).toHaveLength(1);
  expect(git(integ.worktree, 'status', '--porcelain')).toBe('');
});

test('a stale index.lock of a killed git is removed; a fresh one is left alone', async () => {
  const { repo, integ, input, gitDir } = await setup('stale-lock');
  const lock = path.join(gitDir, 'index.lock');
  copyFileSync(path.join(gitDir, 'index'), lock);
  // Fresh: a git may be writing it right now. The merge fails (and Temporal retries it later).
  await expect(mock(acts.mergeBranch, input)).rejects.toThrow(/index\.lock/);
  expect(existsSync(lock)).toBe(true);
  // Old, and no git process works in the worktree: its owner is dead.
  const old = new Date(Date.now() - 5 * 60_000);
  utimesSync(lock, old, old);
  const r = await mock(acts.mergeBranch, input);
  expect(r).toMatchObject({ status: 'merged', alreadyMerged: false });
  expect(existsSync(lock)).toBe(false);
  expect(merges(repo, integ.branch)).toHaveLength(1);
});

test("someone's own uncommitted edit to a file the merge changes is never discarded", async () => {
  const { repo, integ, input } = await setup('own-edit');
  writeFileSync(path.join(integ.worktree, 'f.txt'), 'a human fix\n');
  await expect(mock(acts.mergeBranch, input)).rejects.toThrow(/f\.txt/);
  expect(readFileSync(path.join(integ.worktree, 'f.txt'), 'utf8')).toBe('a human fix\n');
  expect(merges(repo, integ.branch)).toHaveLength(0);
});
