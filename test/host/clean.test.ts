/**
 * `flotilla clean`'s plan and its execution on a real repository, without Temporal (the facts it
 * would read from Temporal are given): what `git branch -d` alone would refuse (a branch merged by
 * patch only, one merged into the integration branch but not into HEAD), `copy` files, archives.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createActivities } from '../../src/activities';
import { executeCleanup, planCleanup } from '../../src/client/clean';
import { git, makeRepo, mergeOnlyWork, tempDir } from '../helpers/git';
import { runActivity, worktreeInput } from '../helpers/activities';

test('a branch merged by patch, or only into the integration branch, is archived and deleted; copies of `copy` files do not make a worktree dirty', async () => {
  const repo = makeRepo();
  // A `copy` file the repository does not ignore (an ignored one never shows as untracked).
  writeFileSync(path.join(repo, 'local.cfg'), 'port=1\n');
  const home = tempDir('flotilla-clean-home-');
  const run = path.join(home, 'worktrees', 'm', '0123456789abcdef0123456789abcdef');
  git(repo, 'branch', 'flotilla/m/integration');
  mkdirSync(path.join(run, 'tasks'), { recursive: true });
  for (const t of ['picked', 'merged']) {
    const wt = path.join(run, 'tasks', t);
    git(repo, 'worktree', 'add', '--quiet', '-b', `flotilla/m/tasks/${t}`, wt, 'main');
    writeFileSync(path.join(wt, `${t}.txt`), `${t}\n`);
    git(wt, 'add', `${t}.txt`);
    git(wt, 'commit', '--quiet', '-m', `work of ${t}`);
  }
  // The mission copied local.cfg into one worktree: an identical copy is nobody's work.
  writeFileSync(path.join(run, 'tasks', 'merged', 'local.cfg'), 'port=1\n');
  git(repo, 'cherry-pick', 'flotilla/m/tasks/picked');
  const integration = path.join(run, 'integration');
  git(repo, 'worktree', 'add', '--quiet', integration, 'flotilla/m/integration');
  git(integration, 'merge', '--quiet', '--no-ff', '-m', 'merge merged', 'flotilla/m/tasks/merged');
  const tips = {
    picked: git(repo, 'rev-parse', 'flotilla/m/tasks/picked'),
    merged: git(repo, 'rev-parse', 'flotilla/m/tasks/merged'),
  };

  const facts = new Map([['m', { running: false, base: 'main', copy: ['local.cfg'] }]]);
  const plan = await planCleanup(repo, home, ['m'], facts);
  expect(plan.remove.map((i) => `${i.kind} ${i.name}`).sort()).toEqual([
    'task-branch flotilla/m/tasks/merged',
    'task-branch flotilla/m/tasks/picked',
    'task-worktree flotilla/m/tasks/merged',
    'task-worktree flotilla/m/tasks/picked',
  ]);
  expect(plan.keep.map((i) => `${i.kind} ${i.name}: ${i.reason}`).sort()).toEqual([
    'integration-branch flotilla/m/integration: not landed: its tip is not in main (flotilla land m)',
    'integration-worktree flotilla/m/integration: flotilla/m/integration has not landed on main',
  ]);

  const outcome = await executeCleanup(plan);
  expect(outcome.failed).toEqual([]);
  expect(git(repo, 'branch', '--list', 'flotilla/*', '--format=%(refname:short)')).toBe('flotilla/m/integration');
  expect(git(repo, 'rev-parse', 'refs/flotilla/archive/m/picked')).toBe(tips.picked);
  expect(git(repo, 'rev-parse', 'refs/flotilla/archive/m/merged')).toBe(tips.merged);
  expect(existsSync(path.join(run, 'tasks', 'merged'))).toBe(false);
  // `git branch -d` took its upstream setting with the branch.
  expect(git(repo, 'config', '--list')).not.toContain('branch.flotilla/m/tasks');
  // Nothing of the repository's own checkout changed.
  expect(git(repo, 'status', '--porcelain')).toBe('?? local.cfg');
});

test('a task branch whose work is partly only in a merge commit is kept: not merged', async () => {
  const { repo, branch } = mergeOnlyWork();
  const home = tempDir('flotilla-clean-home-');
  const plan = await planCleanup(repo, home, ['m'], new Map([['m', { running: false, base: 'main' }]]));
  expect(plan.remove.map((i) => `${i.kind} ${i.name}`)).toEqual([]);
  expect(plan.keep.find((i) => i.name === branch)?.reason).toMatch(/^not merged: /);
  // Once the integration branch takes the branch itself (its merge commit too), it is merged there.
  git(repo, 'checkout', '--quiet', 'flotilla/m/integration');
  git(repo, 'merge', '--quiet', '--no-ff', '-m', 'merge t', branch);
  git(repo, 'checkout', '--quiet', 'main');
  const after = await planCleanup(repo, home, ['m'], new Map([['m', { running: false, base: 'main' }]]));
  expect(after.remove.map((i) => `${i.kind} ${i.name}`)).toEqual([`task-branch ${branch}`]);
});

test('what setup made that nobody changed since (a lock file) does not make a merged task worktree dirty', async () => {
  const repo = makeRepo({ 'package.json': '{"name":"app"}\n' });
  const home = tempDir('flotilla-clean-home-');
  const acts = createActivities({ home, hostQueue: 'q@test' });
  const base = git(repo, 'rev-parse', 'main');
  const wt = await runActivity(
    acts.prepareWorktree,
    worktreeInput(repo, 's', 't', base, {
      setup: ['echo lock > package-lock.json && echo \'{ "name": "app" }\' > package.json'],
    }),
  );
  writeFileSync(path.join(wt.worktree, 'test.js'), 'test\n');
  await runActivity(acts.checkpoint, {
    worktree: wt.worktree,
    taskId: 't',
    title: 'T',
    branch: wt.branch,
    baseSha: base,
    exclude: [],
  });
  git(repo, 'merge', '--quiet', '--no-ff', '-m', 'land t', wt.branch);

  const plan = await planCleanup(repo, home, ['s'], new Map([['s', { running: false, base: 'main', copy: [] }]]));
  expect(plan.keep.filter((i) => i.kind === 'task-worktree')).toEqual([]);
  expect(plan.remove.find((i) => i.kind === 'task-worktree')).toMatchObject({
    removable: { setupLeftovers: expect.arrayContaining(['package-lock.json', 'package.json']) },
  });
  const outcome = await executeCleanup(plan);
  expect(outcome.failed).toEqual([]);
  expect(existsSync(wt.worktree)).toBe(false);
});

test("owner records and leases go with their branch, stale checkpoints are archived, and the repository's config is not written", async () => {
  const repo = makeRepo();
  const home = tempDir('flotilla-clean-home-');
  for (const t of ['done', 'open']) {
    git(repo, 'branch', `flotilla/m/tasks/${t}`, 'main');
    git(repo, 'checkout', '--quiet', `flotilla/m/tasks/${t}`);
    writeFileSync(path.join(repo, `${t}.txt`), `${t}\n`);
    git(repo, 'add', `${t}.txt`);
    git(repo, 'commit', '--quiet', '-m', `work of ${t}`);
    git(repo, 'checkout', '--quiet', 'main');
    const owner = path.join(tempDir(), 'owner');
    writeFileSync(owner, 'run\n');
    git(repo, 'update-ref', `refs/flotilla/owners/flotilla/m/tasks/${t}`, git(repo, 'hash-object', '-w', owner));
    git(repo, 'update-ref', `refs/flotilla/leases/heads/flotilla/m/tasks/${t}`, `flotilla/m/tasks/${t}`);
  }
  git(repo, 'merge', '--quiet', '--no-ff', '-m', 'land done', 'flotilla/m/tasks/done');
  // A lease of a checkpoint that is gone, and a worktree discarded before it was made again.
  git(repo, 'update-ref', 'refs/flotilla/leases/flotilla/checkpoints/m/gone', 'main');
  git(repo, 'update-ref', 'refs/flotilla/stale-checkpoints/m/open/1700000000000', 'flotilla/m/tasks/open');
  // An owner an older Flotilla kept in config (its `git branch -d` took the section with the branch).
  git(repo, 'config', 'branch.flotilla/m/tasks/done.flotillaRun', 'run');
  const config = readFileSync(path.join(repo, '.git', 'config'), 'utf8');
  const staleTip = git(repo, 'rev-parse', 'refs/flotilla/stale-checkpoints/m/open/1700000000000');

  const plan = await planCleanup(repo, home, ['m'], new Map([['m', { running: false, base: 'main' }]]));
  expect(plan.remove.map((i) => `${i.kind} ${i.name}`).sort()).toEqual([
    'lease-ref refs/flotilla/leases/flotilla/checkpoints/m/gone',
    'lease-ref refs/flotilla/leases/heads/flotilla/m/tasks/done',
    'owner-ref refs/flotilla/owners/flotilla/m/tasks/done',
    'stale-checkpoint-ref refs/flotilla/stale-checkpoints/m/open/1700000000000',
    'task-branch flotilla/m/tasks/done',
  ]);
  expect(plan.keep.map((i) => `${i.kind} ${i.name}: ${i.reason}`).sort()).toEqual([
    'lease-ref refs/flotilla/leases/heads/flotilla/m/tasks/open: refs/heads/flotilla/m/tasks/open stays',
    'owner-ref refs/flotilla/owners/flotilla/m/tasks/open: refs/heads/flotilla/m/tasks/open stays',
    expect.stringMatching(/^task-branch flotilla\/m\/tasks\/open: not merged/),
  ]);
  const outcome = await executeCleanup(plan);
  expect(outcome.failed).toEqual([]);
  expect(git(repo, 'for-each-ref', '--format=%(refname)', 'refs/flotilla/').split('\n').sort()).toEqual([
    'refs/flotilla/archive/m/done',
    'refs/flotilla/archive/m/open.stale-1700000000000',
    'refs/flotilla/leases/heads/flotilla/m/tasks/open',
    'refs/flotilla/owners/flotilla/m/tasks/open',
  ]);
  expect(git(repo, 'rev-parse', 'refs/flotilla/archive/m/open.stale-1700000000000')).toBe(staleTip);
  // Only the old owner's section went, as `git branch -d` took it; nothing else was written.
  expect(readFileSync(path.join(repo, '.git', 'config'), 'utf8')).toBe(
    config.replace('[branch "flotilla/m/tasks/done"]\n\tflotillaRun = run\n', ''),
  );
});

test('a branch is deleted only while its work is still where the plan found it, and no worktree uses it', async () => {
  const repo = makeRepo();
  git(repo, 'branch', 'flotilla/m/tasks/t', 'main');
  git(repo, 'checkout', '--quiet', 'flotilla/m/tasks/t');
  writeFileSync(path.join(repo, 't.txt'), 't\n');
  git(repo, 'add', 't.txt');
  git(repo, 'commit', '--quiet', '-m', 'work of t');
  git(repo, 'checkout', '--quiet', 'main');
  git(repo, 'branch', 'flotilla/m/integration', 'flotilla/m/tasks/t');
  const home = tempDir('flotilla-clean-home-');
  const plan = await planCleanup(repo, home, ['m'], new Map([['m', { running: false, base: 'main' }]]));
  expect(plan.remove.map((i) => `${i.kind} ${i.name}`)).toEqual(['task-branch flotilla/m/tasks/t']);
  // Meanwhile the integration branch is moved back (its work is nowhere now), and someone checks the branch out.
  git(repo, 'update-ref', 'refs/heads/flotilla/m/integration', 'main');
  const outcome = await executeCleanup(plan);
  expect(outcome.failed.map((i) => i.reason)).toEqual([
    "kept: flotilla/m/tasks/t's work is no longer in refs/heads/flotilla/m/integration",
  ]);
  const wt = path.join(tempDir(), 'wt');
  git(repo, 'worktree', 'add', '--quiet', wt, 'flotilla/m/tasks/t');
  git(repo, 'update-ref', 'refs/heads/flotilla/m/integration', 'flotilla/m/tasks/t');
  const again = await executeCleanup(plan);
  expect(again.failed.map((i) => i.reason)).toEqual([`kept: flotilla/m/tasks/t is in use in ${wt}`]);
  expect(git(repo, 'rev-parse', 'flotilla/m/tasks/t')).toBe(plan.remove[0].sha);
});
