/**
 * The task's commit (the `checkpoint` activity, a historical name): a task marked succeeded must
 * have produced its commit on the task branch.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createActivities } from '../../src/activities';
import { git, makeRepo, tempDir } from '../helpers/git';
import { runActivity, worktreeInput } from '../helpers/activities';

const home = tempDir('flotilla-home-');
const acts = createActivities({ home, hostQueue: 'q@test' });
async function taskWorktree(taskId: string) {
  const repo = makeRepo();
  const base = git(repo, 'rev-parse', 'main');
  const wt = await runActivity(
    acts.prepareWorktree,
    worktreeInput(repo, 'c', taskId, base, { runId: '0190cccc-bbbb-7ccc-8ddd-eeeeeeeeeeee' }),
  );
  const input = { worktree: wt.worktree, taskId, title: 'T', branch: wt.branch, baseSha: base, exclude: [] };
  return { repo, base, wt, input };
}

test('the commit lands on the task branch and the result names it', async () => {
  const { wt, input } = await taskWorktree('ok');
  writeFileSync(path.join(wt.worktree, 'work.txt'), 'work\n');
  const r = await runActivity(acts.checkpoint, input);
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
  const err = (await runActivity(acts.checkpoint, input).catch((e: unknown) => e)) as ApplicationFailure;
  expect(err).toBeInstanceOf(ApplicationFailure);
  expect(err).toMatchObject({ type: 'CommitMissing', nonRetryable: true });
  expect(err.message).toMatch(/the task's commit is not on flotilla\/c\/tasks\/moved/);
});

describe('what setup made is not the agent’s work', () => {
  /**
   * A task worktree whose setup, like `npm install`, creates `package-lock.json` (untracked, not
   * ignored) and rewrites the tracked `package.json`, and leaves `node_modules/` (ignored).
   */
  async function setUp(taskId: string) {
    const repo = makeRepo({ 'package.json': '{"name":"app"}\n', '.gitignore': 'node_modules/\n' });
    const base = git(repo, 'rev-parse', 'main');
    const setup = [
      ['sh', '-c', 'echo \'{"lockfileVersion":3}\' > package-lock.json'],
      [
        'sh',
        '-c',
        'printf \'{\\n  "name": "app"\\n}\\n\' > package.json; mkdir -p node_modules; echo m > node_modules/m.js',
      ],
    ];
    const wt = await runActivity(
      acts.prepareWorktree,
      worktreeInput(repo, 'c', taskId, base, { runId: '0190cccc-bbbb-7ccc-8ddd-eeeeeeeeeeee', setup }),
    );
    const input = { worktree: wt.worktree, taskId, title: 'T', branch: wt.branch, baseSha: base, exclude: [] };
    return { repo, base, wt, input };
  }
  const filesOf = (dir: string, sha: string): string[] =>
    git(dir, 'show', '--name-only', '--format=', sha).split('\n').filter(Boolean).sort();

  test('the commit holds only what the agent added, not the lock file setup created or the file it rewrote', async () => {
    const { wt, input } = await setUp('setup-only');
    writeFileSync(path.join(wt.worktree, 'test.js'), 'test\n');
    const r = await runActivity(acts.checkpoint, input);
    expect(r.committed).toBe(true);
    expect(filesOf(wt.worktree, r.headSha)).toEqual(['test.js']);
    expect(r.diffstat).toEqual({ files: 1, insertions: 1, deletions: 0 });
    // Setup's products stay in the worktree, uncommitted, for the gate and the next iteration.
    expect(git(wt.worktree, 'status', '--porcelain')).toBe(' M package.json\n?? package-lock.json'.trim());
    // The next iteration's commit leaves them out again.
    writeFileSync(path.join(wt.worktree, 'test2.js'), 'test2\n');
    const r2 = await runActivity(acts.checkpoint, input);
    expect(filesOf(wt.worktree, r2.headSha)).toEqual(['test2.js']);
  });

  test('a file setup made that the agent then changed is the agent’s work and is committed', async () => {
    const { wt, input } = await setUp('agent-edits');
    writeFileSync(path.join(wt.worktree, 'test.js'), 'test\n');
    writeFileSync(path.join(wt.worktree, 'package-lock.json'), '{"lockfileVersion":3,"edited":true}\n');
    const r = await runActivity(acts.checkpoint, input);
    expect(filesOf(wt.worktree, r.headSha)).toEqual(['package-lock.json', 'test.js']);
    expect(git(wt.worktree, 'show', `${r.headSha}:package-lock.json`)).toBe('{"lockfileVersion":3,"edited":true}');
    // package.json, which only setup rewrote, keeps its content from before setup.
    expect(git(wt.worktree, 'show', `${r.headSha}:package.json`)).toBe('{"name":"app"}');
  });

  test('a setup file the agent committed itself stays committed (Flotilla’s commit does not take it back)', async () => {
    const { wt, input } = await setUp('agent-commits');
    git(wt.worktree, 'add', 'package-lock.json');
    git(wt.worktree, 'commit', '--quiet', '-m', 'agent: lock file');
    writeFileSync(path.join(wt.worktree, 'test.js'), 'test\n');
    const r = await runActivity(acts.checkpoint, input);
    expect(filesOf(wt.worktree, r.headSha)).toEqual(['test.js']);
    expect(git(wt.worktree, 'show', `${r.headSha}:package-lock.json`)).toBe('{"lockfileVersion":3}');
  });

  test('with nothing of the agent’s, nothing is committed', async () => {
    const { wt, input } = await setUp('nothing');
    const r = await runActivity(acts.checkpoint, input);
    expect(r.committed).toBe(false);
    expect(r.diffstat.files).toBe(0);
    expect(existsSync(path.join(wt.worktree, 'package-lock.json'))).toBe(true);
  });

  test('the WIP checkpoint agrees with the commit: it leaves setup’s files out too', async () => {
    const { repo, wt } = await setUp('snap');
    writeFileSync(path.join(wt.worktree, 'test.js'), 'test\n');
    const s = await runActivity(acts.snapshot, {
      worktree: wt.worktree,
      repo,
      missionId: 'c',
      taskId: 'snap',
      exclude: [],
      note: '[test]',
    });
    expect(s.sha).not.toBeNull();
    expect(git(repo, 'diff', '--name-only', `${s.sha}^`, s.sha!)).toBe('test.js');
  });
});
