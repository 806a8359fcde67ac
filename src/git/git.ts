/**
 * git for the activities, through execa with exit codes (never simple-git: it sleeps 50 ms after
 * every command that prints nothing, which inside the repository lock added ~350 ms per worktree).
 * Two guards the activities share: a commit identity when the repository has none (agents' work
 * must always be committable), and a per-repository lock, because `git worktree add` and ref
 * updates are not safe to run concurrently in one repository (`fatal: failed to read
 * .git/worktrees/N/commondir` with 8 at once).
 */
import { HostFailure } from './failure';
import { hostLog } from './log';
import execa from 'execa';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { ErrorType } from '../mission/error-types';
import { withoutUrlCredentials } from '../mission/url-credentials';

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

/** A git command that exited non-zero: its arguments, exit code and what it printed. */
export class GitError extends Error {
  constructor(
    readonly args: string[],
    readonly dir: string,
    readonly exitCode: number,
    readonly output: string,
  ) {
    // An origin URL in the arguments (`git clone <origin>`) or quoted by git: no credentials in the text.
    super(
      withoutUrlCredentials(`git ${args.join(' ')} failed in ${dir} (exit ${exitCode}): ${output.trim().slice(-1000)}`),
    );
    this.name = 'GitError';
  }
}

export interface GitOptions {
  /** Extra environment (added to the worker's). */
  env?: Record<string, string>;
  /** Written to git's stdin (default: stdin closed). */
  input?: string;
  /** Put Flotilla's identity before the command when the repository has none (commits, merges). */
  identity?: boolean;
}

/**
 * Runs `git args` in `dir`.
 * @returns its stdout without the trailing newline
 * @throws GitError when git exits non-zero (or cannot start)
 */
export async function git(dir: string, args: string[], opts: GitOptions = {}): Promise<string> {
  const config = opts.identity ? (await identityConfig(dir)).flatMap((c) => ['-c', c]) : [];
  const r = await execa('git', [...config, ...args], {
    cwd: dir,
    env: opts.env,
    reject: false,
    ...(opts.input === undefined ? { stdin: 'ignore' as const } : { input: opts.input }),
  });
  if (r.exitCode !== 0)
    throw new GitError(args, dir, r.exitCode ?? -1, r.stderr || r.stdout || (r as { message?: string }).message || '');
  return r.stdout;
}

/**
 * Runs git in `dir` and returns its exit code and output instead of throwing: for commands whose
 * non-zero exit is an answer (a merge with conflicts prints them on stdout and exits 1). Uses
 * Flotilla's identity where the repository has none.
 */
export async function gitRun(dir: string, args: string[]): Promise<{ exitCode: number; output: string }> {
  const config = (await identityConfig(dir)).flatMap((c) => ['-c', c]);
  const r = await execa('git', [...config, ...args], { cwd: dir, reject: false, stdin: 'ignore', all: true });
  return { exitCode: r.exitCode ?? 1, output: r.all ?? '' };
}

/**
 * Runs a git predicate (`merge-base --is-ancestor`, `rev-parse --verify --quiet`) and reports
 * whether it exited 0: how these commands say yes or no.
 */
export async function gitSucceeds(dir: string, args: string[]): Promise<boolean> {
  const r = await execa('git', args, { cwd: dir, reject: false, stdin: 'ignore' });
  return r.exitCode === 0;
}

/** The commit SHA `ref` points at in the repository of `dir`, or undefined when it does not exist. */
export async function resolveRef(dir: string, ref: string): Promise<string | undefined> {
  const r = await execa('git', ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], {
    cwd: dir,
    reject: false,
    stdin: 'ignore',
  });
  return (r.exitCode === 0 && r.stdout.trim()) || undefined;
}

/** `git diff --shortstat from...to` (what `to` changed since its merge base with `from`) as numbers. */
export async function diffstat(
  dir: string,
  from: string,
  to: string,
): Promise<{ files: number; insertions: number; deletions: number }> {
  // Three dots: changes on `to` since it forked from `from`. A retried task's branch started
  // from an older integration SHA than the one it is given now; its own work is what counts.
  const out = await git(dir, ['diff', '--shortstat', `${from}...${to}`]);
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? 0);
  return {
    files: num(/(\d+) files? changed/),
    insertions: num(/(\d+) insertions?/),
    deletions: num(/(\d+) deletions?/),
  };
}

/** A git failure of a checkpoint or commit step, with what git said. */
export class GitStepError extends Error {}

/**
 * Exclude pathspecs for `git add --all -- .`, one per `exclude` path that is not ignored anyway.
 * An exclude pathspec naming a path .gitignore ignores (the usual `.env`) makes `git add` fail
 * ("The following paths are ignored…"), and `add --all` skips such a path by itself.
 * `env` selects the index (tracked paths are never reported as ignored).
 * @throws GitStepError when `git check-ignore` fails
 */
export async function excludePathspecs(
  dir: string,
  exclude: string[],
  env: Record<string, string> = {},
): Promise<string[]> {
  const paths = exclude.filter((p) => p.trim() !== '');
  if (paths.length === 0) return [];
  const r = await execa('git', ['check-ignore', '--', ...paths], { cwd: dir, env, reject: false, stdin: 'ignore' });
  // check-ignore exits 1 when nothing is ignored; anything else but 0 is an error.
  if (r.exitCode !== 0 && r.exitCode !== 1) throw new GitStepError(`git check-ignore failed in ${dir}: ${r.stderr}`);
  const ignored = new Set(r.stdout.split('\n').filter(Boolean));
  return paths.filter((p) => !ignored.has(p)).map((p) => `:(exclude,literal)${p}`);
}

const locks = new Map<string, Promise<unknown>>();

/**
 * How long a lock whose holder stopped refreshing it counts as held, ms. proper-lockfile refreshes
 * a held lock's mtime every half of this, so only a dead holder (a SIGKILLed worker) or one that
 * stalled this long (Ctrl-Z, a paused VM, a blocked event loop) lets it age.
 */
const REPO_LOCK_STALE_MS = 20_000;

/** What a holder of the repository lock can ask while it holds it (see {@link withRepoLock}). */
export interface RepoLockHold {
  /** Set once the lock was lost while held (its file taken over as stale, or removed): why. */
  lost?: Error;
}

/**
 * Runs `fn` while holding the lock on `repo`: first this process's queue (keyed by absolute path,
 * so calls run in order), then a lock file in the repository's git directory
 * (`.git/flotilla.lock`, through proper-lockfile), because two workers on one host (say
 * `flotilla run` and a `flotilla worker`) share the host's task queue. Serializes worktree and
 * branch creation and merges per repository. Activities that call it heartbeat around it (see
 * `heartbeating` in checks.ts): the wait may take minutes.
 *
 * A holder that stalls longer than the stale time (20 s) loses the lock to the next process that
 * wants it. proper-lockfile finds out when the holder runs again, from a timer, and by default
 * throws there: an uncaught exception that would crash the whole worker and kill its agents. Here
 * the loss is only recorded (`hold.lost`, which `fn` may check before its next git step), `fn` is
 * let finish, the lock file (now the other process's) is left alone, and the call fails with the
 * retryable `RepoLockLost`: its steps may have overlapped another holder's. So every `fn` must be
 * safe to run again after running in part or whole: they create what is missing and move refs by
 * compare-and-swap (`git update-ref ref new old`), which is what makes the retry safe.
 * @throws retryable HostFailure `RepoLockLost` when the lock was lost while `fn` ran
 *   (`fn`'s own error, if any, is its cause); Error when the lock file stays held by a live
 *   process for about 5 minutes
 */
export async function withRepoLock<T>(repo: string, fn: (hold: RepoLockHold) => Promise<T>): Promise<T> {
  const previous = locks.get(repo) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const chained = previous.then(() => mine);
  locks.set(repo, chained);
  await previous.catch(() => undefined);
  try {
    const hold: RepoLockHold = {};
    const unlock = await lockfile.lock(repo, {
      lockfilePath: path.join(await gitCommonDir(repo), 'flotilla.lock'),
      realpath: false,
      stale: REPO_LOCK_STALE_MS,
      retries: { retries: 300, factor: 1.2, minTimeout: 50, maxTimeout: 1000 },
      // Called from a timer: it must not throw (see above).
      onCompromised: (err) => {
        hold.lost = err;
      },
    });
    let result: T;
    try {
      result = await fn(hold);
    } catch (err) {
      throw hold.lost ? lockLost(repo, hold.lost, err) : err;
    } finally {
      // A lost lock is not unlocked: proper-lockfile answers ERELEASED and leaves the file alone.
      await unlock().catch(() => undefined);
    }
    if (hold.lost) throw lockLost(repo, hold.lost);
    return result;
  } finally {
    release();
    if (locks.get(repo) === chained) locks.delete(repo);
  }
}

function lockLost(repo: string, why: Error, cause?: unknown): HostFailure {
  return new HostFailure({
    message:
      `the lock on ${repo} (flotilla.lock in its git directory) was lost while held (${why.message}): ` +
      `this process stalled for more than ${REPO_LOCK_STALE_MS / 1000} s and another one took the lock, ` +
      'so the operation is retried',
    type: ErrorType.RepoLockLost,
    nonRetryable: false,
    cause: cause instanceof Error ? cause : undefined,
  });
}

/**
 * The refs Flotilla moves only while it holds the repository lock, and that nobody else writes:
 * the candidate ref, branch owners, stale checkpoints kept aside, archives, and (see
 * {@link removeStaleRefLock}) its branches. Not checkpoints or leases: snapshots write those
 * without the lock, while an agent runs.
 */
const LOCKED_REFS = [
  'refs/flotilla/candidates/',
  'refs/flotilla/owners/',
  'refs/flotilla/stale-checkpoints/',
  'refs/flotilla/archive/',
  'refs/heads/flotilla/',
];

/**
 * Removes `<ref>.lock`, the file git creates next to a loose ref while it moves the ref
 * (gitrepository-layout(5); git-update-ref(1) "cannot lock ref … File exists"), when a git that
 * was killed (with its SIGKILLed worker) left it: every later update of that ref would fail on it
 * until a person deleted it. The one helper for every ref Flotilla moves under its repository
 * lock; call it right before the update.
 *
 * Why no age or process check is needed: such a ref (`LOCKED_REFS`) is written only by Flotilla,
 * and only by git commands it runs while it holds the repository lock ({@link withRepoLock}, on
 * every host process that shares the repository). While the caller holds that lock (`hold`, not
 * lost), no live git of ours can be holding the ref's lock, so a `.lock` file there is stale by
 * construction. A branch (`refs/heads/flotilla/…`) counts only while no worktree has it checked
 * out (`git for-each-ref --format=%(worktreepath)`): an agent or a person committing there takes
 * its lock without ours. Never called for a ref a person may be writing (the base branch, their
 * own branches): those are refused.
 * @returns whether it removed one
 * @throws Error when `ref` is not one of Flotilla's locked refs, or when the repository lock was
 *   lost (`hold.lost`: another process may be moving refs now)
 */
export async function removeStaleRefLock(repo: string, ref: string, hold: RepoLockHold): Promise<boolean> {
  if (!LOCKED_REFS.some((prefix) => ref.startsWith(prefix)))
    throw new Error(`${ref} is not a ref only Flotilla writes under its repository lock; its lock is never removed`);
  if (hold.lost) throw new Error(`the repository lock on ${repo} was lost; the lock of ${ref} is left alone`);
  const lock = path.join(await gitCommonDir(repo), `${ref}.lock`);
  if (!existsSync(lock)) return false;
  if (ref.startsWith('refs/heads/')) {
    const where = await execa('git', ['for-each-ref', '--format=%(worktreepath)', ref], {
      cwd: repo,
      reject: false,
      stdin: 'ignore',
    });
    if (where.exitCode !== 0 || (where.stdout ?? '').trim() !== '') return false;
  }
  rmSync(lock, { force: true });
  hostLog.warn('removed a ref lock left by a killed git', { lock });
  return true;
}

const commonDirs = new Map<string, string>();

/** The repository's shared git directory (`.git` of the main worktree), absolute. */
export async function gitCommonDir(repo: string): Promise<string> {
  let dir = commonDirs.get(repo);
  if (!dir) {
    dir = path.resolve(repo, (await git(repo, ['rev-parse', '--git-common-dir'])).trim());
    commonDirs.set(repo, dir);
  }
  return dir;
}

let versionProbe: Promise<number[]> | undefined;

/**
 * Checks that the host's git is at least `major.minor`, for a command that needs it (`merge-tree
 * --write-tree`, `--name-only` and `-z`: git 2.38, see git-merge-tree(1)). The version is read
 * once per process from `git --version` ("git version 2.39.5", also "2.39.5.windows.1" and
 * "2.39.5 (Apple Git-143)").
 * @throws non-retryable `GitTooOld` naming the version found and what needs the newer one
 */
export async function requireGitVersion(major: number, minor: number, feature: string): Promise<void> {
  versionProbe ??= execa('git', ['--version'], { reject: false, stdin: 'ignore' }).then((r) =>
    (/(\d+)\.(\d+)/.exec(r.stdout ?? '') ?? []).slice(1).map(Number),
  );
  const [maj, min] = await versionProbe;
  if (maj === undefined || min === undefined) {
    versionProbe = undefined; // git missing or unreadable: ask again next time
    throw new Error(`cannot tell the version of git (\`git --version\`), which ${feature} needs`);
  }
  if (maj > major || (maj === major && min >= minor)) return;
  throw HostFailure.nonRetryable(
    `${feature} needs git >= ${major}.${minor}; this host has git ${maj}.${min}: upgrade git on the worker's host`,
    ErrorType.GitTooOld,
  );
}

/** True when commit `a` is an ancestor of (or equal to) commit `b` in the repository of `dir`. */
export function isAncestor(dir: string, a: string, b: string): Promise<boolean> {
  return gitSucceeds(dir, ['merge-base', '--is-ancestor', a, b]);
}
