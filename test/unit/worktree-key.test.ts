/**
 * Worktree folders are per mission run. Run ids are time-ordered (UUIDv7): two runs of one mission
 * id started within ~65 s share their first 8 hex digits, the folder key before, so a re-run found
 * the previous run's worktrees (setup skipped, worktrees moved aside, logs mixed).
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createActivities } from '../../src/activities';
import { runKey, taskWorktreePath } from '../../src/activities/worktree';
import { git, makeRepo, tempDir } from '../helpers/git';

const run = <A extends unknown[], R>(fn: (...a: A) => Promise<R>, ...args: A): Promise<R> =>
  new MockActivityEnvironment().run(fn, ...args) as Promise<R>;

// Two runs of one mission id, a second apart: the same first 8 hex digits.
const first = '019ad5f0-1a2b-7c3d-8e4f-0123456789ab';
const second = '019ad5f0-1e00-7aaa-9bbb-ba9876543210';

function input(repo: string, runId: string, taskId = 't') {
  return {
    missionId: 'again',
    runId,
    taskId,
    repo,
    baseSha: git(repo, 'rev-parse', 'main'),
    setup: ['echo ran >> setup-count.txt'],
    copy: [],
    setupTimeoutMs: 60_000,
  };
}

test('a re-run of a mission id gets its own worktree folder, and its setup runs', async () => {
  const home = tempDir('flotilla-home-');
  const acts = createActivities({ home, hostQueue: 'q@test' });
  const repo = makeRepo();
  const a = await run(acts.prepareWorktree, input(repo, first));
  // The first run's branches are deleted (say by `flotilla clean`); its folder stays.
  git(repo, 'worktree', 'remove', '--force', a.worktree);
  mkdirSync(a.worktree, { recursive: true });
  writeFileSync(path.join(a.worktree, 'old-run.txt'), 'x');
  git(repo, 'branch', '-D', a.branch);
  const b = await run(acts.prepareWorktree, input(repo, second));
  expect(b.worktree).not.toBe(a.worktree);
  expect(b.created).toBe(true);
  expect(existsSync(path.join(b.worktree, 'setup-count.txt'))).toBe(true);
  // The first run's folder is untouched, not moved aside.
  expect(existsSync(path.join(a.worktree, 'old-run.txt'))).toBe(true);
  expect(runKey(home, 'again', second)).toBe(second.replace(/-/g, ''));
});

test('a run whose worktrees are in the old 8-hex folder (upgraded mid-flight) keeps using them', async () => {
  const home = tempDir('flotilla-home-');
  const repo = makeRepo();
  // What the previous Flotilla made: the folder keyed by the first 8 hex digits of the run id.
  const made = await run(createActivities({ home, hostQueue: 'q@test' }).prepareWorktree, input(repo, first));
  const legacyRoot = path.join(home, 'worktrees', 'again', first.replace(/-/g, '').slice(0, 8));
  mkdirSync(path.join(legacyRoot, 'tasks'), { recursive: true });
  const legacyWt = path.join(legacyRoot, 'tasks', 't');
  renameSync(made.worktree, legacyWt);
  git(repo, 'worktree', 'repair', legacyWt);
  renameSync(path.join(home, 'worktrees', 'again', first.replace(/-/g, '')), path.join(home, 'stash'));
  // A fresh process (no cached keys) finds the old folder: its branch is owned by this run.
  jest.isolateModules(() => {
    const { taskWorktreePath: fresh } = jest.requireActual('../../src/activities/worktree');
    expect(fresh(home, 'again', first, 't')).toBe(legacyWt);
    // Another run of the same id (same 8-hex prefix) does not own it.
    expect(fresh(home, 'again', second, 't')).not.toBe(path.join(legacyRoot, 'tasks', 't'));
  });
  expect(taskWorktreePath(home, 'again', second, 'x')).toContain(second.replace(/-/g, ''));
});
