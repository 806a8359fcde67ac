/**
 * Worktree folders are per mission run, keyed by the whole run id. Run ids are time-ordered
 * (UUIDv7): two runs of one mission id started within ~65 s share their first 8 hex digits, so a
 * shorter key would let a re-run find the previous run's worktrees (setup skipped, worktrees moved
 * aside, logs mixed).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createActivities } from '../../src/activities';
import { runKey } from '../../src/git/worktree';
import { git, makeRepo, tempDir } from '../helpers/git';
import { runActivity } from '../helpers/activities';

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
  const a = await runActivity(acts.prepareWorktree, input(repo, first));
  // The first run's branches are deleted (say by `flotilla clean`); its folder stays.
  git(repo, 'worktree', 'remove', '--force', a.worktree);
  mkdirSync(a.worktree, { recursive: true });
  writeFileSync(path.join(a.worktree, 'old-run.txt'), 'x');
  git(repo, 'branch', '-D', a.branch);
  const b = await runActivity(acts.prepareWorktree, input(repo, second));
  expect(b.worktree).not.toBe(a.worktree);
  expect(b.created).toBe(true);
  expect(existsSync(path.join(b.worktree, 'setup-count.txt'))).toBe(true);
  // The first run's folder is untouched, not moved aside.
  expect(existsSync(path.join(a.worktree, 'old-run.txt'))).toBe(true);
  expect(runKey(second)).toBe(second.replace(/-/g, ''));
});
