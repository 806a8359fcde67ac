/**
 * git through simple-git, with two guards the activities share: a commit identity when the
 * repository has none (agents' work must always be committable), and a per-repository lock,
 * because `git worktree add` and ref updates are not safe to run concurrently in one repository
 * (DESIGN.md: `fatal: failed to read .git/worktrees/N/commondir` with 8 at once).
 */
import execa from 'execa';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { SimpleGit, simpleGit } from 'simple-git';

const FALLBACK_IDENTITY = ['user.name=Flotilla', 'user.email=flotilla@localhost'];
const identityKnown = new Map<string, boolean>();

/**
 * `-c` values (`user.name=…`, `user.email=…`) to put before a git command run in `dir` when git
 * has no identity configured there, else none. Cached per directory.
 */
export async function identityConfig(dir: string): Promise<string[]> {
  let has = identityKnown.get(dir);
  if (has === undefined) {
    // Probe with the environment the git commands get (execa passes process.env explicitly), so
    // HOME, and with it the global config, is the one the commands will see.
    const probe = await execa('git', ['config', '--get', 'user.email'], { cwd: dir, reject: false, stdin: 'ignore' });
    has = (probe.stdout ?? '').trim().length > 0 || !!process.env.GIT_AUTHOR_EMAIL;
    identityKnown.set(dir, has);
  }
  return has ? [] : FALLBACK_IDENTITY;
}

/** A simple-git instance for `dir`, with Flotilla's identity only where git has none configured. */
export async function gitAt(dir: string): Promise<SimpleGit> {
  return simpleGit({ baseDir: dir, config: await identityConfig(dir) });
}

/**
 * Runs git in `dir` and returns its exit code and output instead of throwing: for commands whose
 * non-zero exit is an answer (a merge with conflicts prints them on stdout and exits 1).
 */
export async function gitRun(dir: string, args: string[]): Promise<{ exitCode: number; output: string }> {
  const config = (await identityConfig(dir)).flatMap((c) => ['-c', c]);
  const r = await execa('git', [...config, ...args], { cwd: dir, reject: false, stdin: 'ignore', all: true });
  return { exitCode: r.exitCode ?? 1, output: r.all ?? '' };
}

const locks = new Map<string, Promise<unknown>>();

/**
 * How long a lock whose holder stopped refreshing it counts as held, ms. proper-lockfile refreshes
 * a held lock's mtime every half of this, so only a dead holder (a SIGKILLed worker) lets it age.
 */
const REPO_LOCK_STALE_MS = 20_000;

/**
 * Runs `fn` while holding the lock on `repo`: first this process's queue (keyed by absolute path,
 * so calls run in order), then a lock file in the repository's git directory
 * (`.git/flotilla.lock`, through proper-lockfile), because two workers on one host (say
 * `flotilla run` and a `flotilla worker`) share the host's task queue. Serializes worktree and
 * branch creation and merges per repository.
 * @throws when the lock file stays held by a live process for about 5 minutes
 */
export async function withRepoLock<T>(repo: string, fn: () => Promise<T>): Promise<T> {
  const previous = locks.get(repo) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const chained = previous.then(() => mine);
  locks.set(repo, chained);
  await previous.catch(() => undefined);
  try {
    const unlock = await lockfile.lock(repo, {
      lockfilePath: path.join(await gitCommonDir(repo), 'flotilla.lock'),
      realpath: false,
      stale: REPO_LOCK_STALE_MS,
      retries: { retries: 300, factor: 1.2, minTimeout: 50, maxTimeout: 1000 },
    });
    try {
      return await fn();
    } finally {
      await unlock().catch(() => undefined);
    }
  } finally {
    release();
    if (locks.get(repo) === chained) locks.delete(repo);
  }
}

const commonDirs = new Map<string, string>();

/** The repository's shared git directory (`.git` of the main worktree), absolute. */
async function gitCommonDir(repo: string): Promise<string> {
  let dir = commonDirs.get(repo);
  if (!dir) {
    const r = await execa('git', ['rev-parse', '--git-common-dir'], { cwd: repo, stdin: 'ignore' });
    dir = path.resolve(repo, r.stdout.trim());
    commonDirs.set(repo, dir);
  }
  return dir;
}

/** The SHA `ref` points at, or undefined when it does not exist. */
export async function resolveRef(git: SimpleGit, ref: string): Promise<string | undefined> {
  try {
    const out = await git.raw(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
    return out.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** `git diff --shortstat from...to` (what `to` changed since its merge base with `from`) as numbers. */
export async function diffstat(
  git: SimpleGit,
  from: string,
  to: string,
): Promise<{ files: number; insertions: number; deletions: number }> {
  // Three dots: changes on `to` since it forked from `from`. A retried task's branch started
  // from an older integration SHA than the one it is given now; its own work is what counts.
  const out = await git.raw(['diff', '--shortstat', `${from}...${to}`]);
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? 0);
  return {
    files: num(/(\d+) files? changed/),
    insertions: num(/(\d+) insertions?/),
    deletions: num(/(\d+) deletions?/),
  };
}

/**
 * Runs a git predicate (`merge-base --is-ancestor`, `rev-parse --verify --quiet`) and reports
 * its exit status. simple-git's `raw()` cannot: it resolves on a non-zero exit whose stderr is
 * empty, which is exactly how these commands say "no".
 */
export async function gitSucceeds(dir: string, args: string[]): Promise<boolean> {
  const r = await execa('git', args, { cwd: dir, reject: false, stdin: 'ignore' });
  return r.exitCode === 0;
}
