/**
 * Git processes started by the spawner (src/git/spawn.ts) behave as ones started directly: same
 * exit codes, output, stdin, environment and working directory; a spawner never outlives its
 * worker, and a worker that cannot use one runs git itself.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gitSpawnerPid, runGit, stopGitSpawner } from '../../src/git/spawn';
import { git, makeRepo, tempDir } from '../helpers/git';
import { until } from '../helpers/poll';

const alive = (pid: number): boolean =>
  existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');

afterAll(stopGitSpawner);

test('exit codes, stdout, stderr, stdin, environment and working directory are as when git runs directly', async () => {
  const repo = makeRepo();
  const head = await runGit(['rev-parse', 'HEAD'], { cwd: repo });
  expect(head).toMatchObject({ exitCode: 0, stdout: `${git(repo, 'rev-parse', 'HEAD')}\n`, stderr: '' });
  expect(gitSpawnerPid()).toBeGreaterThan(0);
  expect(gitSpawnerPid()).not.toBe(process.pid);

  const missing = await runGit(['rev-parse', '--verify', 'no-such-ref'], { cwd: repo });
  expect(missing.exitCode).toBe(128);
  expect(missing.stderr).toContain('fatal: Needed a single revision');
  expect(missing.all).toContain('fatal: Needed a single revision');

  const blob = await runGit(['hash-object', '--stdin'], { cwd: repo, input: 'héllo\n' });
  expect(blob.stdout.trim()).toBe(
    execFileSync('git', ['hash-object', '--stdin'], { input: 'héllo\n' }).toString().trim(),
  );

  const ident = await runGit(['var', 'GIT_AUTHOR_IDENT'], {
    cwd: repo,
    env: { GIT_AUTHOR_NAME: 'Spawned', GIT_AUTHOR_EMAIL: 's@x' },
  });
  expect(ident.stdout).toMatch(/^Spawned <s@x> \d+ [+-]\d{4}\n$/);
  // The worker's own environment goes too (as execa's extendEnv).
  process.env.FLOTILLA_SPAWN_TEST = 'yes';
  try {
    expect(
      (
        await runGit(['config', '--get', 'test.value'], {
          cwd: repo,
          env: { GIT_CONFIG_PARAMETERS: "'test.value=${FLOTILLA_SPAWN_TEST}'" },
        })
      ).stdout,
    ).toBe('${FLOTILLA_SPAWN_TEST}\n');
    const shown = await runGit(['-c', 'alias.e=!printenv FLOTILLA_SPAWN_TEST', 'e'], { cwd: repo });
    expect(shown.stdout).toBe('yes\n');
  } finally {
    delete process.env.FLOTILLA_SPAWN_TEST;
  }
});

test('large output arrives whole; a working directory that does not exist is a result, not a crash', async () => {
  const repo = makeRepo();
  const big = 'x'.repeat(3 * 1024 * 1024);
  const sha = (await runGit(['hash-object', '-w', '--stdin'], { cwd: repo, input: big })).stdout.trim();
  const r = await runGit(['cat-file', 'blob', sha], { cwd: repo });
  expect(r.exitCode).toBe(0);
  expect(r.stdout.length).toBe(big.length);
  const gone = await runGit(['status'], { cwd: path.join(tempDir(), 'missing') });
  expect(gone.exitCode).toBeUndefined();
  expect(gone.message).toMatch(/ENOENT/);
  // The spawner is still there for the next call.
  expect((await runGit(['--version'])).stdout).toMatch(/^git version /);
});

test('stopGitSpawner waits for the spawner to exit; the next call starts a new one', async () => {
  await runGit(['--version']);
  const pid = gitSpawnerPid()!;
  await stopGitSpawner();
  expect(gitSpawnerPid()).toBeUndefined();
  expect(alive(pid)).toBe(false);
  await runGit(['--version']);
  expect(gitSpawnerPid()).not.toBe(pid);
});

test('a spawner killed from outside: calls made meanwhile and after all get their answer (from git run here, or a new spawner)', async () => {
  await runGit(['--version']);
  const pid = gitSpawnerPid()!;
  process.kill(pid, 'SIGKILL');
  const first = await Promise.all(Array.from({ length: 10 }, () => runGit(['--version']).catch((e: unknown) => e)));
  await until('the killed spawner to be gone', () => !alive(pid), 10_000, 20);
  const after = await Promise.all(Array.from({ length: 10 }, () => runGit(['--version'])));
  // A call already sent to the killed spawner may fail as a killed git would; none made after may.
  for (const r of first) if (!(r instanceof Error)) expect((r as { stdout: string }).stdout).toMatch(/^git version /);
  for (const r of after) expect(r).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(/^git version /) });
  expect(gitSpawnerPid()).not.toBe(pid);
});

test('a SIGKILLed worker takes its spawner with it', async () => {
  const lib = path.resolve(__dirname, '..', '..', 'lib', 'git', 'spawn.js');
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const s = require(${JSON.stringify(lib)}); s.runGit(['--version']).then(() => { console.log(s.gitSpawnerPid()); setInterval(() => {}, 1000); });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const pid = await new Promise<number>((resolve) =>
    child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))),
  );
  expect(alive(pid)).toBe(true);
  child.kill('SIGKILL');
  await until('the spawner to exit', () => !alive(pid), 10_000, 50);
});

test('FLOTILLA_GIT_SPAWNER=0: git runs directly from the worker', () => {
  const lib = path.resolve(__dirname, '..', '..', 'lib', 'git', 'spawn.js');
  const out = execFileSync(
    process.execPath,
    [
      '-e',
      `const s = require(${JSON.stringify(lib)}); s.runGit(['--version']).then((r) => console.log(JSON.stringify([r.stdout, s.gitSpawnerPid() ?? null])));`,
    ],
    { env: { ...process.env, FLOTILLA_GIT_SPAWNER: '0' } },
  ).toString();
  const [version, pid] = JSON.parse(out) as [string, number | null];
  expect(version).toMatch(/^git version /);
  expect(pid).toBeNull();
});
