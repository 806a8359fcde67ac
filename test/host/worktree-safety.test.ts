/**
 * The one rule for removing a worktree ("nothing in it can be lost", src/git/worktree-safety.ts),
 * condition by condition, through both of its callers: the merge queue's `removeTaskWorktree`
 * activity and `flotilla clean`'s plan. Real git repositories, real processes for the agent.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { removeTaskWorktree } from '../../src/git/cleanup';
import { headAtRisk } from '../../src/git/worktree-safety';
import { paths } from '../../src/git/worktree-layout';
import { writePidFile } from '../../src/agents/process';
import { taskWorktreePath } from '../../src/git/worktree-layout';
import { planCleanup } from '../../src/client/clean';
import { bystander, killBystanders } from '../helpers/bystander';
import { git, makeRepo, tempDir } from '../helpers/git';

const runId = '0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee';
afterAll(killBystanders);

/**
 * A landed mission `m` whose task `t` is merged into main, its worktree where the merge queue puts
 * it (`$FLOTILLA_HOME/worktrees/m/<run>/tasks/t`), clean: both callers would remove it as it is.
 */
function landedTask() {
  const repo = makeRepo({ '.gitignore': 'node_modules/\n', 'README.md': '# r\n' });
  const home = tempDir('flotilla-safety-home-');
  const wt = taskWorktreePath(home, 'm', runId, 't');
  mkdirSync(path.dirname(wt), { recursive: true });
  git(repo, 'worktree', 'add', '--quiet', '-b', 'flotilla/m/tasks/t', wt, 'main');
  writeFileSync(path.join(wt, 't.txt'), 't\n');
  git(wt, 'add', 't.txt');
  git(wt, 'commit', '--quiet', '-m', 'work of t');
  git(repo, 'merge', '--quiet', '--ff-only', 'flotilla/m/tasks/t');
  git(repo, 'branch', 'flotilla/m/integration', 'main');
  const pidFile = path.join(paths.runDir(home, 'm', 't'), 'agent.pid');
  return { repo, home, wt, pidFile };
}

/** What each caller decides about the worktree: the activity's reason (null: removed), clean's plan. */
async function judge(t: ReturnType<typeof landedTask>) {
  const plan = await planCleanup(t.repo, t.home, ['m'], new Map([['m', { running: false, base: 'main' }]]));
  const kept = plan.keep.find((i) => i.kind === 'task-worktree' && i.path === t.wt);
  const removedByClean = plan.remove.some((i) => i.kind === 'task-worktree' && i.path === t.wt);
  const branchRemoved = plan.remove.some((i) => i.kind === 'task-branch');
  const clean = { kept: kept?.reason ?? null, removed: removedByClean, branchRemoved };
  const r = await removeTaskWorktree(t.home, { missionId: 'm', runId, repo: t.repo, taskId: 't', copy: [] });
  return { clean, activity: r.kept };
}

test('a clean worktree: both remove it (ignored files are not work)', async () => {
  const t = landedTask();
  mkdirSync(path.join(t.wt, 'node_modules'));
  writeFileSync(path.join(t.wt, 'node_modules', 'x.js'), 'x\n');
  const { clean, activity } = await judge(t);
  expect(clean).toEqual({ kept: null, removed: true, branchRemoved: true });
  expect(activity).toBeNull();
  expect(existsSync(t.wt)).toBe(false);
});

test.each([
  [
    'a modified tracked file',
    (wt: string) => writeFileSync(path.join(wt, 'README.md'), 'edited\n'),
    /uncommitted changes \(modified: README\.md\)/,
  ],
  [
    'a staged file',
    (wt: string) => (writeFileSync(path.join(wt, 'new.txt'), 'n\n'), git(wt, 'add', 'new.txt')),
    /uncommitted changes \(modified: new\.txt\)/,
  ],
  [
    'an untracked file that is not ignored',
    (wt: string) => writeFileSync(path.join(wt, 'notes.txt'), 'n\n'),
    /uncommitted changes \(untracked: notes\.txt\)/,
  ],
])('%s: both keep it, naming the file', async (_, change, reason) => {
  const t = landedTask();
  change(t.wt);
  const { clean, activity } = await judge(t);
  expect(clean.kept).toMatch(reason);
  expect(clean.branchRemoved).toBe(false);
  expect(activity).toMatch(reason);
  expect(existsSync(t.wt)).toBe(true);
});

test('HEAD detached at a commit made there that no ref holds: both keep it', async () => {
  const t = landedTask();
  git(t.wt, 'checkout', '--quiet', '--detach');
  git(t.wt, 'commit', '--quiet', '--allow-empty', '-m', 'only here');
  const { clean, activity } = await judge(t);
  const reason = /HEAD is detached at [0-9a-f]{12}, a commit no branch holds/;
  expect(clean.kept).toMatch(reason);
  expect(activity).toMatch(reason);
  expect(existsSync(t.wt)).toBe(true);
});

test("a reftable repository's HEAD file is a stub: a detached HEAD holding a commit no ref holds is still found", async () => {
  const t = landedTask();
  git(t.wt, 'checkout', '--quiet', '--detach');
  git(t.wt, 'commit', '--quiet', '--allow-empty', '-m', 'only here');
  // What the reftable backend (git >= 2.45) leaves in a worktree's git directory as HEAD; the
  // real HEAD lives in its tables, where only git reads it (this git 2.39 keeps files: the stub
  // stands in a copy of the directory given as the worktree's git directory).
  const stubDir = tempDir('flotilla-reftable-');
  writeFileSync(path.join(stubDir, 'HEAD'), 'ref: refs/heads/.invalid\n');
  expect(await headAtRisk(t.wt, stubDir)).toMatch(/HEAD is detached at [0-9a-f]{12}, a commit no branch holds/);
});

test('HEAD detached at a commit only checked out there (what Flotilla does with candidates): both remove it', async () => {
  const t = landedTask();
  // A commit no ref holds, made elsewhere (commit-tree, as the merge queue makes candidates).
  const candidate = git(t.repo, 'commit-tree', '-p', 'main', '-m', 'candidate', 'main^{tree}');
  git(t.wt, 'checkout', '--quiet', '--detach', candidate);
  const { clean, activity } = await judge(t);
  expect(clean.kept).toBeNull();
  expect(activity).toBeNull();
});

test('a rebase in progress (clean status, HEAD on a commit a branch holds): both keep the worktree, clean keeps the branch', async () => {
  const t = landedTask();
  // `--exec false` stops the rebase after its first pick with nothing changed: only the
  // operation itself says the worktree is busy (and `git worktree list` shows it detached).
  expect(() => git(t.wt, 'rebase', '--quiet', '--exec', 'false', 'HEAD~1')).toThrow();
  expect(git(t.wt, 'status', '--porcelain')).toBe('');
  expect(git(t.repo, 'worktree', 'list', '--porcelain')).toMatch(/tasks\/t\nHEAD [0-9a-f]+\ndetached/);
  const { clean, activity } = await judge(t);
  expect(clean.kept).toMatch(/a rebase of flotilla\/m\/tasks\/t is in progress in it/);
  expect(clean.branchRemoved).toBe(false);
  expect(activity).toMatch(/a rebase of flotilla\/m\/tasks\/t is in progress in it/);
  expect(existsSync(t.wt)).toBe(true);
});

test('a merge in progress with nothing to commit: both keep it', async () => {
  const t = landedTask();
  const other = git(t.repo, 'commit-tree', '-p', 'main~1', '-m', 'other', 'main~1^{tree}');
  git(t.repo, 'branch', 'other', other);
  git(t.wt, 'merge', '--quiet', '--no-commit', '-s', 'ours', 'other');
  expect(git(t.wt, 'status', '--porcelain')).toBe('');
  const { clean, activity } = await judge(t);
  expect(clean.kept).toMatch(/a merge is in progress in it/);
  expect(activity).toMatch(/a merge is in progress in it/);
});

test('an agent that still runs (a live group its PID file names): both keep it; a stale PID file naming a live unrelated process does not count', async () => {
  const t = landedTask();
  const agent = bystander({ cwd: t.wt });
  writePidFile(t.pidFile, agent);
  const live = await judge(t);
  expect(live.clean.kept).toBe(`an agent still runs in it (process group ${agent})`);
  expect(live.clean.branchRemoved).toBe(false);
  expect(live.activity).toBe(`an agent still runs in it (process group ${agent})`);

  // The same PID in a file from before a reboot (no identity): not an agent of this task.
  writeFileSync(t.pidFile, `${agent}\n`);
  const stale = await judge(t);
  expect(stale.clean).toEqual({ kept: null, removed: true, branchRemoved: true });
  expect(stale.activity).toBeNull();
});
