/**
 * The merge queue's git activities against real repositories in temp dirs (no Temporal server):
 * queueMerge, publishRef, verifyAt, prepareIntegration's detached worktree, removeTaskWorktree and
 * predictConflicts, called through the SDK's MockActivityEnvironment (heartbeats as a worker
 * delivers them).
 */
import { ApplicationFailure } from '@temporalio/activity';
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createActivities } from '../../src/activities';
import type { QueueMergeInput } from '../../src/git/merge-queue-types';
import { names } from '../../src/mission/types';
import { git, makeRepo, tempDir } from '../helpers/git';
import { integrationInput, runActivity, worktreeInput } from '../helpers/activities';

const home = tempDir('flotilla-home-');
const acts = createActivities({ home, hostQueue: 'q@test' });
const runId = '0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee';
const DATE = '2026-03-04T05:06:07.890Z';

/**
 * Makes `branch` at `from` plus one commit writing `files` (path -> content), without touching
 * the repository's own checkout (through a temporary worktree).
 * @returns the new commit
 */
function commitOn(repo: string, branch: string, from: string, files: Record<string, string>): string {
  const side = tempDir('side-');
  git(repo, 'worktree', 'add', '--quiet', '--detach', side, from);
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(side, rel)), { recursive: true });
    writeFileSync(path.join(side, rel), content);
  }
  git(side, 'add', '--all');
  git(side, 'commit', '--quiet', '-m', `work on ${branch}`);
  const sha = git(side, 'rev-parse', 'HEAD');
  git(repo, 'update-ref', `refs/heads/${branch}`, sha);
  git(repo, 'worktree', 'remove', '--force', side);
  return sha;
}

const refOf = (repo: string, ref: string): string | null => {
  try {
    return git(repo, 'rev-parse', '--verify', '--quiet', ref);
  } catch {
    return null;
  }
};

/** A repository where `trunk` moved on after `flotilla/m/tasks/t1` branched (a true merge). */
function queueRepo() {
  const repo = makeRepo({ 'a.txt': 'a\n', 'b.txt': 'b\n' });
  const base = git(repo, 'rev-parse', 'main');
  const branch = names.taskBranch('m', 't1');
  const tip = commitOn(repo, branch, base, { 'a.txt': 'a by t1\n' });
  const onto = commitOn(repo, 'trunk', base, { 'c.txt': 'c on trunk\n' });
  const input: QueueMergeInput = {
    repo,
    onto,
    branch,
    taskId: 't1',
    title: 'Change A',
    ref: 'refs/flotilla/candidates/m',
    expected: null,
    date: DATE,
  };
  return { repo, base, branch, tip, onto, input };
}

describe('queueMerge', () => {
  test('merges without a worktree: two parents, the message, the dates, the ref moved; the checkout untouched', async () => {
    const { repo, tip, onto, input } = queueRepo();
    const statusBefore = git(repo, 'status', '--porcelain');
    const r = await runActivity(acts.queueMerge, input);
    expect(r).toMatchObject({ status: 'merged', alreadyMerged: false });
    const sha = (r as { sha: string }).sha;
    expect(git(repo, 'rev-list', '--no-walk', '--parents', sha)).toBe(`${sha} ${onto} ${tip}`);
    expect(git(repo, 'log', '-1', '--format=%B', sha)).toBe('flotilla: merge t1: Change A');
    expect(git(repo, 'log', '-1', '--format=%aI %cI', sha)).toBe('2026-03-04T05:06:07+00:00 2026-03-04T05:06:07+00:00');
    expect(git(repo, 'show', `${sha}:a.txt`)).toBe('a by t1');
    expect(git(repo, 'show', `${sha}:c.txt`)).toBe('c on trunk');
    expect(refOf(repo, input.ref)).toBe(sha);
    // trunk and the repository's checkout are not touched
    expect(git(repo, 'rev-parse', 'trunk')).toBe(onto);
    expect(git(repo, 'status', '--porcelain')).toBe(statusBefore);
  });

  test('a retry with the same input makes the same SHA and no second commit', async () => {
    const { repo, tip, input } = queueRepo();
    const first = (await runActivity(acts.queueMerge, input)) as { sha: string };
    // The crash came after update-ref: the ref already holds the merge (expected null fails the CAS).
    const again = await runActivity(acts.queueMerge, input);
    expect(again).toEqual({ status: 'merged', sha: first.sha, alreadyMerged: false, tip });
    expect(git(repo, 'rev-list', '--merges', '--count', input.ref)).toBe('1');
    // The crash came before update-ref: the commit made again is the very same object.
    git(repo, 'update-ref', '-d', input.ref);
    const remade = await runActivity(acts.queueMerge, input);
    expect(remade).toEqual({ status: 'merged', sha: first.sha, alreadyMerged: false, tip });
    expect(refOf(repo, input.ref)).toBe(first.sha);
  });

  test('a retry that finds the same merge made differently (a signed commit, another identity) takes it', async () => {
    const { repo, tip, input } = queueRepo();
    const earlier = (await runActivity(acts.queueMerge, { ...input, date: '2026-01-01T00:00:00Z' })) as { sha: string };
    const r = await runActivity(acts.queueMerge, input);
    expect(r).toEqual({ status: 'merged', sha: earlier.sha, alreadyMerged: false, tip });
    expect(refOf(repo, input.ref)).toBe(earlier.sha);
  });

  test('a ref lock a killed git left is removed once stale', async () => {
    const { repo, input } = queueRepo();
    const lock = path.join(repo, '.git', `${input.ref}.lock`);
    mkdirSync(path.dirname(lock), { recursive: true });
    writeFileSync(lock, '');
    const old = new Date(Date.now() - 60_000);
    utimesSync(lock, old, old);
    expect(await runActivity(acts.queueMerge, input)).toMatchObject({ status: 'merged' });
    expect(existsSync(lock)).toBe(false);
  });

  test('a ref that moved since is CandidateMoved (non-retryable), saying what it holds', async () => {
    const { repo, base, onto, input } = queueRepo();
    git(repo, 'update-ref', input.ref, base);
    const err = await runActivity(acts.queueMerge, { ...input, expected: onto }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'CandidateMoved', nonRetryable: true });
    expect((err as Error).message).toContain(`holds ${base}`);
    expect(refOf(repo, input.ref)).toBe(base);
    // expected: null, but the ref exists
    await expect(runActivity(acts.queueMerge, input)).rejects.toMatchObject({ type: 'CandidateMoved' });
  });

  test('a conflict lists the files and writes nothing', async () => {
    const { repo, base, onto, input } = queueRepo();
    const other = names.taskBranch('m', 't2');
    commitOn(repo, other, base, { 'a.txt': 'a by t2\n', 'b.txt': 'b by t2\n' });
    const onto2 = commitOn(repo, 'trunk', onto, { 'b.txt': 'b on trunk\n' });
    git(repo, 'update-ref', input.ref, onto2);
    const before = git(repo, 'for-each-ref');
    const r = await runActivity(acts.queueMerge, {
      ...input,
      onto: onto2,
      branch: other,
      taskId: 't2',
      expected: onto2,
    });
    expect(r).toEqual({
      status: 'conflict',
      files: ['b.txt'],
      message: 'merge conflict in b.txt',
      withTasks: [],
      worktree: null,
    });
    expect(git(repo, 'for-each-ref')).toBe(before);
    // two conflicted files, both named
    const merged = (await runActivity(acts.queueMerge, { ...input, expected: onto2, onto: onto2 })) as { sha: string };
    const r2 = await runActivity(acts.queueMerge, {
      ...input,
      onto: merged.sha,
      branch: other,
      taskId: 't2',
      expected: merged.sha,
    });
    expect(r2).toEqual({
      status: 'conflict',
      files: ['a.txt', 'b.txt'],
      message: 'merge conflict in a.txt, b.txt',
      withTasks: ['t1'],
      worktree: null,
    });
    expect(refOf(repo, input.ref)).toBe(merged.sha);
  });

  test('a branch already contained in onto is merged (alreadyMerged) and the ref made to hold onto', async () => {
    const { repo, tip, input } = queueRepo();
    const merged = (await runActivity(acts.queueMerge, input)) as { sha: string };
    const r = await runActivity(acts.queueMerge, { ...input, onto: merged.sha, ref: 'refs/flotilla/candidates/m2' });
    expect(r).toEqual({ status: 'merged', sha: merged.sha, alreadyMerged: true, tip });
    expect(refOf(repo, 'refs/flotilla/candidates/m2')).toBe(merged.sha);
    // and again (the ref already holds it)
    const again = await runActivity(acts.queueMerge, { ...input, onto: merged.sha, expected: merged.sha });
    expect(again).toEqual({ status: 'merged', sha: merged.sha, alreadyMerged: true, tip });
  });

  test('a missing task branch is a clear error', async () => {
    const { input } = queueRepo();
    await expect(runActivity(acts.queueMerge, { ...input, branch: 'flotilla/m/tasks/none' })).rejects.toThrow(
      /task branch flotilla\/m\/tasks\/none does not exist/,
    );
  });
});

describe('queueMergeBatch', () => {
  /** queueRepo plus t2 (another file), t3 (clashes with t1 on a.txt) and t4, all from the base. */
  function batchRepo() {
    const q = queueRepo();
    const more = {
      t2: commitOn(q.repo, names.taskBranch('m', 't2'), q.base, { 'd.txt': 'd by t2\n' }),
      t3: commitOn(q.repo, names.taskBranch('m', 't3'), q.base, { 'a.txt': 'a by t3\n' }),
      t4: commitOn(q.repo, names.taskBranch('m', 't4'), q.base, { 'e.txt': 'e by t4\n' }),
    };
    const task = (id: string) => ({ taskId: id, branch: names.taskBranch('m', id), title: `Task ${id}` });
    const input = { repo: q.repo, onto: q.onto, ref: q.input.ref, expected: null, date: DATE };
    return { ...q, more, task, input };
  }

  test('merges each branch onto the one before, moves the ref once to the last, and a retry makes the same SHAs', async () => {
    const { repo, onto, tip, more, task, input } = batchRepo();
    const batch = { ...input, tasks: [task('t1'), task('t2'), task('t4')] };
    const r = await runActivity(acts.queueMergeBatch, batch);
    expect(r.conflict).toBeNull();
    expect(r.merged.map((x) => [x.taskId, x.tip, x.alreadyMerged])).toEqual([
      ['t1', tip, false],
      ['t2', more.t2, false],
      ['t4', more.t4, false],
    ]);
    const [m1, m2, m4] = r.merged.map((x) => x.sha);
    expect(git(repo, 'rev-list', '--no-walk', '--parents', m1)).toBe(`${m1} ${onto} ${tip}`);
    expect(git(repo, 'rev-list', '--no-walk', '--parents', m2)).toBe(`${m2} ${m1} ${more.t2}`);
    expect(git(repo, 'rev-list', '--no-walk', '--parents', m4)).toBe(`${m4} ${m2} ${more.t4}`);
    expect(git(repo, 'log', '-1', '--format=%B', m2)).toBe('flotilla: merge t2: Task t2');
    expect(git(repo, 'show', `${m4}:a.txt`)).toBe('a by t1');
    expect(refOf(repo, input.ref)).toBe(m4);
    // One ref update for the batch: the candidate's reflog has one entry.
    expect(git(repo, 'reflog', 'show', '--format=%H', input.ref).split('\n')).toEqual([m4]);
    // A retry after the ref moved (expected null now fails the CAS) finds its own merges there.
    expect(await runActivity(acts.queueMergeBatch, batch)).toEqual(r);
    // A retry whose earlier attempt made the same merges differently (another date) takes those.
    git(repo, 'update-ref', '-d', input.ref);
    const earlier = await runActivity(acts.queueMergeBatch, { ...batch, date: '2026-01-01T00:00:00Z' });
    expect(earlier.merged[2].sha).not.toBe(m4);
    expect(await runActivity(acts.queueMergeBatch, batch)).toEqual(earlier);
  });

  test('with publish the integration branch moves to the last merge too, by compare-and-swap; a retry finds it there', async () => {
    const { repo, onto, base, task, input } = batchRepo();
    const branchRef = 'refs/heads/flotilla/m/integration';
    git(repo, 'update-ref', branchRef, onto);
    const batch = { ...input, tasks: [task('t1'), task('t2')], publish: { ref: branchRef, expected: onto } };
    const r = await runActivity(acts.queueMergeBatch, batch);
    expect(r.published).toBe(r.merged[1].sha);
    expect(refOf(repo, branchRef)).toBe(r.merged[1].sha);
    expect(refOf(repo, input.ref)).toBe(r.merged[1].sha);
    expect(await runActivity(acts.queueMergeBatch, batch)).toEqual(r);
    // A branch someone else moved is CandidateMoved, and stays where they put it.
    git(repo, 'update-ref', branchRef, base);
    const moved = { ...batch, onto: r.merged[1].sha, expected: r.merged[1].sha, tasks: [task('t4')] };
    await expect(
      runActivity(acts.queueMergeBatch, { ...moved, publish: { ref: branchRef, expected: r.merged[1].sha } }),
    ).rejects.toMatchObject({ type: 'CandidateMoved' });
    expect(refOf(repo, branchRef)).toBe(base);
  });

  test('the first conflict stops the batch: the merges before it are on the ref, nothing after it is tried', async () => {
    const { repo, task, input } = batchRepo();
    const r = await runActivity(acts.queueMergeBatch, {
      ...input,
      tasks: [task('t1'), task('t2'), task('t3'), task('t4')],
    });
    expect(r.merged.map((x) => x.taskId)).toEqual(['t1', 't2']);
    expect(r.conflict).toMatchObject({ taskId: 't3', status: 'conflict', files: ['a.txt'], withTasks: ['t1'] });
    expect(refOf(repo, input.ref)).toBe(r.merged[1].sha);
    // A batch whose first task conflicts moves nothing.
    const again = await runActivity(acts.queueMergeBatch, {
      ...input,
      onto: r.merged[1].sha,
      expected: r.merged[1].sha,
      tasks: [task('t3'), task('t4')],
    });
    expect(again).toMatchObject({ merged: [], conflict: { taskId: 't3' } });
    expect(refOf(repo, input.ref)).toBe(r.merged[1].sha);
  });

  test('a branch already in what it goes onto makes no commit; a ref that moved is CandidateMoved', async () => {
    const { repo, onto, base, task, input } = batchRepo();
    const first = await runActivity(acts.queueMergeBatch, { ...input, tasks: [task('t1')] });
    const m1 = first.merged[0].sha;
    const r = await runActivity(acts.queueMergeBatch, {
      ...input,
      onto: m1,
      expected: m1,
      tasks: [task('t1'), task('t2')],
    });
    expect(r.merged[0]).toMatchObject({ taskId: 't1', sha: m1, alreadyMerged: true });
    expect(git(repo, 'rev-list', '--no-walk', '--parents', r.merged[1].sha).split(' ')[1]).toBe(m1);
    git(repo, 'update-ref', input.ref, base);
    await expect(
      runActivity(acts.queueMergeBatch, { ...input, onto, expected: onto, tasks: [task('t4')] }),
    ).rejects.toMatchObject({ type: 'CandidateMoved', nonRetryable: true });
    expect(refOf(repo, input.ref)).toBe(base);
  });
});

describe('publishRef', () => {
  test('moves a ref by compare-and-swap; idempotent when it already holds the SHA; CandidateMoved otherwise', async () => {
    const { repo, base, onto, tip } = queueRepo();
    const ref = `refs/heads/${names.integrationBranch('m')}`;
    await runActivity(acts.publishRef, { repo, ref, sha: base, expected: null });
    expect(refOf(repo, ref)).toBe(base);
    await runActivity(acts.publishRef, { repo, ref, sha: onto, expected: base });
    expect(refOf(repo, ref)).toBe(onto);
    // a retry of the same publish
    await runActivity(acts.publishRef, { repo, ref, sha: onto, expected: base });
    expect(refOf(repo, ref)).toBe(onto);
    await expect(runActivity(acts.publishRef, { repo, ref, sha: tip, expected: base })).rejects.toMatchObject({
      type: 'CandidateMoved',
      nonRetryable: true,
      message: expect.stringContaining(`holds ${onto}`),
    });
    await expect(runActivity(acts.publishRef, { repo, ref, sha: tip, expected: null })).rejects.toMatchObject({
      type: 'CandidateMoved',
    });
    expect(refOf(repo, ref)).toBe(onto);
    // the branch keeps a reflog of the moves
    expect(git(repo, 'reflog', 'show', '--format=%H', ref).split('\n')).toEqual([onto, base]);
  });
});

async function integration(repo: string, missionId: string) {
  return runActivity(acts.prepareIntegration, integrationInput(repo, missionId));
}

const symbolicHead = (wt: string): string | null => {
  try {
    return git(wt, 'symbolic-ref', '--quiet', '--short', 'HEAD');
  } catch {
    return null;
  }
};

describe('prepareIntegration', () => {
  test('a new integration worktree is detached at the branch tip; moving the branch leaves it alone', async () => {
    const repo = makeRepo();
    const main = git(repo, 'rev-parse', 'main');
    const integ = await integration(repo, 'det');
    expect(integ).toMatchObject({ branch: names.integrationBranch('det'), baseSha: main, headSha: main });
    expect(symbolicHead(integ.worktree)).toBeNull();
    expect(git(integ.worktree, 'rev-parse', 'HEAD')).toBe(main);
    expect(refOf(repo, `refs/heads/${integ.branch}`)).toBe(main);

    const next = commitOn(repo, 'next', main, { 'n.txt': 'n\n' });
    await runActivity(acts.publishRef, { repo, ref: `refs/heads/${integ.branch}`, sha: next, expected: main });
    expect(git(integ.worktree, 'status', '--porcelain')).toBe('');
    // reused where it is (verifyAt checks out what it needs); headSha is the branch's tip
    const again = await integration(repo, 'det');
    expect(again).toEqual({ ...integ, headSha: next });
    expect(git(integ.worktree, 'rev-parse', 'HEAD')).toBe(main);
  });

  test('an integration worktree where a person checked the branch out is detached in place, nothing lost', async () => {
    const repo = makeRepo({ 'a.txt': 'a\n' });
    const first = await integration(repo, 'conv');
    git(first.worktree, 'checkout', '--quiet', first.branch);
    expect(symbolicHead(first.worktree)).toBe(first.branch);
    writeFileSync(path.join(first.worktree, 'a.txt'), 'edited\n');
    writeFileSync(path.join(first.worktree, 'untracked.txt'), 'u\n');
    const again = await integration(repo, 'conv');
    expect(again).toEqual(first);
    expect(symbolicHead(again.worktree)).toBeNull();
    expect(git(again.worktree, 'rev-parse', 'HEAD')).toBe(first.headSha);
    expect(readFileSync(path.join(again.worktree, 'a.txt'), 'utf8')).toBe('edited\n');
    expect(readFileSync(path.join(again.worktree, 'untracked.txt'), 'utf8')).toBe('u\n');
    expect(refOf(repo, `refs/heads/${first.branch}`)).toBe(first.headSha);
  });
});

describe('verifyAt', () => {
  test('checks out the SHA detached, runs the commands, keeps untracked and ignored files', async () => {
    const repo = makeRepo({ '.gitignore': 'node_modules/\n', 'a.txt': 'a\n' });
    const integ = await integration(repo, 'ver');
    const candidate = commitOn(repo, 'candidate', integ.headSha, { 'a.txt': 'candidate\n' });
    mkdirSync(path.join(integ.worktree, 'node_modules', 'pkg'), { recursive: true });
    writeFileSync(path.join(integ.worktree, 'node_modules', 'pkg', 'index.js'), 'x\n');
    writeFileSync(path.join(integ.worktree, 'scratch.txt'), 's\n');
    writeFileSync(path.join(integ.worktree, 'a.txt'), 'left over by an earlier verify\n');
    const logFile = path.join(tempDir('verify-log-'), 'verify.log');
    const r = await runActivity(acts.verifyAt, {
      repo,
      worktree: integ.worktree,
      sha: candidate,
      commands: ['grep -q candidate a.txt', ['test', '-f', 'node_modules/pkg/index.js'], 'echo verified'],
      timeoutMs: 30_000,
      logFile,
    });
    expect(r).toEqual({ ok: true, failed: null });
    expect(symbolicHead(integ.worktree)).toBeNull();
    expect(git(integ.worktree, 'rev-parse', 'HEAD')).toBe(candidate);
    expect(existsSync(path.join(integ.worktree, 'node_modules', 'pkg', 'index.js'))).toBe(true);
    expect(existsSync(path.join(integ.worktree, 'scratch.txt'))).toBe(true);
    expect(readFileSync(logFile, 'utf8')).toContain('verified');
    // the integration branch did not move
    expect(refOf(repo, `refs/heads/${integ.branch}`)).toBe(integ.headSha);

    // a failing command is a result; back at the integration tip
    const failed = await runActivity(acts.verifyAt, {
      repo,
      worktree: integ.worktree,
      sha: integ.headSha,
      commands: ['grep -q candidate a.txt'],
      timeoutMs: 30_000,
      logFile,
    });
    expect(failed).toMatchObject({ ok: false, failed: { command: 'grep -q candidate a.txt', exitCode: 1 } });
    expect(git(integ.worktree, 'rev-parse', 'HEAD')).toBe(integ.headSha);
  });
});

describe('removeTaskWorktree', () => {
  /** A task worktree with `.env` copied in (untracked, not ignored) and an ignored node_modules. */
  async function taskWorktree(missionId: string) {
    const repo = makeRepo({ '.gitignore': 'node_modules/\n', 'README.md': '# r\n' });
    writeFileSync(path.join(repo, '.env'), 'SECRET=1\n');
    const wt = await runActivity(
      acts.prepareWorktree,
      worktreeInput(repo, missionId, 't', git(repo, 'rev-parse', 'main'), {
        setup: ['mkdir -p node_modules/pkg && echo x > node_modules/pkg/index.js'],
        copy: ['.env'],
      }),
    );
    expect(existsSync(path.join(wt.worktree, 'node_modules', 'pkg', 'index.js'))).toBe(true);
    expect(readFileSync(path.join(wt.worktree, '.env'), 'utf8')).toBe('SECRET=1\n');
    const input = { missionId, runId, repo, taskId: 't', copy: ['.env'] };
    return { repo, wt, input };
  }

  test('a clean worktree (ignored node_modules, identical copy) is removed; branch, checkpoint and transcripts stay', async () => {
    const { repo, wt, input } = await taskWorktree('rm-clean');
    writeFileSync(path.join(wt.worktree, 'README.md'), '# r\nwork\n');
    git(wt.worktree, 'commit', '--quiet', '-am', 'work');
    const tip = git(repo, 'rev-parse', wt.branch);
    const ckpt = names.checkpointRef(input.missionId, 't');
    git(repo, 'update-ref', ckpt, tip);
    const transcript = path.join(home, 'runs', input.missionId, 't', 'attempt-1.jsonl');
    mkdirSync(path.dirname(transcript), { recursive: true });
    writeFileSync(transcript, '{}\n');

    expect(await runActivity(acts.removeTaskWorktree, input)).toEqual({ removed: true, kept: null });
    expect(existsSync(wt.worktree)).toBe(false);
    expect(git(repo, 'worktree', 'list')).not.toContain(wt.worktree);
    expect(refOf(repo, `refs/heads/${wt.branch}`)).toBe(tip);
    expect(refOf(repo, ckpt)).toBe(tip);
    expect(existsSync(transcript)).toBe(true);
    // the repository's own copy is untouched
    expect(readFileSync(path.join(repo, '.env'), 'utf8')).toBe('SECRET=1\n');
    // idempotent: already gone
    expect(await runActivity(acts.removeTaskWorktree, input)).toEqual({ removed: true, kept: null });
  });

  test('removeTaskWorktrees: a batch in one call, each judged on its own (a dirty one kept, a clean one removed)', async () => {
    const clean = await taskWorktree('rm-batch-clean');
    const dirty = await taskWorktree('rm-batch-dirty');
    writeFileSync(path.join(dirty.wt.worktree, 'new.txt'), 'new\n');
    const r = await runActivity(acts.removeTaskWorktrees, { tasks: [dirty.input, clean.input] });
    expect(r[0]).toMatchObject({ removed: false, kept: expect.stringContaining('new.txt') });
    expect(r[1]).toEqual({ removed: true, kept: null });
    expect(existsSync(dirty.wt.worktree)).toBe(true);
    expect(existsSync(clean.wt.worktree)).toBe(false);
  });

  test('a dirty worktree is kept, with the paths in the reason', async () => {
    const { wt, input } = await taskWorktree('rm-dirty');
    writeFileSync(path.join(wt.worktree, 'README.md'), 'changed\n');
    writeFileSync(path.join(wt.worktree, 'new.txt'), 'new\n');
    const r = await runActivity(acts.removeTaskWorktree, input);
    expect(r.removed).toBe(false);
    expect(r.kept).toMatch(/uncommitted changes \(modified: README\.md; untracked: new\.txt\)/);
    expect(r.kept).toContain('new.txt');
    expect(r.kept).not.toContain('.env');
    expect(readFileSync(path.join(wt.worktree, 'README.md'), 'utf8')).toBe('changed\n');
    expect(existsSync(path.join(wt.worktree, '.env'))).toBe(true);
  });

  test('a copy file that changed keeps the worktree', async () => {
    const { wt, input } = await taskWorktree('rm-copy');
    writeFileSync(path.join(wt.worktree, '.env'), 'SECRET=2\n');
    const r = await runActivity(acts.removeTaskWorktree, input);
    expect(r).toEqual({ removed: false, kept: "copy files that differ from the repository's: .env" });
    expect(readFileSync(path.join(wt.worktree, '.env'), 'utf8')).toBe('SECRET=2\n');
  });

  test('a detached HEAD on a commit no branch holds keeps the worktree', async () => {
    const { wt, input } = await taskWorktree('rm-detached');
    git(wt.worktree, 'checkout', '--quiet', '--detach');
    git(wt.worktree, 'commit', '--quiet', '--allow-empty', '-m', 'only here');
    const r = await runActivity(acts.removeTaskWorktree, input);
    expect(r.removed).toBe(false);
    expect(r.kept).toMatch(/HEAD is detached at [0-9a-f]{12}, a commit no branch holds/);
    expect(existsSync(wt.worktree)).toBe(true);
  });
});

describe('removeTaskWorktree and what setup made', () => {
  /** A task worktree whose setup, like `npm install`, writes a lock file and rewrites a tracked file. */
  async function setUp(missionId: string) {
    const repo = makeRepo({ 'package.json': '{"name":"app"}\n' });
    const base = git(repo, 'rev-parse', 'main');
    const wt = await runActivity(
      acts.prepareWorktree,
      worktreeInput(repo, missionId, 't', base, {
        setup: ['echo lock > package-lock.json && echo \'{ "name": "app" }\' > package.json'],
      }),
    );
    writeFileSync(path.join(wt.worktree, 'test.js'), 'test\n');
    const commit = { worktree: wt.worktree, taskId: 't', title: 'T', branch: wt.branch, baseSha: base, exclude: [] };
    await runActivity(acts.checkpoint, commit);
    return { repo, wt, input: { missionId, runId, repo, taskId: 't', copy: [] } };
  }

  test('a merged worktree whose only changes are what setup made, untouched since, is removed', async () => {
    const { repo, wt, input } = await setUp('rm-setup');
    expect(git(wt.worktree, 'status', '--porcelain')).toBe('M package.json\n?? package-lock.json');
    expect(await runActivity(acts.removeTaskWorktree, input)).toEqual({ removed: true, kept: null });
    expect(existsSync(wt.worktree)).toBe(false);
    expect(git(repo, 'show', `${wt.branch}:package.json`)).toBe('{"name":"app"}');
  });

  test('a file setup made that someone changed after the commit keeps the worktree', async () => {
    const { wt, input } = await setUp('rm-setup-changed');
    writeFileSync(path.join(wt.worktree, 'package-lock.json'), 'changed by hand\n');
    const r = await runActivity(acts.removeTaskWorktree, input);
    expect(r).toEqual({ removed: false, kept: 'uncommitted changes (untracked: package-lock.json)' });
    expect(readFileSync(path.join(wt.worktree, 'package-lock.json'), 'utf8')).toBe('changed by hand\n');
  });
});

describe('predictConflicts', () => {
  test('finds a conflicting pair (checkpoint ref first) and the pending tasks that touch what runs', async () => {
    const repo = makeRepo({ 'a.txt': 'a\n', 'src/api/x.ts': 'x\n' });
    const base = git(repo, 'rev-parse', 'main');
    commitOn(repo, names.taskBranch('p', 't1'), base, { 'a.txt': 'a by t1\n' });
    commitOn(repo, names.taskBranch('p', 't2'), base, { 'a.txt': 'a by t2\n' });
    const t3 = commitOn(repo, names.taskBranch('p', 't3'), base, { 'src/api/x.ts': 'x by t3\n' });
    // t3's checkpoint holds more work than its branch: it is what counts
    const ckpt = commitOn(repo, 'scratch', t3, { 'docs/guide.md': 'g\n' });
    git(repo, 'update-ref', names.checkpointRef('p', 't3'), ckpt);
    const refsOf = (t: string) => [names.checkpointRef('p', t), `refs/heads/${names.taskBranch('p', t)}`];
    const r = await runActivity(acts.predictConflicts, {
      repo,
      base,
      running: [
        { taskId: 't1', refs: refsOf('t1') },
        { taskId: 't2', refs: refsOf('t2') },
        { taskId: 't3', refs: refsOf('t3') },
        { taskId: 't4', refs: refsOf('t4') }, // nothing yet
      ],
      pending: [
        { taskId: 'p1', touches: ['src/**/*.ts'] },
        { taskId: 'p2', touches: ['docs'] },
        { taskId: 'p3', touches: ['a.txt', 'zzz/*'] },
        { taskId: 'p4', touches: ['lib/*'] },
        { taskId: 'p5', touches: [] },
      ],
    });
    expect(r).toEqual({
      conflicts: [{ a: 't1', b: 't2', files: ['a.txt'] }],
      waitFor: { p1: ['t3'], p2: ['t3'], p3: ['t1', 't2'] },
    });
  });

  test('runs no custom merge driver (a prediction has no side effects); queueMerge still does', async () => {
    const repo = makeRepo({ 'a.txt': 'one\ntwo\nthree\nfour\nfive\n' });
    const base = git(repo, 'rev-parse', 'main');
    const ran = path.join(tempDir('driver-'), 'ran');
    // A driver that records each run and merges with git's own content merge.
    git(repo, 'config', 'merge.recorder.driver', `echo run >> ${ran}; git merge-file %A %O %B`);
    writeFileSync(path.join(repo, '.git', 'info', 'attributes'), 'a.txt merge=recorder\n');
    const t1 = commitOn(repo, names.taskBranch('d', 't1'), base, { 'a.txt': 'ONE\ntwo\nthree\nfour\nfive\n' });
    commitOn(repo, names.taskBranch('d', 't2'), base, { 'a.txt': 'one\ntwo\nthree\nfour\nFIVE\n' });
    const refsOf = (t: string) => [`refs/heads/${names.taskBranch('d', t)}`];
    const r = await runActivity(acts.predictConflicts, {
      repo,
      base,
      running: [
        { taskId: 't1', refs: refsOf('t1') },
        { taskId: 't2', refs: refsOf('t2') },
      ],
      pending: [],
    });
    expect(r).toEqual({ conflicts: [], waitFor: {} });
    expect(existsSync(ran)).toBe(false);
    // The real merge runs the user's driver, as `git merge` would.
    const merged = await runActivity(acts.queueMerge, {
      repo,
      onto: t1,
      branch: names.taskBranch('d', 't2'),
      taskId: 't2',
      title: 'T2',
      ref: 'refs/flotilla/candidates/d',
      expected: null,
      date: DATE,
    });
    expect(merged.status).toBe('merged');
    expect(readFileSync(ran, 'utf8').trim()).toBe('run');
  });
});
