/**
 * Checkpoints that never disturb the agent (snapshots under refs/flotilla/checkpoints/…) and
 * worktrees rebuilt from the task branch plus the latest checkpoint, against real git
 * repositories and real processes.
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import execa from 'execa';
import { existsSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createActivities } from '../../src/activities';
import type { AgentFailureDetails } from '../../src/activities/agent';
import { snapshotWorktree } from '../../src/git/checkpoint';
import { groupAlive } from '../../src/agents/process';
import { ensureTaskWorktree, runKey, taskWorktreeNeedsRebuild, type TaskWorktreeInput } from '../../src/git/worktree';
import { names } from '../../src/mission/types';
import { git, makeRepo, tempDir } from '../helpers/git';
import { bashAgent } from '../helpers/missions';
import { until } from '../helpers/poll';
import { runActivity } from '../helpers/activities';

const home = tempDir('flotilla-home-');
const acts = createActivities({ home, hostQueue: 'q@test' });
const runId = '0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee';

const read = (dir: string, rel: string): string => readFileSync(path.join(dir, rel), 'utf8');
const write = (dir: string, rel: string, content: string): void => {
  mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  writeFileSync(path.join(dir, rel), content);
};
/** `git ls-tree -r` of a commit as path -> content. */
function treeOf(repo: string, sha: string): Record<string, string> {
  const files = git(repo, 'ls-tree', '-r', '--name-only', sha).split('\n').filter(Boolean);
  return Object.fromEntries(files.map((f) => [f, git(repo, 'show', `${sha}:${f}`)]));
}
const reflogLength = (repo: string, ref: string): number =>
  git(repo, 'reflog', 'show', '--format=%H', ref).split('\n').filter(Boolean).length;

/** A task worktree (through ensureTaskWorktree) with `files` committed on main. */
async function taskWorktree(files: Record<string, string>, extra: Partial<TaskWorktreeInput> = {}) {
  const repo = makeRepo(files);
  const input: TaskWorktreeInput = {
    missionId: 'm',
    runId,
    taskId: `t${Math.random().toString(36).slice(2, 8)}`,
    repo,
    baseSha: git(repo, 'rev-parse', 'main'),
    setup: [],
    copy: [],
    setupTimeoutMs: 60_000,
    ...extra,
  };
  const wt = await ensureTaskWorktree(home, input);
  return { repo, input, wt, ref: names.checkpointRef(input.missionId, input.taskId) };
}

describe('snapshotWorktree', () => {
  test("records modified, staged, deleted and untracked files; not ignored ones or copy files; the agent's index, HEAD and files stay as they were", async () => {
    const { repo, wt, ref } = await taskWorktree({
      'keep.txt': 'keep\n',
      'modify.txt': 'old\n',
      'delete.txt': 'bye\n',
      '.gitignore': 'build/\n*.log\n',
    });
    const dir = wt.worktree;
    write(dir, 'modify.txt', 'new\n');
    write(dir, 'staged.txt', 'staged\n');
    git(dir, 'add', 'staged.txt');
    unlinkSync(path.join(dir, 'delete.txt'));
    write(dir, 'src/untracked.ts', 'export {};\n');
    write(dir, 'build/out.js', 'ignored\n');
    write(dir, 'debug.log', 'ignored\n');
    write(dir, '.env', 'SECRET=hunter2\n');
    write(dir, 'config/local.json', '{"token":"x"}\n');

    const status = git(dir, 'status', '--porcelain', '--untracked-files=all');
    const indexFile = path.resolve(dir, git(dir, 'rev-parse', '--git-path', 'index'));
    const indexBytes = readFileSync(indexFile);
    const head = git(dir, 'rev-parse', 'HEAD');

    const r = await snapshotWorktree({ worktree: dir, ref, exclude: ['.env', 'config/local.json'], message: 'ck 1' });

    expect(r.changed).toBe(true);
    expect(r.sha).toBe(git(repo, 'rev-parse', ref));
    expect(treeOf(repo, r.sha!)).toEqual({
      '.gitignore': 'build/\n*.log',
      'keep.txt': 'keep',
      'modify.txt': 'new',
      'staged.txt': 'staged',
      'src/untracked.ts': 'export {};',
    });
    expect(git(repo, 'log', '-1', '--format=%P %s', r.sha!)).toBe(`${head} ck 1`);
    // Nothing of the agent's moved: index bytes, HEAD, status, files.
    expect(readFileSync(indexFile).equals(indexBytes)).toBe(true);
    expect(git(dir, 'rev-parse', 'HEAD')).toBe(head);
    expect(git(dir, 'status', '--porcelain', '--untracked-files=all')).toBe(status);
    expect(git(dir, 'diff', '--cached', '--name-only')).toBe('staged.txt');
    expect(read(dir, 'modify.txt')).toBe('new\n');
    expect(existsSync(path.join(dir, 'delete.txt'))).toBe(false);
    // The task branch is untouched: the snapshot lives only under its own ref.
    expect(git(repo, 'rev-parse', wt.branch)).toBe(head);
  });

  test('an unchanged worktree makes no new commit; a change makes one, and the reflog keeps every snapshot', async () => {
    const { repo, wt, ref } = await taskWorktree({ 'a.txt': 'a\n' });
    const opts = { worktree: wt.worktree, ref, exclude: [], message: 'ck' };
    write(wt.worktree, 'b.txt', 'b\n');
    const first = await snapshotWorktree(opts);
    const again = await snapshotWorktree(opts);
    expect(again).toEqual({ sha: first.sha, changed: false });
    expect(reflogLength(repo, ref)).toBe(1);

    write(wt.worktree, 'b.txt', 'b2\n');
    const second = await snapshotWorktree(opts);
    expect(second.changed).toBe(true);
    expect(second.sha).not.toBe(first.sha);
    expect(git(repo, 'reflog', 'show', '--format=%H', ref).split('\n')).toEqual([second.sha, first.sha]);

    // Same files on a new HEAD (the agent committed them): a new snapshot on the new parent.
    git(wt.worktree, 'add', '--all');
    git(wt.worktree, 'commit', '--quiet', '-m', 'agent commit');
    const third = await snapshotWorktree(opts);
    expect(third.changed).toBe(true);
    expect(git(repo, 'rev-parse', `${third.sha}^1`)).toBe(git(wt.worktree, 'rev-parse', 'HEAD'));
    expect(reflogLength(repo, ref)).toBe(3);
  });

  test('a copy file the agent staged stays out of the snapshot', async () => {
    const { repo, wt, ref } = await taskWorktree({ 'a.txt': 'a\n' });
    write(wt.worktree, '.env', 'SECRET=1\n');
    git(wt.worktree, 'add', '-f', '.env');
    write(wt.worktree, 'b.txt', 'b\n');
    const r = await snapshotWorktree({ worktree: wt.worktree, ref, exclude: ['.env'], message: 'ck' });
    expect(Object.keys(treeOf(repo, r.sha!)).sort()).toEqual(['a.txt', 'b.txt']);
    expect(git(wt.worktree, 'diff', '--cached', '--name-only')).toBe('.env');
  });

  test('no checkpoint is made while the worktree holds nothing beyond its branch', async () => {
    const { repo, wt, ref } = await taskWorktree({ 'a.txt': 'a\n' });
    const r = await snapshotWorktree({ worktree: wt.worktree, ref, exclude: [], message: 'ck' });
    expect(r).toEqual({ sha: null, changed: false });
    expect(() => git(repo, 'rev-parse', '--verify', '--quiet', ref)).toThrow();
  });

  test('a copy file that .gitignore already ignores is no error (git add refuses an exclude of an ignored path)', async () => {
    const { repo, wt, ref, input } = await taskWorktree({ 'a.txt': 'a\n', '.gitignore': '.env\n' });
    write(wt.worktree, '.env', 'SECRET=1\n');
    write(wt.worktree, 'b.txt', 'b\n');
    const r = await snapshotWorktree({ worktree: wt.worktree, ref, exclude: ['.env'], message: 'ck' });
    expect(Object.keys(treeOf(repo, r.sha!)).sort()).toEqual(['.gitignore', 'a.txt', 'b.txt']);
    // The task-branch commit has the same trouble and the same cure.
    const ck = await runActivity(acts.checkpoint, {
      worktree: wt.worktree,
      taskId: input.taskId,
      title: 'T',
      branch: wt.branch,
      baseSha: input.baseSha,
      exclude: ['.env'],
    });
    expect(ck.committed).toBe(true);
    expect(git(repo, 'ls-tree', '-r', '--name-only', wt.branch).split('\n')).toEqual(['.gitignore', 'a.txt', 'b.txt']);
  });

  test('a worktree that is gone gives sha null, no error', async () => {
    const { wt, ref } = await taskWorktree({ 'a.txt': 'a\n' });
    rmSync(wt.worktree, { recursive: true, force: true });
    await expect(snapshotWorktree({ worktree: wt.worktree, ref, exclude: [], message: 'ck' })).resolves.toEqual({
      sha: null,
      changed: false,
    });
  });

  test('works in a repository without user.email (the fallback identity)', async () => {
    const saved = { ...process.env };
    const emptyConfig = path.join(tempDir(), 'gitconfig');
    writeFileSync(emptyConfig, '');
    try {
      Object.assign(process.env, { GIT_CONFIG_GLOBAL: emptyConfig, GIT_CONFIG_NOSYSTEM: '1' });
      for (const v of ['GIT_AUTHOR_EMAIL', 'GIT_COMMITTER_EMAIL', 'EMAIL']) delete process.env[v];
      const { repo, wt, ref } = await taskWorktree({ 'a.txt': 'a\n' });
      write(wt.worktree, 'b.txt', 'b\n');
      const r = await snapshotWorktree({ worktree: wt.worktree, ref, exclude: [], message: 'ck' });
      expect(git(repo, 'log', '-1', '--format=%ae', r.sha!)).toBe('flotilla@localhost');
    } finally {
      process.env = saved;
    }
  });

  test('runs while the agent runs git itself: neither side fails on index.lock', async () => {
    const { repo, wt, ref } = await taskWorktree({ 'a.txt': 'a\n' });
    // The "agent": 30 rounds of writing, staging and committing in its own index.
    const agent = execa(
      'bash',
      [
        '-c',
        'for i in $(seq 30); do echo $i > f$i.txt; echo $i >> a.txt; git add -A && git -c user.name=A -c user.email=a@b commit -q -m "c$i" || exit 1; done',
      ],
      { cwd: wt.worktree, reject: false },
    );
    let snapshots = 0;
    while (agent.exitCode === null) {
      const r = await snapshotWorktree({ worktree: wt.worktree, ref, exclude: [], message: `ck ${snapshots}` });
      // null: the agent had just committed everything and no checkpoint existed yet (nothing to keep).
      if (r.sha !== null) {
        expect(r.sha).toMatch(/^[0-9a-f]{40}$/);
        snapshots++;
      }
    }
    const done = await agent;
    expect({ exitCode: done.exitCode, stderr: done.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(snapshots).toBeGreaterThan(1);
    expect(git(wt.worktree, 'status', '--porcelain')).toBe('');
    expect(git(repo, 'rev-list', '--count', wt.branch)).toBe('31');
  });
});

describe('snapshot activity', () => {
  test('records the worktree under the task checkpoint ref with the note; a lost worktree reports the latest one', async () => {
    const { repo, wt, input, ref } = await taskWorktree({ 'a.txt': 'a\n' });
    write(wt.worktree, 'wip.txt', 'wip\n');
    const snapInput = {
      worktree: wt.worktree,
      repo,
      missionId: input.missionId,
      taskId: input.taskId,
      exclude: [],
      note: '[cancelled]',
    };
    const r = await runActivity(acts.snapshot, snapInput);
    expect(r).toEqual({ ref, sha: git(repo, 'rev-parse', ref), changed: true, worktreeGone: false });
    expect(git(repo, 'log', '-1', '--format=%s', ref)).toBe(`flotilla(${input.taskId}): checkpoint [cancelled]`);
    expect(await runActivity(acts.snapshot, snapInput)).toEqual({ ...r, changed: false });
    rmSync(wt.worktree, { recursive: true, force: true });
    expect(await runActivity(acts.snapshot, snapInput)).toEqual({ ...r, changed: false, worktreeGone: true });
  });
});

describe('rebuilding a lost worktree', () => {
  test('re-creates it on the task branch with the checkpoint restored, unstaged; copy and setup run again', async () => {
    const setupLog = path.join(tempDir(), 'setup.log');
    const repo0 = { 'keep.txt': 'keep\n', 'modify.txt': 'old\n', 'delete.txt': 'bye\n', '.gitignore': '.env\n' };
    const { repo, wt, input, ref } = await taskWorktree(repo0, {
      copy: ['.env'],
      setup: [`echo ran >> ${setupLog}`],
    });
    writeFileSync(path.join(repo, '.env'), 'SECRET=1\n');
    rmSync(path.join(wt.worktree, '.env'), { force: true });
    await ensureTaskWorktree(home, input); // copies .env now that the repo has one; setup already done
    expect(read(wt.worktree, '.env')).toBe('SECRET=1\n');
    expect(readFileSync(setupLog, 'utf8')).toBe('ran\n');

    const dir = wt.worktree;
    write(dir, 'modify.txt', 'new\n');
    unlinkSync(path.join(dir, 'delete.txt'));
    write(dir, 'deep/untracked.txt', 'untracked\n');
    write(dir, 'staged.txt', 'staged\n');
    git(dir, 'add', 'staged.txt');
    const ck = await snapshotWorktree({ worktree: dir, ref, exclude: ['.env'], message: 'ck' });

    rmSync(dir, { recursive: true, force: true });
    const again = await ensureTaskWorktree(home, input);

    expect(again).toEqual({ worktree: dir, branch: wt.branch, created: true, restoredCheckpoint: ck.sha });
    expect(git(dir, 'symbolic-ref', '--short', 'HEAD')).toBe(wt.branch);
    expect(read(dir, 'modify.txt')).toBe('new\n');
    expect(read(dir, 'deep/untracked.txt')).toBe('untracked\n');
    expect(read(dir, 'staged.txt')).toBe('staged\n');
    expect(existsSync(path.join(dir, 'delete.txt'))).toBe(false);
    expect(read(dir, 'keep.txt')).toBe('keep\n');
    // Nothing staged, nothing committed: the same changes, all in the working tree.
    expect(git(dir, 'diff', '--cached', '--name-only')).toBe('');
    expect(git(repo, 'rev-parse', wt.branch)).toBe(input.baseSha);
    const status = git(dir, 'status', '--porcelain', '--untracked-files=all').split('\n');
    expect(status.map((l) => l.trim()).sort()).toEqual([
      '?? deep/untracked.txt',
      '?? staged.txt',
      'D delete.txt',
      'M modify.txt',
    ]);
    // The secret came back from the repository (copy), not from the checkpoint; setup ran again.
    expect(read(dir, '.env')).toBe('SECRET=1\n');
    expect(readFileSync(setupLog, 'utf8')).toBe('ran\nran\n');
    // A healthy worktree is reused as is.
    expect(await ensureTaskWorktree(home, input)).toEqual({ ...again, created: false, restoredCheckpoint: null });
    expect(readFileSync(setupLog, 'utf8')).toBe('ran\nran\n');
  });

  test('a rebuild interrupted between `git worktree add` and the restore is finished by the retry', async () => {
    const { repo, wt, input, ref } = await taskWorktree({ 'a.txt': 'a\n' });
    write(wt.worktree, 'wip.txt', 'wip\n');
    const ck = await snapshotWorktree({ worktree: wt.worktree, ref, exclude: [], message: 'ck' });
    rmSync(wt.worktree, { recursive: true, force: true });
    // What a worker that died mid-rebuild leaves: the marker, and a fresh worktree without the checkpoint.
    const stateDir = path.join(home, 'runs', 'm', input.taskId, `worktree-${runKey(runId)}`);
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(path.join(stateDir, 'rebuild.pending'), 'x');
    git(repo, 'worktree', 'prune');
    git(repo, 'worktree', 'add', '--quiet', wt.worktree, wt.branch);
    expect(existsSync(path.join(wt.worktree, 'wip.txt'))).toBe(false);
    expect(taskWorktreeNeedsRebuild(home, input)).toBe(true);
    const again = await ensureTaskWorktree(home, input);
    expect(again).toMatchObject({ created: false, restoredCheckpoint: ck.sha });
    expect(read(wt.worktree, 'wip.txt')).toBe('wip\n');
    expect(taskWorktreeNeedsRebuild(home, input)).toBe(false);
  });

  test('a checkpoint older than the branch tip is not restored (the commit supersedes it)', async () => {
    const { repo, wt, input, ref } = await taskWorktree({ 'a.txt': 'a\n' });
    write(wt.worktree, 'wip.txt', 'wip\n');
    await snapshotWorktree({ worktree: wt.worktree, ref, exclude: [], message: 'ck' });
    write(wt.worktree, 'wip.txt', 'final\n');
    git(wt.worktree, 'add', '--all');
    git(wt.worktree, 'commit', '--quiet', '-m', 'done');
    rmSync(wt.worktree, { recursive: true, force: true });
    const again = await ensureTaskWorktree(home, input);
    expect(again).toMatchObject({ created: true, restoredCheckpoint: null });
    expect(read(wt.worktree, 'wip.txt')).toBe('final\n');
    expect(git(wt.worktree, 'status', '--porcelain')).toBe('');
    expect(git(repo, 'rev-parse', ref)).toMatch(/^[0-9a-f]{40}$/);
  });

  test('a checkpoint left by an earlier run whose branch is gone is moved aside, never restored into a new task', async () => {
    const { repo, wt, input, ref } = await taskWorktree({ 'a.txt': 'a\n' });
    write(wt.worktree, 'old-run.txt', 'stale\n');
    const old = await snapshotWorktree({ worktree: wt.worktree, ref, exclude: [], message: 'ck' });
    git(repo, 'worktree', 'remove', '--force', wt.worktree);
    git(repo, 'branch', '-D', wt.branch);
    const fresh = await ensureTaskWorktree(home, input);
    expect(fresh).toMatchObject({ created: true, restoredCheckpoint: null });
    expect(existsSync(path.join(wt.worktree, 'old-run.txt'))).toBe(false);
    // Moved, not copied: no checkpoint ref is left (the branch's owner record is another ref).
    const refs = ['refs/flotilla/checkpoints/', 'refs/flotilla/stale-checkpoints/'];
    expect(git(repo, 'for-each-ref', '--format=%(objectname) %(refname)', ...refs)).toMatch(
      new RegExp(`^${old.sha} refs/flotilla/stale-checkpoints/m/${input.taskId}/\\d+$`),
    );
  });
});

describe('runAgent checkpoints', () => {
  function agentInput(wt: { worktree: string; branch: string }, input: TaskWorktreeInput, script: string) {
    return {
      missionId: input.missionId,
      taskId: input.taskId,
      worktree: wt.worktree,
      branch: wt.branch,
      baseSha: input.baseSha,
      agent: bashAgent(script),
      prompt: 'p',
      taskPrompt: 'p',
      iteration: 1,
      repo: input.repo,
      runId,
      exclude: ['.env'],
      checkpointEveryMs: 500,
      setup: [],
      setupTimeoutMs: 60_000,
    };
  }

  test('snapshots while the agent runs and when it ends; the result and heartbeats carry the latest', async () => {
    const { repo, wt, input, ref } = await taskWorktree({ 'a.txt': 'a\n' });
    const beats: Array<{ checkpointSha?: string | null }> = [];
    const env = new MockActivityEnvironment();
    env.on('heartbeat', (d: unknown) => beats.push(d as { checkpointSha?: string | null }));
    // The agent writes two.txt only once the test saw a checkpoint holding one.txt (a fixed sleep
    // lost that race under load: the first snapshot came after two.txt).
    const go = path.join(tempDir(), 'go');
    const run = env.run(
      acts.runAgent,
      agentInput(
        wt,
        input,
        `echo 1 > one.txt; echo .env > .gitignore; echo S > .env; while [ ! -f ${go} ]; do sleep 0.1; done; echo 2 > two.txt`,
      ),
    ) as ReturnType<typeof acts.runAgent>;
    // Mid-run: a checkpoint holds one.txt while the agent's worktree has nothing committed, and a
    // heartbeat carried it.
    await until(
      'a checkpoint with one.txt, carried by a heartbeat',
      async () => {
        const sha = await execa('git', ['rev-parse', '--verify', '--quiet', ref], { cwd: repo, reject: false });
        return sha.stdout && treeOf(repo, sha.stdout.trim())['one.txt'] && beats.some((b) => b.checkpointSha);
      },
      60_000,
      100,
    );
    expect(existsSync(path.join(wt.worktree, 'two.txt'))).toBe(false);
    writeFileSync(go, '');
    const result = await run;
    expect(result.checkpointSha).toBe(git(repo, 'rev-parse', ref));
    expect(treeOf(repo, result.checkpointSha!)).toEqual({
      '.gitignore': '.env',
      'a.txt': 'a',
      'one.txt': '1',
      'two.txt': '2',
    });
    // The last periodic snapshot may already hold the final state: then the end adds no commit.
    expect(git(repo, 'log', '-1', '--format=%s', ref)).toMatch(
      new RegExp(`^flotilla\\(${input.taskId}\\): checkpoint, attempt 1 (running|exited 0)$`),
    );
    expect(reflogLength(repo, ref)).toBeGreaterThanOrEqual(2);
    expect(beats.some((b) => b.checkpointSha && b.checkpointSha !== result.checkpointSha)).toBe(true);
    // The agent's own state is untouched: nothing staged, nothing committed.
    expect(git(wt.worktree, 'rev-parse', 'HEAD')).toBe(input.baseSha);
    expect(git(wt.worktree, 'diff', '--cached', '--name-only')).toBe('');
  });

  test('a worktree deleted under the agent: group killed, worktree rebuilt with the checkpoint, retryable WorktreeLost', async () => {
    const { repo, wt, input, ref } = await taskWorktree({ 'a.txt': 'a\n' });
    const pidFile = path.join(tempDir(), 'agent.pid');
    const run = runActivity(
      acts.runAgent,
      agentInput(wt, input, `echo $$ > ${pidFile}; echo before > before.txt; sleep 300 & wait`),
    ).catch((e: unknown) => e);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const sha = await execa('git', ['rev-parse', '--verify', '--quiet', ref], { cwd: repo, reject: false });
      if (sha.stdout && treeOf(repo, sha.stdout.trim())['before.txt']) break;
      if (Date.now() > deadline) throw new Error('no checkpoint with before.txt');
      await new Promise((r) => setTimeout(r, 100));
    }
    const pgid = Number(readFileSync(pidFile, 'utf8'));
    const t0 = Date.now();
    rmSync(wt.worktree, { recursive: true, force: true });
    const err = (await run) as ApplicationFailure;
    const ms = Date.now() - t0;
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'WorktreeLost', nonRetryable: false });
    expect(err.message).toMatch(/was deleted while the agent ran.*process group was killed.*plus checkpoint/);
    expect((err.details?.[0] as AgentFailureDetails).checkpointSha).toBe(git(repo, 'rev-parse', ref));
    expect(groupAlive(pgid)).toBe(false);
    expect(read(wt.worktree, 'before.txt')).toBe('before\n');
    expect(git(wt.worktree, 'symbolic-ref', '--short', 'HEAD')).toBe(wt.branch);
    expect(ms).toBeLessThan(5000);
  });

  test('a cancelled attempt is checkpointed before the CancelledFailure', async () => {
    const { repo, wt, input, ref } = await taskWorktree({ 'a.txt': 'a\n' });
    const env = new MockActivityEnvironment();
    const run = env.run(acts.runAgent, {
      ...agentInput(wt, input, 'echo wip > wip.txt; sleep 300'),
      checkpointEveryMs: 0,
    }) as Promise<unknown>;
    await until('wip.txt in the worktree', () => existsSync(path.join(wt.worktree, 'wip.txt')), 10_000, 50);
    env.cancel();
    await expect(run).rejects.toBeInstanceOf(CancelledFailure);
    expect(git(repo, 'log', '-1', '--format=%s', ref)).toBe(
      `flotilla(${input.taskId}): checkpoint, attempt 1 cancelled`,
    );
    expect(git(repo, 'show', `${ref}:wip.txt`)).toBe('wip');
  });

  test('an agent that ends well gets its work committed on the task branch by its attempt, not a final checkpoint', async () => {
    const { repo, wt, input, ref } = await taskWorktree({ 'a.txt': 'a\n' });
    const result = await runActivity(acts.runAgent, {
      ...agentInput(wt, input, 'echo w > w.txt'),
      checkpointEveryMs: 0,
      commitTitle: 'write w',
    });
    expect(result.commit).toMatchObject({ committed: true, diffstat: { files: 1 } });
    expect(result.commit!.headSha).toBe(git(repo, 'rev-parse', `refs/heads/${wt.branch}`));
    expect(git(repo, 'log', '-1', '--format=%s', wt.branch)).toBe(`flotilla(${input.taskId}): write w`);
    expect(treeOf(repo, wt.branch)).toEqual({ 'a.txt': 'a', 'w.txt': 'w' });
    // The commit keeps the work: no WIP snapshot of the same state.
    expect((await execa('git', ['rev-parse', '--verify', '--quiet', ref], { cwd: repo, reject: false })).stdout).toBe(
      '',
    );
  });

  test('an attempt that commits nothing new after a checkpoint of edits its agent undid replaces that checkpoint, so a re-made worktree does not bring them back', async () => {
    const { repo, wt, input, ref } = await taskWorktree({ 'a.txt': 'a\n' });
    const result = await runActivity(acts.runAgent, {
      ...agentInput(wt, input, 'echo tmp > tmp.txt; sleep 2; rm tmp.txt'),
      commitTitle: 'nothing',
    });
    expect(result.commit).toMatchObject({ committed: false, headSha: input.baseSha });
    // A periodic checkpoint held tmp.txt; the final one, on the same tip, does not.
    expect(git(repo, 'log', '-g', '--format=%s', ref).split('\n').length).toBeGreaterThanOrEqual(2);
    expect(treeOf(repo, git(repo, 'rev-parse', ref))).toEqual({ 'a.txt': 'a' });
    rmSync(wt.worktree, { recursive: true, force: true });
    await ensureTaskWorktree(home, input);
    expect(existsSync(path.join(wt.worktree, 'tmp.txt'))).toBe(false);
  });

  test('a worktree missing when the attempt starts is rebuilt before the agent launches', async () => {
    const { repo, wt, input, ref } = await taskWorktree({ 'a.txt': 'a\n' });
    write(wt.worktree, 'wip.txt', 'wip\n');
    await snapshotWorktree({ worktree: wt.worktree, ref, exclude: [], message: 'ck' });
    rmSync(wt.worktree, { recursive: true, force: true });
    const env = new MockActivityEnvironment({ attempt: 2 });
    const result = (await env.run(
      acts.runAgent,
      agentInput(wt, input, 'cat wip.txt > seen.txt; echo "$FLOTILLA_PROMPT" > prompt.txt'),
    )) as Awaited<ReturnType<typeof acts.runAgent>>;
    expect(result.exitCode).toBe(0);
    expect(read(wt.worktree, 'seen.txt')).toBe('wip\n');
    expect(read(wt.worktree, 'prompt.txt')).toMatch(/worktree was deleted; Flotilla rebuilt it/);
    expect(treeOf(repo, result.checkpointSha!)).toMatchObject({ 'wip.txt': 'wip', 'seen.txt': 'wip' });
    expect(git(repo, 'log', '-1', '--format=%s', ref)).toBe(
      `flotilla(${input.taskId}): checkpoint, attempt 2 exited 0`,
    );
  });
});
