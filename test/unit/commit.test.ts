/**
 * The task's commit (the `checkpoint` activity, a historical name): a task marked succeeded must
 * have produced its commit on the task branch.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createActivities } from '../../src/activities';
import { git, makeRepo, tempDir } from '../helpers/git';

const home = tempDir('flotilla-home-');
const acts = createActivities({ home, hostQueue: 'q@test' });
const run = <A extends unknown[], R>(fn: (...a: A) => Promise<R>, ...args: A): Promise<R> =>
  new MockActivityEnvironment().run(fn, ...args) as Promise<R>;

async function taskWorktree(taskId: string) {
  const repo = makeRepo();
  const base = git(repo, 'rev-parse', 'main');
  const wt = await run(acts.prepareWorktree, {
    missionId: 'c',
    runId: '0190cccc-bbbb-7ccc-8ddd-eeeeeeeeeeee',
    taskId,
    repo,
    baseSha: base,
    setup: [],
    copy: [],
    setupTimeoutMs: 60_000,
  });
  const input = { worktree: wt.worktree, taskId, title: 'T', branch: wt.branch, baseSha: base, exclude: [] };
  return { repo, base, wt, input };
}

test('the commit lands on the task branch and the result names it', async () => {
  const { wt, input } = await taskWorktree('ok');
  writeFileSync(path.join(wt.worktree, 'work.txt'), 'work\n');
  const r = await run(acts.checkpoint, input);
  expect(r.committed).toBe(true);
  expect(git(wt.worktree, 'rev-parse', `refs/heads/${wt.branch}`)).toBe(r.headSha);
  expect(git(wt.worktree, 'show', '--name-only', '--format=', r.headSha)).toBe('work.txt');
});

test('a commit that does not end up on the task branch fails clearly instead of reporting success', async () => {
  const { repo, base, wt, input } = await taskWorktree('moved');
  // A post-commit hook (hooks --no-verify does not skip) that puts the branch back.
  const hooks = path.join(repo, '.git', 'hooks');
  mkdirSync(hooks, { recursive: true });
  writeFileSync(path.join(hooks, 'post-commit'), `#!/bin/sh\ngit update-ref refs/heads/${wt.branch} ${base}\n`);
  chmodSync(path.join(hooks, 'post-commit'), 0o755);
  writeFileSync(path.join(wt.worktree, 'work.txt'), 'work\n');
  const err = (await run(acts.checkpoint, input).catch((e: unknown) => e)) as ApplicationFailure;
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect(err).toMatchObject({ type: 'CommitMissing', nonRetryable: true });
  expect(err.message).toMatch(/the task's commit is not on flotilla\/c\/tasks\/moved/);
});
