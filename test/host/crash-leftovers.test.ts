/**
 * What a git killed with its worker leaves, on real repositories: a ref's `.lock` file
 * (removeStaleRefLock), a worktree whose `git worktree add` was cut short (worktree-add.ts), a
 * worktree whose removal was cut short (worktree-removal.ts). The crashes themselves, with real
 * SIGKILLs, are in test/faults; here each rule's edges.
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { createActivities } from '../../src/activities';
import { ownerRef } from '../../src/git/branch-owner';
import { removeStaleRefLock, withRepoLock } from '../../src/git/repo-lock';
import { ADDING_MARKER, clearForAdd, unfinishedAdd } from '../../src/git/worktree-add';
import { ensureWorktree } from '../../src/git/worktree-git';
import { taskStateDir, taskWorktreePath } from '../../src/git/worktree-layout';
import { finishRemoval, recordRemoval, removalMarker, removalStarted } from '../../src/git/worktree-removal';
import { executeCleanup, planCleanup } from '../../src/client/clean';
import { git, makeRepo, tempDir } from '../helpers/git';
import { runActivity, worktreeInput } from '../helpers/activities';

const runId = '0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee';
/** A lock file git would leave for `ref` in `repo`. */
function leaveLock(repo: string, ref: string): string {
  const lock = path.join(repo, '.git', `${ref}.lock`);
  mkdirSync(path.dirname(lock), { recursive: true });
  writeFileSync(lock, `${git(repo, 'rev-parse', 'main')}\n`);
  return lock;
}

describe('removeStaleRefLock', () => {
  test("removes a fresh lock of a ref only Flotilla writes while the repository lock is held; never the base branch's", async () => {
    const repo = makeRepo();
    const candidate = leaveLock(repo, 'refs/flotilla/candidates/m');
    const branch = leaveLock(repo, 'refs/heads/flotilla/m/tasks/t');
    const base = leaveLock(repo, 'refs/heads/main');
    await withRepoLock(repo, async (hold) => {
      // No age needed: under the lock, no live git of ours can hold it.
      expect(await removeStaleRefLock(repo, 'refs/flotilla/candidates/m', hold)).toBe(true);
      expect(await removeStaleRefLock(repo, 'refs/heads/flotilla/m/tasks/t', hold)).toBe(true);
      await expect(removeStaleRefLock(repo, 'refs/heads/main', hold)).rejects.toThrow(/not a ref only Flotilla/);
      // Checkpoints are written without the lock (snapshots while an agent runs): never.
      await expect(removeStaleRefLock(repo, 'refs/flotilla/checkpoints/m/t', hold)).rejects.toThrow();
    });
    expect([existsSync(candidate), existsSync(branch), existsSync(base)]).toEqual([false, false, true]);
  });

  test('leaves the lock of a branch a worktree has checked out (someone may be committing there), and any lock once the repository lock was lost', async () => {
    const repo = makeRepo();
    const wt = path.join(tempDir(), 'wt');
    git(repo, 'worktree', 'add', '--quiet', '-b', 'flotilla/m/tasks/t', wt, 'main');
    const lock = leaveLock(repo, 'refs/heads/flotilla/m/tasks/t');
    const candidate = leaveLock(repo, 'refs/flotilla/candidates/m');
    await withRepoLock(repo, async (hold) => {
      expect(await removeStaleRefLock(repo, 'refs/heads/flotilla/m/tasks/t', hold)).toBe(false);
      await expect(
        removeStaleRefLock(repo, 'refs/flotilla/candidates/m', { lost: new Error('stalled') }),
      ).rejects.toThrow(/lost/);
    });
    expect([existsSync(lock), existsSync(candidate)]).toEqual([true, true]);
  });
});

describe('branch owners', () => {
  test("are refs under refs/flotilla/owners/, never the repository's config; another run's branch is BranchTaken", async () => {
    const repo = makeRepo();
    const config = readFileSync(path.join(repo, '.git', 'config'));
    const home = tempDir('flotilla-home-');
    const acts = createActivities({ home, hostQueue: 'q@test' });
    const input = worktreeInput(repo, 'm', 't', git(repo, 'rev-parse', 'main'));
    const wt = await runActivity(acts.prepareWorktree, input);
    await runActivity(acts.prepareIntegration, { ...input, baseBranch: 'main', baseSha: null, detached: true });
    expect(readFileSync(path.join(repo, '.git', 'config'))).toEqual(config);
    expect(git(repo, 'cat-file', 'blob', ownerRef(wt.branch))).toBe(runId);
    expect(git(repo, 'cat-file', 'blob', ownerRef('flotilla/m/integration'))).toBe(runId);
    // The same run again: its own branch, reused.
    expect((await runActivity(acts.prepareWorktree, input)).created).toBe(false);
    // Another run of the mission id: refused, the branch untouched.
    const other = { ...input, runId: '0190aaaa-bbbb-7ccc-8ddd-ffffffffffff' };
    await expect(runActivity(acts.prepareWorktree, other)).rejects.toMatchObject({
      type: 'BranchTaken',
      nonRetryable: true,
    });
    expect(git(repo, 'cat-file', 'blob', ownerRef(wt.branch))).toBe(runId);
  });

  test('a branch an older Flotilla recorded in git config (branch.<b>.flotillaRun) stays its run’s; nothing is written', async () => {
    const repo = makeRepo();
    git(repo, 'branch', 'flotilla/m/tasks/old', 'main');
    git(repo, 'config', 'branch.flotilla/m/tasks/old.flotillaRun', runId);
    const config = readFileSync(path.join(repo, '.git', 'config'));
    const acts = createActivities({ home: tempDir('flotilla-home-'), hostQueue: 'q@test' });
    const input = worktreeInput(repo, 'm', 'old', git(repo, 'rev-parse', 'main'));
    expect((await runActivity(acts.prepareWorktree, input)).created).toBe(true);
    await expect(
      runActivity(acts.prepareWorktree, { ...input, runId: `${runId.slice(0, -1)}0` }),
    ).rejects.toMatchObject({
      type: 'BranchTaken',
    });
    expect(readFileSync(path.join(repo, '.git', 'config'))).toEqual(config);
  });
});

/** A worktree left as a killed `git worktree add` leaves it: registered, locked, no index, part of the files. */
function halfAdded(repo: string, dir: string, branch: string): void {
  git(repo, 'worktree', 'add', '--quiet', '--lock', '--reason', 'initializing', dir, branch);
  const own = path.join(repo, '.git', 'worktrees', path.basename(dir));
  unlinkSync(path.join(own, 'index'));
  writeFileSync(path.join(own, 'index.lock'), '');
  rmSync(path.join(dir, 'b.txt'));
}

describe('a worktree whose `git worktree add` was cut short', () => {
  test('with the marker: removed and added again in full; the retry of prepareWorktree gets a whole checkout', async () => {
    const repo = makeRepo({ 'a.txt': 'a\n', 'b.txt': 'b\n' });
    const home = tempDir('flotilla-home-');
    const acts = createActivities({ home, hostQueue: 'q@test' });
    const input = worktreeInput(repo, 'm', 't', git(repo, 'rev-parse', 'main'));
    const dir = taskWorktreePath(home, 'm', runId, 't');
    const stateDir = taskStateDir(home, 'm', runId, 't');
    // The branch exists (made before the add); the add was cut short after the marker was written.
    git(repo, 'branch', 'flotilla/m/tasks/t', 'main');
    git(repo, 'update-ref', ownerRef('flotilla/m/tasks/t'), writeOwner(repo, runId));
    mkdirSync(path.dirname(dir), { recursive: true });
    halfAdded(repo, dir, 'flotilla/m/tasks/t');
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(path.join(stateDir, ADDING_MARKER), dir);
    expect(unfinishedAdd(dir)).toMatch(/locked "initializing"/);

    const r = await runActivity(acts.prepareWorktree, input);
    expect(r.created).toBe(true);
    expect(readFileSync(path.join(dir, 'b.txt'), 'utf8')).toBe('b\n');
    expect(git(dir, 'status', '--porcelain')).toBe('');
    expect(git(repo, 'worktree', 'list', '--porcelain')).not.toContain('locked');
    expect(existsSync(path.join(stateDir, ADDING_MARKER))).toBe(false);
    expect(readdirSync(path.dirname(dir))).toEqual(['t']);
  });

  test('without the marker (in doubt): moved aside, never deleted, and git no longer holds its registration', async () => {
    const repo = makeRepo({ 'a.txt': 'a\n', 'b.txt': 'b\n' });
    git(repo, 'branch', 'b1', 'main');
    const parent = tempDir();
    const dir = path.join(parent, 'wt');
    halfAdded(repo, dir, 'b1');
    writeFileSync(path.join(dir, 'notes.txt'), 'maybe someone’s\n');
    const adding = path.join(parent, 'state', ADDING_MARKER);
    expect(await ensureWorktree(repo, dir, 'b1', adding)).toBe(true);
    const aside = readdirSync(parent).find((f) => f.startsWith('wt.stale-'))!;
    expect(readFileSync(path.join(parent, aside, 'notes.txt'), 'utf8')).toBe('maybe someone’s\n');
    expect(readFileSync(path.join(dir, 'b.txt'), 'utf8')).toBe('b\n');
    expect(git(repo, 'worktree', 'list', '--porcelain')).not.toContain('locked');
  });

  test('a whole worktree with a stale index.lock (a killed `git commit`) is reused, the lock removed', async () => {
    const repo = makeRepo({ 'a.txt': 'a\n' });
    git(repo, 'branch', 'b1', 'main');
    const parent = tempDir();
    const dir = path.join(parent, 'wt');
    git(repo, 'worktree', 'add', '--quiet', dir, 'b1');
    writeFileSync(path.join(dir, 'work.txt'), 'the agent’s\n');
    const lock = path.join(repo, '.git', 'worktrees', 'wt', 'index.lock');
    writeFileSync(lock, '');
    expect(unfinishedAdd(dir)).toBeNull();
    expect(await ensureWorktree(repo, dir, 'b1', path.join(parent, ADDING_MARKER))).toBe(false);
    expect(existsSync(lock)).toBe(false);
    expect(readFileSync(path.join(dir, 'work.txt'), 'utf8')).toBe('the agent’s\n');
    // And clearForAdd on a healthy one (no marker) never deletes it.
    await clearForAdd(repo, dir, path.join(parent, ADDING_MARKER));
    expect(existsSync(dir)).toBe(false);
    expect(readdirSync(parent).filter((f) => f.startsWith('wt.stale-'))).toHaveLength(1);
  });
});

test.each([
  ['`git add`', (repo: string): string[] => [path.join(repo, '.git', 'worktrees', 'k', 'index.lock')]],
  [
    '`git commit` (found by the soak, seed 5)',
    (repo: string): string[] => [
      path.join(repo, '.git', 'worktrees', 'k', 'index.lock'),
      path.join(repo, '.git', 'worktrees', 'k', 'HEAD.lock'),
      path.join(repo, '.git', 'refs', 'heads', 'flotilla', 'm', 'tasks', 'k.lock'),
    ],
  ],
])(
  "the task's commit after a worker died inside %s: the locks it left are removed, the work committed",
  async (_what, locks) => {
    const repo = makeRepo();
    const acts = createActivities({ home: tempDir('flotilla-home-'), hostQueue: 'q@test' });
    const base = git(repo, 'rev-parse', 'main');
    const input = worktreeInput(repo, 'm', 'k', base);
    const { worktree, branch } = await runActivity(acts.prepareWorktree, input);
    writeFileSync(path.join(worktree, 'work.txt'), 'done\n');
    for (const lock of locks(repo)) {
      mkdirSync(path.dirname(lock), { recursive: true });
      writeFileSync(lock, '');
    }
    const r = await runActivity(acts.checkpoint, {
      worktree,
      taskId: 'k',
      title: 'K',
      branch,
      baseSha: base,
      exclude: [],
    });
    expect(r.committed).toBe(true);
    expect(git(repo, 'show', '--name-only', '--format=', branch)).toBe('work.txt');
    expect(locks(repo).filter((l) => existsSync(l))).toEqual([]);
  },
);

function writeOwner(repo: string, id: string): string {
  const file = path.join(tempDir(), 'owner');
  writeFileSync(file, `${id}\n`);
  return git(repo, 'hash-object', '-w', file);
}

describe('a worktree whose removal was cut short', () => {
  /** A merged task worktree of mission m (branch merged into main), with many files. */
  async function mergedTask(): Promise<{ repo: string; home: string; wt: string; branch: string }> {
    const repo = makeRepo();
    const home = tempDir('flotilla-clean-home-');
    const acts = createActivities({ home, hostQueue: 'q@test' });
    const base = git(repo, 'rev-parse', 'main');
    const input = worktreeInput(repo, 'm', 't', base);
    const { worktree: wt, branch } = await runActivity(acts.prepareWorktree, input);
    mkdirSync(path.join(wt, 'many'));
    for (let i = 0; i < 50; i++) writeFileSync(path.join(wt, 'many', `f${i}.txt`), `${i}\n`);
    await runActivity(acts.checkpoint, { worktree: wt, taskId: 't', title: 'T', branch, baseSha: base, exclude: [] });
    git(repo, 'merge', '--quiet', '--no-ff', '-m', 'land t', branch);
    return { repo, home, wt, branch };
  }

  /**
   * What a `git worktree remove` killed midway leaves after Flotilla decided to remove `wt`; with
   * `pruned`, also what the next `git worktree prune` (another task's new worktree) makes of it.
   */
  async function cutShort(repo: string, wt: string, how: 'files' | 'git-file' | 'pruned'): Promise<void> {
    recordRemoval(wt, []);
    // File times tick coarsely (a kernel tick): the decision is put a few seconds back, what it
    // judged further.
    const [decided, past] = [new Date(Date.now() - 5_000), new Date(Date.now() - 60_000)];
    utimesSync(removalMarker(wt), decided, decided);
    const backdate = (d: string): void => {
      for (const f of readdirSync(d, { withFileTypes: true })) {
        if (f.isDirectory()) backdate(path.join(d, f.name));
        else utimesSync(path.join(d, f.name), past, past);
      }
    };
    backdate(wt);
    for (const f of readdirSync(path.join(wt, 'many')).slice(0, 20)) rmSync(path.join(wt, 'many', f));
    if (how !== 'files') rmSync(path.join(wt, '.git'));
    if (how === 'pruned') git(repo, 'worktree', 'prune');
  }

  test('the retry of removeTaskWorktree finishes it (also with the .git file gone, and git’s record of it pruned)', async () => {
    for (const how of ['files', 'git-file', 'pruned'] as const) {
      const { repo, home, wt } = await mergedTask();
      await cutShort(repo, wt, how);
      expect(removalStarted(wt)).toBe(true);
      const acts = createActivities({ home, hostQueue: 'q@test' });
      const r = await runActivity(acts.removeTaskWorktree, { missionId: 'm', runId, taskId: 't', repo, copy: [] });
      expect(r).toEqual({ removed: true, kept: null });
      expect(existsSync(wt)).toBe(false);
      expect(git(repo, 'worktree', 'list', '--porcelain')).not.toContain(wt);
      expect(removalStarted(wt)).toBe(false);
    }
  });

  test('`flotilla clean` finishes it and takes the branch; a file changed after the decision keeps it', async () => {
    for (const how of ['git-file', 'pruned'] as const) {
      const { repo, home, wt, branch } = await mergedTask();
      await cutShort(repo, wt, how);
      const facts = new Map([['m', { running: false, base: 'main' }]]);
      const plan = await planCleanup(repo, home, ['m'], facts);
      expect(plan.remove.find((i) => i.kind === 'task-worktree')).toMatchObject({ path: wt, finish: true });
      const outcome = await executeCleanup(plan);
      expect(outcome.failed).toEqual([]);
      expect(existsSync(wt)).toBe(false);
      expect(removalStarted(wt)).toBe(false);
      expect(git(repo, 'branch', '--list', branch)).toBe('');
    }

    const second = await mergedTask();
    await cutShort(second.repo, second.wt, 'files');
    writeFileSync(path.join(second.wt, 'many', 'f49.txt'), 'edited after the decision\n');
    expect(await finishRemoval(second.repo, second.wt)).toMatch(/many\/f49\.txt was modified since/);
    expect(readFileSync(path.join(second.wt, 'many', 'f49.txt'), 'utf8')).toBe('edited after the decision\n');
  });
});
