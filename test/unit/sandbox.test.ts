/**
 * The sandbox module (src/agents/sandbox.ts): the bwrap argv it builds from a launch's facts
 * (mount order, what is hidden, sealed, bound read-only and read-write), the facts it reads from a
 * real git worktree and a real home, the programs it binds back (programs.ts), the probe of bwrap
 * itself, and `sandbox:` in the mission file.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { findOnPath, programDirs } from '../../src/agents/programs';
import { runtimes } from '../../src/agents/runtimes';
import {
  bwrapArgv,
  probeBwrap,
  sandboxFacts,
  SandboxFacts,
  sandboxMounts,
  SandboxUnavailable,
} from '../../src/agents/sandbox';
import { MissionFileError } from '../../src/mission-file/errors';
import { loadMission } from '../../src/mission-file/load';
import { git, makeRepo, tempDir } from '../helpers/git';

const BASE = [
  '/usr/bin/bwrap',
  '--die-with-parent',
  '--unshare-pid',
  '--unshare-ipc',
  '--ro-bind',
  '/',
  '/',
  '--dev',
  '/dev',
  '--proc',
  '/proc',
  '--tmpfs',
  '/tmp',
];

/** A task worktree of repository /work/app, FLOTILLA_HOME under the home. */
const facts: SandboxFacts = {
  bwrap: '/usr/bin/bwrap',
  worktree: '/home/u/.flotilla/worktrees/m/r/tasks/t',
  git: { gitDir: '/work/app/.git/worktrees/t', commonDir: '/work/app/.git', branch: 'refs/heads/flotilla/m/tasks/t' },
  hide: ['/home/u'],
  seal: ['/home/u/.flotilla', '/run/user/1000'],
  programs: ['/home/u/src/flotilla/node_modules', '/usr'],
  state: ['/home/u/.claude', '/home/u/.claude.json'],
  setenv: { TMPDIR: '/tmp', GIT_AUTHOR_NAME: 'U' },
};
const always = (): boolean => true;

test('the argv: host read-only, homes hidden, FLOTILLA_HOME sealed, the worktree and its git writable, in mount order', () => {
  expect(bwrapArgv(facts, ['claude', '-p', 'hi'], always)).toEqual([
    ...BASE,
    // by depth (path components), at one depth tmpfs, then read-only, then read-write
    '--tmpfs',
    '/home/u',
    '--tmpfs',
    '/home/u/.flotilla',
    '--tmpfs',
    '/run/user/1000',
    '--ro-bind',
    '/work/app/.git',
    '/work/app/.git',
    '--bind',
    '/home/u/.claude',
    '/home/u/.claude',
    '--bind',
    '/home/u/.claude.json',
    '/home/u/.claude.json',
    '--bind',
    '/work/app/.git/objects',
    '/work/app/.git/objects',
    '--ro-bind',
    '/home/u/src/flotilla/node_modules',
    '/home/u/src/flotilla/node_modules',
    '--bind',
    '/work/app/.git/worktrees/t',
    '/work/app/.git/worktrees/t',
    // the admin dir's pointers stay read-only
    '--ro-bind',
    '/work/app/.git/worktrees/t/gitdir',
    '/work/app/.git/worktrees/t/gitdir',
    '--ro-bind',
    '/work/app/.git/worktrees/t/commondir',
    '/work/app/.git/worktrees/t/commondir',
    '--ro-bind',
    '/work/app/.git/worktrees/t/config.worktree',
    '/work/app/.git/worktrees/t/config.worktree',
    // only this mission's task branches
    '--bind',
    '/work/app/.git/refs/heads/flotilla/m/tasks',
    '/work/app/.git/refs/heads/flotilla/m/tasks',
    '--bind',
    '/home/u/.flotilla/worktrees/m/r/tasks/t',
    '/home/u/.flotilla/worktrees/m/r/tasks/t',
    // the worktree's .git file cannot be pointed elsewhere
    '--ro-bind',
    '/home/u/.flotilla/worktrees/m/r/tasks/t/.git',
    '/home/u/.flotilla/worktrees/m/r/tasks/t/.git',
    '--bind',
    '/work/app/.git/logs/refs/heads/flotilla/m/tasks',
    '/work/app/.git/logs/refs/heads/flotilla/m/tasks',
    // sealed last, once everything below them is mounted
    '--remount-ro',
    '/home/u/.flotilla',
    '--remount-ro',
    '/run/user/1000',
    '--chdir',
    '/home/u/.flotilla/worktrees/m/r/tasks/t',
    '--setenv',
    'TMPDIR',
    '/tmp',
    '--setenv',
    'GIT_AUTHOR_NAME',
    'U',
    '--',
    'claude',
    '-p',
    'hi',
  ]);
});

test('every bind comes after the tmpfs that would hide it, and each parent before what it contains', () => {
  const mounts = sandboxMounts(facts, always);
  mounts.forEach((m, i) => {
    for (const later of mounts.slice(i + 1)) {
      if (later.kind === 'remount-ro') continue;
      // Nothing mounted later sits above (contains) an earlier mount: it would hide it.
      expect(m.path.startsWith(`${later.path}/`)).toBe(false);
    }
  });
});

test('what is left out: "/" and homes inside the worktree, programs nothing hides, binds whose source is missing', () => {
  const mounts = sandboxMounts(
    {
      ...facts,
      worktree: '/srv/wt',
      git: { gitDir: '/srv/wt/.git', commonDir: '/srv/wt/.git' },
      hide: ['/', '/srv/wt/home'],
      seal: [],
      programs: ['/usr', '/srv/wt/node_modules', '/tmp/tools/node_modules'],
      state: ['/srv/state', '/srv/missing.json'],
    },
    (p) => p !== '/srv/missing.json',
  );
  expect(mounts).toEqual([
    { kind: 'rw', path: '/srv/wt' },
    { kind: 'rw', path: '/srv/state' },
    // Under the private /tmp: bound back.
    { kind: 'ro', path: '/tmp/tools/node_modules' },
    // A plain checkout (not a linked worktree): its git dir is the worktree's own, writable.
    { kind: 'rw', path: '/srv/wt/.git' },
  ]);
});

test('a detached HEAD gets no ref folder: it commits onto no branch', () => {
  const mounts = sandboxMounts({ ...facts, git: { ...facts.git!, branch: undefined } }, always);
  expect(mounts.filter((m) => m.path.includes('/refs/'))).toEqual([]);
  expect(mounts).toContainEqual({ kind: 'rw', path: '/work/app/.git/objects' });
});

describe('facts read from a real worktree and home', () => {
  const home = tempDir('sandbox-unit-home-');
  const flotillaHome = tempDir('sandbox-unit-flotilla-');
  const repo = makeRepo();
  const worktree = path.join(flotillaHome, 'worktrees', 'm', 'r', 'tasks', 't');
  git(repo, 'worktree', 'add', '--quiet', '-b', 'flotilla/m/tasks/t', worktree);
  git(repo, 'config', 'user.name', 'Repo Person');
  git(repo, 'config', 'user.email', 'repo@example.com');

  test('git dirs, the branch, the homes, the runtime state (created), the identity git has outside', async () => {
    const env = { HOME: home, PATH: process.env.PATH };
    const f = await sandboxFacts({
      argv: ['bash', '-c', 'true'],
      env,
      worktree,
      adapter: runtimes.claude,
      flotillaHome,
    });
    const real = (p: string): string => realpathSync(p);
    expect(f.bwrap).toBe(findOnPath('bwrap'));
    expect(f.worktree).toBe(real(worktree));
    expect(f.git).toEqual({
      gitDir: real(path.join(repo, '.git', 'worktrees', 't')),
      commonDir: real(path.join(repo, '.git')),
      branch: 'refs/heads/flotilla/m/tasks/t',
    });
    expect(f.hide).toContain(real(home));
    expect(f.seal).toContain(real(flotillaHome));
    // Claude Code's state: ~/.claude made for it; ~/.claude.json bound only once it exists.
    expect(existsSync(path.join(home, '.claude'))).toBe(true);
    expect(f.state).toEqual([real(path.join(home, '.claude'))]);
    expect(f.setenv).toEqual({
      TMPDIR: '/tmp',
      GIT_AUTHOR_NAME: 'Repo Person',
      GIT_AUTHOR_EMAIL: 'repo@example.com',
      GIT_COMMITTER_NAME: 'Repo Person',
      GIT_COMMITTER_EMAIL: 'repo@example.com',
    });
  });

  test("the environment's own identity and CLAUDE_CONFIG_DIR win; codex keeps CODEX_HOME; command has no state", async () => {
    const config = path.join(tempDir(), 'claude-config');
    const env = { HOME: home, PATH: process.env.PATH, CLAUDE_CONFIG_DIR: config, GIT_AUTHOR_NAME: 'Env Person' };
    const launch = { argv: ['true'], env, worktree, flotillaHome };
    const claude = await sandboxFacts({ ...launch, adapter: runtimes.claude });
    expect(claude.state).toEqual([realpathSync(config)]);
    expect(claude.setenv.GIT_AUTHOR_NAME).toBeUndefined();
    expect(claude.setenv.GIT_COMMITTER_NAME).toBe('Repo Person');
    const codexHome = path.join(tempDir(), 'codex');
    const codex = await sandboxFacts({ ...launch, env: { ...env, CODEX_HOME: codexHome }, adapter: runtimes.codex });
    expect(codex.state).toEqual([realpathSync(codexHome)]);
    expect((await sandboxFacts({ ...launch, adapter: runtimes.command })).state).toEqual([]);
  });
});

describe('programs a sandbox binds back', () => {
  test('an npm bin under the home: its node_modules (siblings included), and its #! interpreter', () => {
    const home = tempDir('sandbox-programs-');
    const pkg = path.join(home, 'tools', 'node_modules', '@acme', 'agent');
    mkdirSync(path.join(pkg, 'bin'), { recursive: true });
    writeFileSync(path.join(pkg, 'bin', 'agent.js'), '#!/usr/bin/env node\n', { mode: 0o755 });
    const bin = path.join(home, 'tools', 'node_modules', '.bin');
    mkdirSync(bin);
    symlinkSync('../@acme/agent/bin/agent.js', path.join(bin, 'agent'));
    const node = realpathSync(findOnPath('node')!);
    const dirs = programDirs('agent', `${bin}:${process.env.PATH}`, home);
    expect(dirs).toContain(path.join(home, 'tools', 'node_modules'));
    // node's install prefix (its bin/ folder's parent), where an nvm install keeps lib/.
    expect(dirs).toContain(path.dirname(path.dirname(node)));
  });

  test('a native binary behind a symlink (~/.local/bin -> ~/.local/share/...): both folders', () => {
    const home = tempDir('sandbox-programs-');
    const versions = path.join(home, '.local', 'share', 'agent', 'versions');
    mkdirSync(versions, { recursive: true });
    execFileSync('cp', [realpathSync('/bin/true'), path.join(versions, '1.0.0')]);
    mkdirSync(path.join(home, '.local', 'bin'), { recursive: true });
    symlinkSync(path.join(versions, '1.0.0'), path.join(home, '.local', 'bin', 'agent'));
    expect(programDirs('agent', path.join(home, '.local', 'bin'), home)).toEqual([
      path.join(home, '.local', 'bin'),
      versions,
    ]);
    expect(programDirs('no-such-program', path.join(home, '.local', 'bin'), home)).toEqual([]);
  });

  test('findOnPath: executables only, relative names from cwd', () => {
    const dir = tempDir('sandbox-path-');
    writeFileSync(path.join(dir, 'tool'), 'not executable', { mode: 0o644 });
    expect(findOnPath('tool', dir)).toBeUndefined();
    writeFileSync(path.join(dir, 'run.sh'), '#!/bin/sh\n', { mode: 0o755 });
    expect(findOnPath('./run.sh', '', dir)).toBe(path.join(dir, 'run.sh'));
    expect(findOnPath('sh', `${dir}:/usr/bin:/bin`)).toMatch(/^\/(usr\/)?bin\/sh$/);
  });
});

describe('probeBwrap', () => {
  test('finds bwrap and checks it can make a sandbox here', async () => {
    await expect(probeBwrap()).resolves.toBe(findOnPath('bwrap'));
  });

  test('not installed: says so and how to install it', async () => {
    const err = await probeBwrap(tempDir('no-bwrap-')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxUnavailable);
    expect((err as SandboxUnavailable).problem).toBe('bwrap is not installed');
    expect((err as SandboxUnavailable).fix).toMatch(/apt-get install bubblewrap/);
  });

  test('installed but unable to create namespaces: what bwrap said, and what to do', async () => {
    const dir = tempDir('failing-bwrap-');
    writeFileSync(
      path.join(dir, 'bwrap'),
      '#!/bin/sh\necho "bwrap: setting up uid map: Permission denied" >&2\nexit 1\n',
      {
        mode: 0o755,
      },
    );
    const err = (await probeBwrap(dir).catch((e: unknown) => e)) as SandboxUnavailable;
    expect(err.message).toMatch(/cannot create a sandbox on this host .*setting up uid map: Permission denied/);
    expect(err.fix).toMatch(/unprivileged user namespaces.*agent\.sandbox: none/);
  });
});

describe('sandbox: in the mission file', () => {
  const write = (body: string): string => {
    const dir = makeRepo();
    writeFileSync(path.join(dir, 'mission.yaml'), body);
    return path.join(dir, 'mission.yaml');
  };

  test('the mission default reaches every task and the resolver; a task or the resolver can say none', async () => {
    const { spec } = await loadMission(
      write(`id: demo
agent: { runtime: command, command: [bash, -c, "true"], sandbox: bwrap }
tasks:
  - { id: a, prompt: p }
  - { id: b, prompt: p, agent: { sandbox: none } }
`),
    );
    expect(spec.tasks.map((t) => t.agent.sandbox)).toEqual(['bwrap', undefined]);
    expect(spec.resolver?.sandbox).toBe('bwrap');
    const plain = await loadMission(
      write(`id: demo
agent: { runtime: command, command: [bash, -c, "true"] }
resolver: { sandbox: bwrap }
tasks: [{ id: a, prompt: p }]
`),
    );
    // `none` is not written into the spec: an unsandboxed mission's workflow input is unchanged.
    expect('sandbox' in plain.spec.tasks[0].agent).toBe(false);
    expect(plain.spec.resolver?.sandbox).toBe('bwrap');
  });

  test('an unknown value names the field and the values', async () => {
    const err = (await loadMission(
      write(`id: demo
tasks: [{ id: a, prompt: p, agent: { runtime: command, command: [x], sandbox: docker } }]
`),
    ).catch((e: unknown) => e)) as MissionFileError;
    expect(err).toBeInstanceOf(MissionFileError);
    expect(err.problems).toEqual([
      expect.objectContaining({ path: 'tasks[0].agent.sandbox', reason: 'must be one of: none, bwrap' }),
    ]);
  });
});
