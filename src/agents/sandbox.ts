/**
 * The agent sandbox, `agent.sandbox: bwrap` (README, "Sandboxing agents"): the agent's argv is
 * wrapped in bubblewrap, `bwrap [mounts…] -- argv`, and only here. The environment is the one the
 * launch built (bwrap passes its own to the command); the sandbox only sets `TMPDIR` and, when git
 * knows one outside, the commit identity (`--setenv`, bwrap(1) "Options about environment setup").
 *
 * What the agent and every tool command it runs see, in the order bwrap applies it (bwrap(1):
 * filesystem options "are applied in the order they are given as arguments"; a later mount over a
 * path hides what an earlier one put there, so mounts are sorted by depth, parents first):
 * - `--ro-bind / /`: the whole host read-only (system programs, libraries, /etc);
 * - `--dev /dev`: a fresh /dev (null, zero, random, tty, pts, shm), none of the host's devices;
 * - `--proc /proc`: the proc of the new pid namespace, so the worker's and other agents'
 *   /proc/PID/environ (their secrets) are not there;
 * - `--tmpfs /tmp`: a private, empty /tmp (and `TMPDIR=/tmp`): other tests', tasks' and users'
 *   temp files are not visible, and what the agent leaves there goes with it;
 * - `--tmpfs` over each home directory (`$HOME` of the agent and of the worker, the passwd
 *   entry's): empty and writable (tools keep caches there), lost on exit; `~/.ssh`, `~/.gitconfig`,
 *   other repositories under the home are not there;
 * - `--tmpfs` over `$FLOTILLA_HOME` (other tasks' worktrees, transcripts, clones, scaffolded
 *   repositories, the dev server's database) and over `$XDG_RUNTIME_DIR` (ssh-agent and keyring
 *   sockets), made read-only at the end (`--remount-ro`, which leaves the binds below it alone);
 * - `--ro-bind` back the agent program's own directories when they are under a hidden one (its
 *   `node_modules`, the real file behind its symlinks, the `#!` interpreter's prefix: see
 *   programs.ts `programDirs`);
 * - `--ro-bind` the repository's common git dir (config, hooks, packed-refs, info: read-only, so
 *   the agent cannot plant a hook or a `core.fsmonitor` that Flotilla's own git would run, nor
 *   move the user's branches), then `--bind` (read-write) what a commit on the worktree's branch
 *   writes there: `objects/`, the folder of the branch's loose ref (`refs/heads/flotilla/<m>/tasks/`:
 *   this mission's task branches) and of its reflog (`logs/refs/heads/…`), and the worktree's admin
 *   dir `worktrees/<name>/` (HEAD, index, its own reflog); gitrepository-layout(5);
 * - `--bind` the worktree itself read-write; then `--ro-bind` its `.git` file and the admin dir's
 *   `gitdir`, `commondir` and `config.worktree` over themselves, so the agent cannot point
 *   Flotilla's git at a repository of its own making;
 * - `--bind` the runtime's own state read-write (RuntimeAdapter.statePaths: Claude Code's
 *   `CLAUDE_CONFIG_DIR` or `~/.claude` and `~/.claude.json`, Codex's `CODEX_HOME` or `~/.codex`;
 *   none for `command`).
 *
 * Processes: `--unshare-pid` (bwrap runs a pid 1 that reaps; when it dies the kernel kills every
 * process of the namespace, tool commands in groups of their own included), `--unshare-ipc`, and
 * `--die-with-parent` (PR_SET_PDEATHSIG: the sandbox is SIGKILLed when bwrap or the worker dies).
 * No `--new-session`: spawnGroup already made bwrap the leader of a new session and group
 * without a controlling terminal (nothing to inject keystrokes into, the TIOCSTI concern of
 * bwrap(1)), and staying in that group lets `terminateGroup` and the watchdog signal the agent
 * itself; bwrap, killed by the same signal, takes the namespace down with it. The network is
 * shared: agents reach their model API (and anything else the host reaches).
 */
import execa from 'execa';
import { existsSync, mkdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findOnPath, programDirs } from './programs';
import type { RuntimeAdapter } from './runtimes/types';

/** What bwrap needs, for messages: the Debian/Ubuntu package (`bubblewrap`, also in Fedora and Arch). */
export const BWRAP_INSTALL =
  'install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`; Fedora: `dnf install bubblewrap`)';

/**
 * One mount of the sandbox: `tmpfs` hides `path`, `ro`/`rw` bind it from the host at the same
 * path, `remount-ro` makes a tmpfs read-only once everything under it is mounted.
 */
export interface Mount {
  kind: 'tmpfs' | 'ro' | 'rw' | 'remount-ro';
  path: string;
}

/** What one launch's sandbox is built from: absolute real paths, every one existing. */
export interface SandboxFacts {
  /** The bwrap program. */
  bwrap: string;
  /** The agent's worktree: its working directory, read-write. */
  worktree: string;
  /**
   * The worktree's git dir, the repository's common dir and the branch checked out there
   * (`refs/heads/…`, absent on a detached HEAD); absent when the worktree is no git worktree.
   */
  git?: { gitDir: string; commonDir: string; branch?: string };
  /** Directories hidden behind an empty, writable tmpfs (the home directories). */
  hide: string[];
  /** Directories hidden behind an empty, read-only tmpfs (`$FLOTILLA_HOME`, `$XDG_RUNTIME_DIR`). */
  seal: string[];
  /** Directories the agent program needs to start, bound read-only when they are under a hidden one. */
  programs: string[];
  /** The runtime's own state (directories and files), read-write. */
  state: string[];
  /** Variables set inside the sandbox over the launch's environment. */
  setenv: Record<string, string>;
  /**
   * The planner's sandbox (`flotilla plan`): the worktree and its whole git dir read-only, and
   * only `writable` (the plan file's folder) read-write besides the runtime's state.
   */
  readOnly?: boolean;
  writable?: string[];
}

const within = (p: string, dir: string): boolean => p === dir || p.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
const depth = (p: string): number => p.split('/').filter(Boolean).length;
const RANK: Record<Mount['kind'], number> = { tmpfs: 0, ro: 1, rw: 2, 'remount-ro': 3 };

/**
 * The mounts after the fixed ones (`/`, `/dev`, `/proc`, `/tmp`), in the order bwrap must apply
 * them: by depth, parents before what they contain; at one path tmpfs, then ro, then rw (the last
 * one wins). Hidden directories that are `/` or inside the worktree are left visible, and program
 * directories that nothing hides, or that are inside the worktree, are not bound again. A bind
 * whose source does not exist (`exists`, default: on this host) is left out.
 */
export function sandboxMounts(f: SandboxFacts, exists: (p: string) => boolean = existsSync): Mount[] {
  const mounts: Mount[] = [];
  const visible = (d: string): boolean => d === '/' || within(d, f.worktree);
  const sealed = f.seal.filter((d) => !visible(d));
  const hidden = [...f.hide.filter((d) => !visible(d)), ...sealed];
  for (const d of hidden) mounts.push({ kind: 'tmpfs', path: d });
  hidden.push('/tmp');
  for (const d of f.programs)
    if (hidden.some((h) => within(d, h)) && !within(d, f.worktree)) mounts.push({ kind: 'ro', path: d });
  if (f.git && f.readOnly) {
    mounts.push({ kind: 'ro', path: f.git.commonDir }, { kind: 'ro', path: f.git.gitDir });
  } else if (f.git) {
    const { gitDir, commonDir } = f.git;
    if (gitDir === commonDir) {
      // Not a linked worktree (a plain checkout): git writes all over its git dir.
      mounts.push({ kind: 'rw', path: gitDir });
    } else {
      mounts.push({ kind: 'ro', path: commonDir });
      mounts.push({ kind: 'rw', path: path.join(commonDir, 'objects') });
      // The folder of the branch's loose ref and of its reflog: a commit writes `<branch>.lock`
      // there and renames it; other branches (the user's among them) stay read-only.
      if (f.git.branch) {
        const folder = path.dirname(f.git.branch);
        mounts.push({ kind: 'rw', path: path.join(commonDir, folder) });
        mounts.push({ kind: 'rw', path: path.join(commonDir, 'logs', folder) });
      }
      mounts.push({ kind: 'rw', path: gitDir });
      for (const file of ['gitdir', 'commondir', 'config.worktree'])
        mounts.push({ kind: 'ro', path: path.join(gitDir, file) });
      mounts.push({ kind: 'ro', path: path.join(f.worktree, '.git') });
    }
  }
  mounts.push({ kind: f.readOnly ? 'ro' : 'rw', path: f.worktree });
  for (const s of [...f.state, ...(f.writable ?? [])]) mounts.push({ kind: 'rw', path: s });
  const seen = new Set<string>();
  const ordered = mounts
    .filter((m) => {
      const key = `${m.kind} ${m.path}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return m.kind === 'tmpfs' || exists(m.path);
    })
    .map((m, i) => ({ m, i }))
    .sort((a, b) => depth(a.m.path) - depth(b.m.path) || RANK[a.m.kind] - RANK[b.m.kind] || a.i - b.i)
    .map(({ m }) => m);
  // Last: a read-only tmpfs can take no new mount point below it.
  return [...ordered, ...[...new Set(sealed)].map((d): Mount => ({ kind: 'remount-ro', path: d }))];
}

/** The flags every sandbox starts with (and the probe runs with): namespaces, /, /dev, /proc, /tmp. */
const BASE_FLAGS = [
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

/** The whole argv: `bwrap <base flags> <mounts> --chdir WORKTREE --setenv … -- argv`. */
export function bwrapArgv(f: SandboxFacts, argv: string[], exists?: (p: string) => boolean): string[] {
  const out = [f.bwrap, ...BASE_FLAGS];
  for (const m of sandboxMounts(f, exists)) {
    if (m.kind === 'tmpfs' || m.kind === 'remount-ro') out.push(`--${m.kind}`, m.path);
    else out.push(m.kind === 'ro' ? '--ro-bind' : '--bind', m.path, m.path);
  }
  out.push('--chdir', f.worktree);
  for (const [name, value] of Object.entries(f.setenv)) out.push('--setenv', name, value);
  return [...out, '--', ...argv];
}

/** bwrap cannot be used on this host: what is wrong and what to do. */
export class SandboxUnavailable extends Error {
  constructor(
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${problem}; ${fix}`);
    this.name = 'SandboxUnavailable';
  }
}

const probes = new Map<string, Promise<string>>();

/**
 * Finds bwrap on `searchPath` (PATH syntax) and checks, once per process and PATH, that it can
 * build a sandbox here: the base flags around `true` (unprivileged user namespaces may be off, or
 * a container may forbid mounting proc).
 * @returns the bwrap program's path
 * @throws SandboxUnavailable when it is not installed or cannot create its namespaces
 */
export function probeBwrap(searchPath = process.env.PATH ?? ''): Promise<string> {
  let probe = probes.get(searchPath);
  if (probe) return probe;
  probe = (async () => {
    const bwrap = findOnPath('bwrap', searchPath);
    if (!bwrap) throw new SandboxUnavailable('bwrap is not installed', BWRAP_INSTALL);
    const r = await execa(bwrap, [...BASE_FLAGS, 'true'], {
      reject: false,
      stdin: 'ignore',
      all: true,
      timeout: 10_000,
    });
    if (r.exitCode !== 0) {
      const said = (r.all ?? '').trim().split('\n').slice(-2).join(' ') || `exit ${r.exitCode}`;
      throw new SandboxUnavailable(
        `bwrap cannot create a sandbox on this host (${bwrap} said: ${said})`,
        'allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu 24.04 also kernel.apparmor_restrict_unprivileged_userns=0), run the worker where they are allowed (not in a container that forbids them), or set agent.sandbox: none',
      );
    }
    return bwrap;
  })();
  probes.set(searchPath, probe);
  // A failure is not kept: bwrap may be installed (or namespaces allowed) while the worker runs.
  probe.catch(() => probes.delete(searchPath));
  return probe;
}

const real = (p: string): string => {
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
};
const isDir = (p: string): boolean => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/** `git rev-parse` in the worktree: its git dir and common dir, or undefined outside git. */
async function gitDirs(worktree: string): Promise<SandboxFacts['git']> {
  const r = await execa('git', ['rev-parse', '--path-format=absolute', '--git-dir', '--git-common-dir'], {
    cwd: worktree,
    reject: false,
    stdin: 'ignore',
  });
  const [gitDir, commonDir] = r.exitCode === 0 ? r.stdout.split('\n').map((l) => l.trim()) : [];
  if (!gitDir || !commonDir) return undefined;
  let branch: string | undefined;
  try {
    branch = /^ref: (refs\/heads\/\S+)\s*$/.exec(readFileSync(path.join(gitDir, 'HEAD'), 'utf8'))?.[1];
  } catch {
    // No HEAD file: nothing to commit on.
  }
  return { gitDir: real(gitDir), commonDir: real(commonDir), ...(branch ? { branch } : {}) };
}

/**
 * The commit identity git has outside the sandbox (`~/.gitconfig` is hidden inside), as the
 * `GIT_AUTHOR_*`/`GIT_COMMITTER_*` variables the environment does not set already.
 */
async function identity(worktree: string, env: NodeJS.ProcessEnv): Promise<Record<string, string>> {
  const get = async (key: string): Promise<string | undefined> => {
    const r = await execa('git', ['config', '--get', key], {
      cwd: worktree,
      env,
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
    });
    return r.exitCode === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
  };
  const out: Record<string, string> = {};
  const [name, email] = [await get('user.name'), await get('user.email')];
  for (const who of ['AUTHOR', 'COMMITTER']) {
    if (name && env[`GIT_${who}_NAME`] === undefined) out[`GIT_${who}_NAME`] = name;
    if (email && env[`GIT_${who}_EMAIL`] === undefined) out[`GIT_${who}_EMAIL`] = email;
  }
  return out;
}

/** What {@link sandboxFacts} reads: the launch as launch.ts built it. */
export interface SandboxLaunch {
  argv: string[];
  /** The agent's whole environment (its HOME, PATH and the runtime's state variables). */
  env: NodeJS.ProcessEnv;
  worktree: string;
  adapter: Pick<RuntimeAdapter, 'statePaths'>;
  /** `$FLOTILLA_HOME` of the worker. */
  flotillaHome: string;
  /** See {@link SandboxFacts.readOnly}; `writable` directories are created when missing. */
  readOnly?: boolean;
  writable?: string[];
}

/**
 * Reads what the sandbox of `launch` is built from; creates the runtime's state directories when
 * missing (the agent would create them itself).
 * @throws SandboxUnavailable (from {@link probeBwrap})
 */
export async function sandboxFacts(launch: SandboxLaunch): Promise<SandboxFacts> {
  const bwrap = await probeBwrap();
  const { env } = launch;
  const worktree = real(launch.worktree);
  let passwdHome: string | undefined;
  try {
    passwdHome = os.userInfo().homedir;
  } catch {
    // No passwd entry (a container with an arbitrary uid).
  }
  const runtimeDir = env.XDG_RUNTIME_DIR ?? process.env.XDG_RUNTIME_DIR ?? `/run/user/${process.getuid?.() ?? ''}`;
  const dirs = (...list: Array<string | undefined>): string[] => [
    ...new Set(list.filter((d): d is string => !!d && path.isAbsolute(d) && isDir(d)).map(real)),
  ];
  const state = launch.adapter.statePaths?.(env) ?? { dirs: [], files: [] };
  for (const d of state.dirs) mkdirSync(d, { recursive: true });
  return {
    bwrap,
    worktree,
    git: await gitDirs(worktree),
    hide: dirs(env.HOME, process.env.HOME, passwdHome),
    seal: dirs(launch.flotillaHome, runtimeDir),
    programs: programDirs(launch.argv[0], env.PATH ?? '', worktree),
    state: [...state.dirs, ...state.files].filter((p) => existsSync(p)).map(real),
    setenv: { TMPDIR: '/tmp', ...(await identity(worktree, env)) },
    ...(launch.readOnly ? { readOnly: true } : {}),
    ...(launch.writable ? { writable: launch.writable.map((d) => (mkdirSync(d, { recursive: true }), real(d))) } : {}),
  };
}

/**
 * `launch.argv` wrapped in the sandbox.
 * @throws SandboxUnavailable when bwrap is missing or cannot work here
 */
export async function sandboxArgv(launch: SandboxLaunch): Promise<string[]> {
  return bwrapArgv(await sandboxFacts(launch), launch.argv);
}
