/**
 * `flotilla land` and `flotilla clean` as a user runs them, on missions the real CLI ran (its own
 * in-process worker, `command` agents) in real git repositories. Both rely only on refs and the
 * mission's final progress, so they hold whichever way the workflow merges.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MissionProgress } from '../../src/mission/progress';
import { CliProcess, runCli, spawnCli } from '../helpers/cli';
import { git, makeRepo, tempDir } from '../helpers/git';
import { startDevServer } from '../helpers/temporal';

let env: TestWorkflowEnvironment;
const home = tempDir('flotilla-land-home-');
const dir = tempDir('flotilla-land-');

beforeAll(async () => {
  env = await startDevServer();
}, 180_000);

afterAll(async () => {
  await env?.teardown();
});

const cliEnv = (): NodeJS.ProcessEnv => ({
  TEMPORAL_ADDRESS: env.address,
  FLOTILLA_HOME: home,
  FLOTILLA_TASK_QUEUE: 'flotilla-land',
});
const flotilla = (args: string[], cwd?: string) => runCli(args, { env: cliEnv(), cwd, timeoutMs: 180_000 });
const started: CliProcess[] = [];
afterEach(async () => {
  for (const cli of started.splice(0)) {
    cli.kill('SIGKILL');
    await cli.result;
  }
});

interface Mission {
  id: string;
  repo: string;
  file: string;
}

/**
 * A mission of two `command` tasks, `a` and `b`, each adding its own file (bash scripts: test
 * code, not user input), with its worktrees kept after merging so `clean` has them to judge.
 */
function missionFile(id: string, extra: Record<string, unknown> = {}, files: Record<string, string> = {}): Mission {
  const repo = makeRepo({ 'README.md': '# test\n', ...files });
  const file = path.join(dir, `${id}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      id,
      repo,
      keepWorktrees: true,
      agent: { runtime: 'command', retries: 0 },
      policy: { onMergeConflict: 'fail', onVerifyFailure: 'fail' },
      tasks: ['a', 'b'].map((t) => ({
        id: t,
        title: `Add ${t}.txt`,
        prompt: `add ${t}.txt`,
        agent: { command: ['bash', '-c', `echo ${t} > ${t}.txt`] },
      })),
      ...extra,
    }),
  );
  return { id, repo, file };
}

/** Runs the mission to its end and returns its final progress. */
async function runMission(m: Mission): Promise<MissionProgress> {
  const r = await flotilla(['run', m.file]);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
  const status = await flotilla(['status', m.id, '--json']);
  const p = JSON.parse(status.stdout) as MissionProgress;
  expect(p.phase).toBe('completed');
  return p;
}

/** Every ref and worktree of the repository: what `clean` without --yes must leave exactly as is. */
const snapshot = (repo: string): string =>
  `${git(repo, 'for-each-ref', '--format=%(refname) %(objectname)')}\n${git(repo, 'worktree', 'list', '--porcelain')}`;

/** The commit message subject and the files a user's commit on `main` adds. */
function commitOnMain(repo: string, files: Record<string, string | null>, message: string): string {
  for (const [f, content] of Object.entries(files)) {
    if (content === null) git(repo, 'rm', '--quiet', f);
    else {
      writeFileSync(path.join(repo, f), content);
      git(repo, 'add', f);
    }
  }
  git(repo, 'commit', '--quiet', '-m', message);
  return git(repo, 'rev-parse', 'HEAD');
}

test('land --ff fast-forwards the checked-out base, leaves an untracked file alone, and a second land changes nothing', async () => {
  const m = missionFile('land-ff');
  const p = await runMission(m);
  writeFileSync(path.join(m.repo, 'notes.txt'), 'mine, untracked\n');

  const r = await flotilla(['land', m.id]);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(r.stdout).toContain(
    `landed mission ${m.id} on main: ${p.baseSha!.slice(0, 8)} -> ${p.integrationSha!.slice(0, 8)}`,
  );
  expect(r.stdout).toContain(`fast-forwarded the checkout in ${m.repo}`);
  expect(git(m.repo, 'rev-parse', 'main')).toBe(p.integrationSha);
  // The checkout followed the branch: the tasks' files are there, the user's untracked file too.
  expect(readFileSync(path.join(m.repo, 'a.txt'), 'utf8')).toBe('a\n');
  expect(readFileSync(path.join(m.repo, 'b.txt'), 'utf8')).toBe('b\n');
  expect(readFileSync(path.join(m.repo, 'notes.txt'), 'utf8')).toBe('mine, untracked\n');
  expect(git(m.repo, 'status', '--porcelain')).toBe('?? notes.txt');

  const again = await flotilla(['land', m.id, '--json']);
  expect(again.code).toBe(0);
  expect(JSON.parse(again.stdout)).toMatchObject({
    landed: p.integrationSha,
    mode: 'ff',
    base: 'main',
    alreadyLanded: true,
    tasks: ['a', 'b'],
  });
  expect(git(m.repo, 'rev-parse', 'main')).toBe(p.integrationSha);
});

test('land refuses a checkout with modified tracked files (exit 3) and changes nothing; unknown missions exit 4', async () => {
  const m = missionFile('land-dirty');
  const p = await runMission(m);
  writeFileSync(path.join(m.repo, 'README.md'), '# my edit\n');

  const r = await flotilla(['land', m.id]);
  expect(r.code).toBe(3);
  expect(r.stderr).toMatch(/main is checked out in .* with uncommitted changes to tracked files \(README\.md\)/);
  expect(r.stderr).toMatch(/stash/);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(git(m.repo, 'rev-parse', 'main')).toBe(p.baseSha);
  expect(readFileSync(path.join(m.repo, 'README.md'), 'utf8')).toBe('# my edit\n');
  expect(existsSync(path.join(m.repo, 'a.txt'))).toBe(false);

  const unknown = await flotilla(['land', 'nope']);
  expect(unknown.code).toBe(4);
  expect(unknown.stderr).toMatch(/no mission "nope"/);
  const badFlags = await flotilla(['land', m.id, '--pr']);
  expect(badFlags.code).toBe(2);
  expect(badFlags.stderr).toMatch(/--pr needs a remote/);
});

test('land after the base moved merges it into a candidate and runs the mission verify there first', async () => {
  const verifyLog = path.join(dir, 'moved.verify.log');
  // The verify records which commit it ran on, and fails wherever poison.txt exists.
  const m = missionFile('land-moved', {
    verify: [`git rev-parse HEAD >> ${verifyLog}`, 'test ! -f poison.txt'],
  });
  const p = await runMission(m);

  // A commit on main that breaks the verify: nothing lands, and the output says why.
  commitOnMain(m.repo, { 'poison.txt': 'x\n' }, 'break the verify');
  const broken = await flotilla(['land', m.id]);
  expect(broken.code).toBe(1);
  expect(broken.stderr).toMatch(
    /the mission verify failed on [0-9a-f]{8} \(flotilla\/land-moved\/integration with main's new commits merged in\)/,
  );
  expect(broken.stderr).toContain('`test ! -f poison.txt` exited 1');
  const mainBefore = commitOnMain(m.repo, { 'poison.txt': null, 'later.txt': 'later\n' }, 'fix it, add later.txt');

  const r = await flotilla(['land', m.id, '--json']);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  const landed = JSON.parse(r.stdout) as { landed: string; baseMerged: boolean; verified: boolean; baseBefore: string };
  expect(landed).toMatchObject({ baseMerged: true, verified: true, baseBefore: mainBefore });
  // The candidate merges main into the integration branch; main moved to it, verified there.
  expect(git(m.repo, 'rev-parse', 'main')).toBe(landed.landed);
  expect(git(m.repo, 'rev-parse', `${landed.landed}^1`, `${landed.landed}^2`).split('\n')).toEqual([
    p.integrationSha,
    mainBefore,
  ]);
  expect(readFileSync(verifyLog, 'utf8').trim().split('\n').pop()).toBe(landed.landed);
  for (const f of ['a.txt', 'b.txt', 'later.txt']) expect(existsSync(path.join(m.repo, f))).toBe(true);
  // The integration worktree stays detached (the merge queue moves its branch with update-ref).
  const integration = git(m.repo, 'worktree', 'list', '--porcelain')
    .split('\n\n')
    .find((w) => /^worktree .*\/integration$/m.test(w));
  expect(integration).toMatch(/^detached$/m);
});

test('land on a base that conflicts with the mission exits 3 naming the files and changes nothing', async () => {
  const m = missionFile('land-conflict');
  const p = await runMission(m);
  const mainBefore = commitOnMain(m.repo, { 'a.txt': 'mine\n' }, 'a.txt of my own');

  const r = await flotilla(['land', m.id]);
  expect(r.code).toBe(3);
  expect(r.stderr).toMatch(
    /main changed since mission land-conflict started, and merging it into flotilla\/land-conflict\/integration conflicts in a\.txt/,
  );
  expect(r.stderr).toMatch(/merge main`, resolve the conflicts/);
  expect(git(m.repo, 'rev-parse', 'main')).toBe(mainBefore);
  expect(git(m.repo, 'rev-parse', p.integrationBranch)).toBe(p.integrationSha);
  expect(git(m.repo, 'status', '--porcelain')).toBe('');
});

test('clean lists without changing anything; clean --yes removes what landed, archives branches, keeps dirty worktrees and unmerged branches', async () => {
  const m = missionFile('tidy');
  const p = await runMission(m);
  expect((await flotilla(['land', m.id])).code).toBe(0);

  const worktrees = git(m.repo, 'worktree', 'list', '--porcelain');
  const worktreeOf = (branch: string): string =>
    /^worktree (.+)$/m.exec(worktrees.split('\n\n').find((w) => w.includes(`branch refs/heads/${branch}`))!)![1];
  const wtA = worktreeOf('flotilla/tidy/tasks/a');
  const wtB = worktreeOf('flotilla/tidy/tasks/b');
  // The integration worktree is detached: found by its folder (worktree-layout.ts).
  const wtInt = /^worktree (.+\/integration)$/m.exec(worktrees)![1];
  const tipA = git(m.repo, 'rev-parse', 'flotilla/tidy/tasks/a');
  // A dirty task worktree, and a task branch with a commit that is nowhere else.
  writeFileSync(path.join(wtB, 'scratch.txt'), 'unsaved\n');
  git(m.repo, 'branch', 'flotilla/tidy/tasks/x', 'main');
  git(m.repo, 'worktree', 'add', '--quiet', path.join(dir, 'x-wt'), 'flotilla/tidy/tasks/x');
  writeFileSync(path.join(dir, 'x-wt', 'x.txt'), 'x\n');
  git(path.join(dir, 'x-wt'), 'add', 'x.txt');
  git(path.join(dir, 'x-wt'), 'commit', '--quiet', '-m', 'extra work');
  git(m.repo, 'worktree', 'remove', path.join(dir, 'x-wt'));

  const before = snapshot(m.repo);
  // Without an id, from inside the repository: every mission found there.
  const listed = await flotilla(['clean', '--json'], m.repo);
  expect({ code: listed.code, stderr: listed.stderr }).toEqual({ code: 0, stderr: '' });
  expect(snapshot(m.repo)).toBe(before);
  const plan = JSON.parse(listed.stdout) as {
    remove: Array<{ kind: string; name: string; path?: string }>;
    keep: Array<{ kind: string; name: string; reason: string }>;
  };
  const removes = plan.remove.map((i) => `${i.kind} ${i.path ?? i.name}`);
  expect(removes).toEqual(
    expect.arrayContaining([
      `task-worktree ${wtA}`,
      'task-branch flotilla/tidy/tasks/a',
      `integration-worktree ${wtInt}`,
      'integration-branch flotilla/tidy/integration',
    ]),
  );
  expect(removes.filter((r) => r.includes('tasks/b') || r.includes('tasks/x'))).toEqual([]);
  const reasons = Object.fromEntries(plan.keep.map((i) => [`${i.kind} ${i.name}`, i.reason]));
  expect(reasons['task-worktree flotilla/tidy/tasks/b']).toMatch(/uncommitted changes \(untracked: scratch\.txt\)/);
  expect(reasons['task-branch flotilla/tidy/tasks/b']).toMatch(/uncommitted changes/);
  expect(reasons['task-branch flotilla/tidy/tasks/x']).toMatch(/not merged/);

  const text = await flotilla(['clean', m.id]);
  expect(text.code).toBe(0);
  expect(text.stdout).toMatch(/keep\s+task branch\s+flotilla\/tidy\/tasks\/x: not merged/);
  expect(text.stdout).toMatch(/nothing was changed: add --yes to remove them/);
  expect(snapshot(m.repo)).toBe(before);

  const r = await flotilla(['clean', m.id, '--yes']);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(r.stdout).toMatch(
    /removed\s+task branch\s+flotilla\/tidy\/tasks\/a\s+\(archived as refs\/flotilla\/archive\/tidy\/a\)/,
  );
  const branches = git(m.repo, 'branch', '--list', 'flotilla/*', '--format=%(refname:short)').split('\n');
  expect(branches.sort()).toEqual(['flotilla/tidy/tasks/b', 'flotilla/tidy/tasks/x']);
  expect(git(m.repo, 'rev-parse', 'refs/flotilla/archive/tidy/a')).toBe(tipA);
  expect(git(m.repo, 'rev-parse', 'refs/flotilla/archive/tidy/integration')).toBe(p.integrationSha);
  expect(existsSync(wtA)).toBe(false);
  expect(existsSync(wtInt)).toBe(false);
  expect(readFileSync(path.join(wtB, 'scratch.txt'), 'utf8')).toBe('unsaved\n');
  // A landed mission's checkpoints of merged tasks go; the repository's own checkout is untouched.
  expect(git(m.repo, 'for-each-ref', 'refs/flotilla/checkpoints/tidy/a')).toBe('');
  expect(git(m.repo, 'status', '--porcelain')).toBe('');
  expect(git(m.repo, 'rev-parse', 'main')).toBe(p.integrationSha);

  // Once the dirty worktree is cleaned up by its owner, a second clean takes it and its branch.
  git(wtB, 'clean', '--quiet', '-f');
  const second = await flotilla(['clean', m.id, '--yes', '--json']);
  expect(second.code).toBe(0);
  const done = JSON.parse(second.stdout) as { removed: Array<{ kind: string; name: string }> };
  expect(done.removed.map((i) => `${i.kind} ${i.name}`)).toEqual(
    expect.arrayContaining(['task-worktree flotilla/tidy/tasks/b', 'task-branch flotilla/tidy/tasks/b']),
  );
  expect(git(m.repo, 'branch', '--list', 'flotilla/*', '--format=%(refname:short)')).toBe('flotilla/tidy/tasks/x');
});

test('clean keeps everything of a running mission', async () => {
  const go = path.join(dir, 'running.go');
  const m = missionFile('busy', {
    tasks: [
      {
        id: 'wait',
        prompt: 'wait',
        agent: { command: ['bash', '-c', `while [ ! -f ${go} ]; do sleep 0.2; done; echo w > w.txt`] },
      },
    ],
  });
  const run = spawnCli(['run', m.file], { env: cliEnv(), timeoutMs: 180_000 });
  started.push(run);
  await run.waitFor(/▶ wait running/, 90_000);
  const r = await flotilla(['clean', m.id, '--yes', '--json']);
  expect(r.code).toBe(0);
  const out = JSON.parse(r.stdout) as { remove: unknown[]; keep: Array<{ kind: string; reason: string }> };
  expect(out.remove).toEqual([]);
  expect(out.keep.map((i) => i.kind)).toEqual(
    expect.arrayContaining(['task-worktree', 'task-branch', 'integration-branch']),
  );
  expect(new Set(out.keep.map((i) => i.reason))).toEqual(new Set(['in use by a running mission']));
  const land = await flotilla(['land', m.id]);
  expect(land.code).toBe(1);
  expect(land.stderr).toMatch(/mission "busy" is still running/);
  writeFileSync(go, '');
  expect((await run.result).code).toBe(0);
});

test('land --push REMOTE --pr pushes the integration branch and writes the description; --push lands on the remote base', async () => {
  const m = missionFile('land-push', { verify: ['true'] });
  const p = await runMission(m);
  const remote = tempDir('flotilla-land-remote-');
  git(remote, 'init', '--quiet', '--bare');
  git(m.repo, 'remote', 'add', 'origin', remote);
  git(m.repo, 'push', '--quiet', 'origin', 'main');
  // A PATH with git and nothing else: no `gh`, whatever this machine has.
  const bin = tempDir('flotilla-land-bin-');
  symlinkSync(execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim(), path.join(bin, 'git'));
  const noGh = { env: { ...cliEnv(), PATH: bin }, timeoutMs: 180_000 };

  const pr = await runCli(['land', m.id, '--push', 'origin', '--pr'], noGh);
  expect({ code: pr.code, stderr: pr.stderr }).toEqual({ code: 0, stderr: '' });
  expect(git(remote, 'rev-parse', p.integrationBranch)).toBe(p.integrationSha);
  expect(git(remote, 'rev-parse', 'main')).toBe(p.baseSha);
  expect(pr.stdout).toMatch(/gh is not on PATH: create the pull request with/);
  const descriptionFile = path.join(home, 'land', m.id, 'pr-description.md');
  expect(pr.stdout).toContain(`gh pr create --base main --head ${p.integrationBranch} --title`);
  expect(pr.stdout).toContain(`--body-file ${descriptionFile}`);
  const description = readFileSync(descriptionFile, 'utf8');
  expect(description).toContain('Mission `land-push`');
  expect(description).toMatch(/\| `a` \| Add a\.txt \| command \| \$0\.00 \| 1 \(\+1 −0\) \|/);
  expect(description).toContain('- `true`');

  const push = await runCli(['land', m.id, '--push', 'origin', '--json'], noGh);
  expect({ code: push.code, stderr: push.stderr }).toEqual({ code: 0, stderr: '' });
  expect(JSON.parse(push.stdout)).toMatchObject({
    landed: p.integrationSha,
    mode: 'push',
    remote: 'origin',
    pushed: ['main'],
  });
  expect(git(remote, 'rev-parse', 'main')).toBe(p.integrationSha);
  // The local base is the user's: a push landing leaves it where it was.
  expect(git(m.repo, 'rev-parse', 'main')).toBe(p.baseSha);
});
