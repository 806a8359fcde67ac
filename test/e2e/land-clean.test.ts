/**
 * `flotilla land` and `flotilla clean` as a user runs them, on missions the real CLI ran (its own
 * in-process worker, `command` agents) in real git repositories. Both rely only on refs and the
 * mission's final progress, so they hold whichever way the workflow merges.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MissionProgress } from '../../src/mission/progress';
import { CLI_JS, runCli } from '../helpers/cli';
import { cliSuite } from '../helpers/cli-suite';
import { git, makeRepo, tempDir } from '../helpers/git';

const suite = cliSuite('land');
const { home, dir, cliEnv, flotilla, spawnFlotilla } = suite;

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
  expect(r.stderr).toMatch(/ merge --no-edit main\n\s+# your part: resolve the conflicts in a\.txt/);
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
  const listed = await flotilla(['clean', '--json'], { cwd: m.repo });
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
  const run = spawnFlotilla(['run', m.file]);
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

/** Commits `files` on `branch` while it is not checked out anywhere, in a worktree made for it and removed after. */
function commitOnBranch(repo: string, branch: string, files: Record<string, string>, message: string): string {
  const wt = path.join(tempDir('flotilla-land-side-'), 'wt');
  git(repo, 'worktree', 'add', '--quiet', wt, branch);
  for (const [f, content] of Object.entries(files)) {
    writeFileSync(path.join(wt, f), content);
    git(wt, 'add', f);
  }
  git(wt, 'commit', '--quiet', '-m', message);
  git(repo, 'worktree', 'remove', wt);
  return git(repo, 'rev-parse', branch);
}

/** The working directories the mission verify ran in, from a log its `pwd >> log` wrote. */
const verifyDirs = (log: string): string[] => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);

/** A command that `land`'s message puts between backquotes and that starts with `prefix`. */
function quotedCommand(message: string, prefix: string): string {
  const found = message
    .match(/`([^`]+)`/g)
    ?.map((q) => q.slice(1, -1))
    .find((c) => c.startsWith(prefix));
  if (!found) throw new Error(`no \`${prefix}...\` in:\n${message}`);
  return found;
}

/**
 * Runs one line of land's advice as a user pastes it, in a shell whose PATH finds `flotilla` (the
 * built CLI, with this test's Temporal and home).
 */
function paste(line: string): { code: number; out: string } {
  const bin = path.join(dir, 'bin');
  if (!existsSync(path.join(bin, 'flotilla'))) {
    mkdirSync(bin, { recursive: true });
    writeFileSync(path.join(bin, 'flotilla'), `#!/bin/sh\nexec "${process.execPath}" "${CLI_JS}" "$@"\n`, {
      mode: 0o755,
    });
  }
  const r = spawnSync('sh', ['-c', line], {
    encoding: 'utf8',
    cwd: tempDir('flotilla-land-cwd-'),
    env: { ...process.env, ...cliEnv(), PATH: `${bin}:${process.env.PATH}` },
    timeout: 180_000,
  });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** The advice's commands: the lines indented by four spaces after "paste these commands". */
function adviceLines(message: string): string[] {
  const after = message.slice(message.indexOf('paste these commands'));
  return after
    .split('\n')
    .filter((l) => l.startsWith('    '))
    .map((l) => l.slice(4));
}

describe("the user's own checkouts and land's advice", () => {
  test("an uncommitted edit in the user's checkout of the integration branch (git switch) survives every land; stashing it, as land says, lands without it", async () => {
    const log = path.join(dir, 'switch.verify.log');
    const m = missionFile('land-switch', { verify: [`pwd >> ${log}`] });
    const p = await runMission(m);
    const ranBefore = verifyDirs(log).length;
    git(m.repo, 'switch', '--quiet', p.integrationBranch);
    writeFileSync(path.join(m.repo, 'a.txt'), 'my edit, not committed\n');
    const mainBefore = commitOnBranch(m.repo, 'main', { 'later.txt': 'later\n' }, 'the base moves');

    let message = '';
    for (const args of [
      ['land', m.id, '--partial'],
      ['land', m.id],
    ]) {
      const r = await flotilla(args);
      expect(readFileSync(path.join(m.repo, 'a.txt'), 'utf8')).toBe('my edit, not committed\n');
      expect({ args, code: r.code }).toEqual({ args, code: 3 });
      expect(r.stderr).toContain(
        `${p.integrationBranch} is checked out in ${m.repo} with uncommitted changes to tracked files (a.txt)`,
      );
      expect(r.stderr).not.toMatch(/\n\s+at /);
      message = r.stderr;
      expect(git(m.repo, 'symbolic-ref', '--short', 'HEAD')).toBe(p.integrationBranch);
      expect(git(m.repo, 'status', '--porcelain')).toBe('M a.txt');
      expect(git(m.repo, 'rev-parse', 'main')).toBe(mainBefore);
    }
    expect(verifyDirs(log)).toHaveLength(ranBefore);

    // Go on as the message says: stash the edit, land, then take the edit back.
    expect(paste(quotedCommand(message, `git -C ${m.repo} stash`)).code).toBe(0);
    const r = await flotilla(['land', m.id, '--json']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toMatchObject({ baseMerged: true, verified: true, baseBefore: mainBefore });
    // The verify ran once more, in Flotilla's own worktree, never in the user's checkout.
    expect(verifyDirs(log)).toHaveLength(ranBefore + 1);
    for (const d of verifyDirs(log)) expect(d.startsWith(path.join(home, 'worktrees', m.id) + path.sep)).toBe(true);
    expect(git(m.repo, 'symbolic-ref', '--short', 'HEAD')).toBe(p.integrationBranch);
    expect(git(m.repo, 'rev-parse', 'HEAD')).toBe(p.integrationSha);
    git(m.repo, 'stash', 'pop', '--quiet');
    expect(readFileSync(path.join(m.repo, 'a.txt'), 'utf8')).toBe('my edit, not committed\n');
    expect(git(m.repo, 'show', 'main:a.txt')).toBe('a');
  });

  test('an uncommitted edit in a worktree of the integration branch (git worktree add) survives every land; committing it, as land says, lands it, and the worktree is left as it is', async () => {
    const log = path.join(dir, 'wt.verify.log');
    const m = missionFile('land-wt', { verify: [`pwd >> ${log}`] });
    const p = await runMission(m);
    const ranBefore = verifyDirs(log).length;
    const mine = path.join(tempDir('flotilla-land-mine-'), 'integration');
    git(m.repo, 'worktree', 'add', '--quiet', mine, p.integrationBranch);
    writeFileSync(path.join(mine, 'a.txt'), 'my fix\n');
    writeFileSync(path.join(mine, 'scratch.txt'), 'untracked, mine\n');
    const mainBefore = commitOnMain(m.repo, { 'later.txt': 'later\n' }, 'the base moves');

    let message = '';
    for (const args of [
      ['land', m.id, '--partial'],
      ['land', m.id],
    ]) {
      const r = await flotilla(args);
      expect(readFileSync(path.join(mine, 'a.txt'), 'utf8')).toBe('my fix\n');
      expect({ args, code: r.code }).toEqual({ args, code: 3 });
      expect(r.stderr).toContain(`${p.integrationBranch} is checked out in ${mine} with uncommitted changes`);
      message = r.stderr;
      expect(git(m.repo, 'rev-parse', 'main')).toBe(mainBefore);
    }
    expect(verifyDirs(log)).toHaveLength(ranBefore);

    // Go on as the message says: commit the edit there, then land: it lands, verified first.
    expect(paste(quotedCommand(message, `git -C ${mine} commit`)).code).toBe(0);
    const fixed = git(mine, 'rev-parse', 'HEAD');
    const r = await flotilla(['land', m.id, '--partial', '--json']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toMatchObject({ baseMerged: true, verified: true });
    expect(verifyDirs(log)).toHaveLength(ranBefore + 1);
    for (const d of verifyDirs(log)) expect(d.startsWith(path.join(home, 'worktrees', m.id) + path.sep)).toBe(true);
    expect(readFileSync(path.join(m.repo, 'a.txt'), 'utf8')).toBe('my fix\n');
    // The user's worktree: same branch, same commit, same untracked file, nothing else.
    expect(git(mine, 'symbolic-ref', '--short', 'HEAD')).toBe(p.integrationBranch);
    expect(git(mine, 'rev-parse', 'HEAD')).toBe(fixed);
    expect(git(mine, 'status', '--porcelain')).toBe('?? scratch.txt');
  });

  test('the advice after a conflict with the moved base works when pasted as it is: the resolution lands on the base', async () => {
    // The verify fails where a.txt is the base's own; the resolution must change it.
    const m = missionFile('land-advice', { verify: ['test "$(cat a.txt)" != mine'] });
    const p = await runMission(m);
    commitOnMain(m.repo, { 'a.txt': 'mine\n' }, 'a.txt of my own');
    const r = await flotilla(['land', m.id]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/conflicts in a\.txt; nothing was changed\. Merge it yourself on/);
    const lines = adviceLines(r.stderr);
    expect(lines[lines.length - 1]).toBe(`flotilla land ${m.id}`);

    for (const line of lines) {
      const part = /^# your part: resolve the conflicts in a\.txt \(in (.+)\), then:$/.exec(line);
      if (part) {
        writeFileSync(path.join(part[1], 'a.txt'), 'a, resolved with mine\n');
        continue;
      }
      const ran = paste(line);
      // `git merge` stops at the conflict (exit 1): the user resolves it in the next step.
      expect({ line, code: ran.code }).toEqual({ line, code: / merge /.test(line) ? 1 : 0 });
    }
    expect(readFileSync(path.join(m.repo, 'a.txt'), 'utf8')).toBe('a, resolved with mine\n');
    expect(git(m.repo, 'log', '--format=%s', '-1', 'main^2')).toBe('a.txt of my own');
    expect(git(m.repo, 'merge-base', '--is-ancestor', p.integrationSha!, 'main')).toBe('');
    // Nothing of it is left behind: clean takes the worktree made for the fix with the rest.
    const c = await flotilla(['clean', m.id, '--yes']);
    expect({ code: c.code, stderr: c.stderr }).toEqual({ code: 0, stderr: '' });
    expect(c.stdout).toMatch(
      /removed\s+integration worktree\s+flotilla\/land-advice\/integration\s+\S+\/integration-fix/,
    );
    expect(git(m.repo, 'worktree', 'list', '--porcelain').split('\n\n')).toHaveLength(1);
    expect(git(m.repo, 'branch', '--list', 'flotilla/*')).toBe('');
  });

  test('the advice after a verify that fails on the moved base works when pasted as it is', async () => {
    const m = missionFile('land-fixit', { verify: ['test ! -f poison.txt'] });
    await runMission(m);
    commitOnMain(m.repo, { 'poison.txt': 'x\n' }, 'break the verify');
    const r = await flotilla(['land', m.id, '--partial']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('`test ! -f poison.txt` exited 1');
    const lines = adviceLines(r.stderr);
    expect(lines[lines.length - 1]).toBe(`flotilla land ${m.id} --partial`);
    for (const line of lines) {
      const part = /^# your part: make `test ! -f poison\.txt` pass \(in (.+)\), then:$/.exec(line);
      if (part) {
        git(part[1], 'rm', '--quiet', 'poison.txt');
        continue;
      }
      expect({ line, ...paste(line) }).toMatchObject({ line, code: 0 });
    }
    expect(existsSync(path.join(m.repo, 'poison.txt'))).toBe(false);
    expect(git(m.repo, 'log', '--format=%s', '-1', 'main')).toBe('Fix the mission verify of land-fixit');
  });

  test('land --ff refuses while the base is being rebased in the user checkout (git shows it detached), and lands once it is done', async () => {
    const m = missionFile('land-rebase');
    await runMission(m);
    const mine = commitOnMain(m.repo, { 'README.md': '# mine\n' }, 'my README');
    git(m.repo, 'branch', 'upstream', 'main~1');
    commitOnBranch(m.repo, 'upstream', { 'README.md': '# theirs\n' }, 'their README');
    expect(() => git(m.repo, 'rebase', '--quiet', 'upstream')).toThrow();
    expect(git(m.repo, 'worktree', 'list', '--porcelain')).toMatch(/^detached$/m);

    const r = await flotilla(['land', m.id]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`a rebase of main is in progress in ${m.repo}`);
    expect(r.stderr).toContain(`git -C ${m.repo} rebase --abort`);
    expect(git(m.repo, 'rev-parse', 'main')).toBe(mine);
    expect(existsSync(path.join(m.repo, '.git', 'rebase-merge'))).toBe(true);

    expect(paste(quotedCommand(r.stderr, `git -C ${m.repo} rebase --abort`)).code).toBe(0);
    const again = await flotilla(['land', m.id]);
    expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 0, stderr: '' });
    expect(git(m.repo, 'merge-base', '--is-ancestor', mine, 'main')).toBe('');
  });
});
