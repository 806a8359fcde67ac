/**
 * The per-repository lock, because `git worktree add` and ref updates are not safe to run
 * concurrently in one repository (`fatal: failed to read .git/worktrees/N/commondir` with 8 at
 * once), and the stale ref locks a killed git leaves, which only its holder may remove.
 */
import execa from 'execa';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { ErrorType } from '../mission/error-types';
import { HostFailure } from './failure';
import { gitCommonDir } from './git';
import { hostLog } from './log';

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
 * `heartbeating` in src/activities/checks.ts): the wait may take minutes.
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
