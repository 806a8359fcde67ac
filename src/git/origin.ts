/**
 * A mission's shared origin (`origin:` in the mission file): each worker host keeps its own clone
 * of it under `$FLOTILLA_HOME/clones/<hash of the origin>`, and the activities that write refs a
 * task on another host (or the mission's host) needs push them there as they go:
 * - the task host pushes its task branch when it makes it, commits on it or records a checkpoint
 *   (an agent may commit, and may amend its own commits), and the checkpoint ref after it;
 * - the mission host fetches a task branch before it merges it, pushes the integration branch
 *   when it moves (compare-and-swap on what the origin held) and the merge queue's candidate (so
 *   a fix round on another host can fetch the commit it starts from).
 *
 * A clone says what it is in its own git config (`flotilla.origin = <origin>`), so activities
 * decide by the repository they are given: a user's own repository (a mission without `origin:`)
 * never has the key, and nothing there is fetched or pushed.
 *
 * Pushes are leased (git's `--force-with-lease=<ref>:<expect>`, see `man git-push`) on what this
 * host last pushed to that ref, or took from it on purpose when the task or the mission was placed
 * here: recorded under {@link leaseRef}, which no fetch writes. Never on the remote-tracking ref:
 * routine fetches (another task's worktree, conflict prediction) move it to whatever the origin
 * holds, so a host presumed lost that fetched since would lease on, and overwrite, the newer task
 * branch or checkpoint another host pushed. Without a lease (a ref this host never pushed nor
 * took) a push may only create the ref or fast-forward it, which loses nothing.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { git, GitError, resolveRef } from './git';
import { gitDirsOf } from './git-dirs';

/** The git config key that marks a Flotilla clone and names its origin. */
const CLONE_KEY = 'flotilla.origin';
/**
 * Never prompt for credentials in an activity, and never hang on a dead network while holding the
 * clone's lock: fail (an HTTP transfer under 1 kB/s for a minute, an ssh server silent for a
 * minute), and let Temporal retry.
 */
const NO_PROMPT = {
  GIT_TERMINAL_PROMPT: '0',
  GIT_HTTP_LOW_SPEED_LIMIT: '1000',
  GIT_HTTP_LOW_SPEED_TIME: '60',
  GIT_SSH_COMMAND:
    process.env.GIT_SSH_COMMAND ??
    'ssh -o BatchMode=yes -o ConnectTimeout=20 -o ServerAliveInterval=15 -o ServerAliveCountMax=4',
};

/** Where this host keeps its clone of `origin`: `<home>/clones/<first 16 hex of sha256(origin)>`. */
export function clonePath(home: string, origin: string): string {
  return path.join(home, 'clones', createHash('sha256').update(origin).digest('hex').slice(0, 16));
}

const cloning = new Map<string, Promise<string>>();

/**
 * This host's clone of `origin` (made on first use: `git clone --no-checkout`, into a temporary
 * directory renamed into place, so a crash never leaves half a clone where the next call looks).
 * @returns its absolute path
 * @throws GitError when the origin cannot be cloned (unreachable, not a repository)
 */
export function ensureClone(home: string, origin: string): Promise<string> {
  const dir = clonePath(home, origin);
  const running = cloning.get(dir);
  if (running) return running;
  const made = (async (): Promise<string> => {
    if (existsSync(path.join(dir, '.git'))) return dir;
    mkdirSync(path.dirname(dir), { recursive: true });
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    try {
      await git(path.dirname(dir), ['clone', '--quiet', '--no-checkout', '--no-tags', origin, tmp], { env: NO_PROMPT });
      await git(tmp, ['config', CLONE_KEY, origin]);
      // Worktrees of this clone hold task branches; git's gc must not prune their objects early.
      await git(tmp, ['config', 'gc.worktreePruneExpire', 'never']);
      if (!existsSync(path.join(dir, '.git'))) renameSync(tmp, dir);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    return dir;
  })();
  cloning.set(dir, made);
  return made.finally(() => cloning.delete(dir));
}

const origins = new Map<string, string | null>();

/**
 * The origin `dir`'s repository is a Flotilla clone of, or null for any other repository (what a
 * mission without `origin:` works in). `dir` may be the clone or one of its worktrees.
 */
export async function cloneOrigin(dir: string): Promise<string | null> {
  // Asked once per repository, not per worktree: the key lives in the repository's shared config.
  const key = gitDirsOf(dir)?.common ?? dir;
  const known = origins.get(key);
  if (known !== undefined) return known;
  const value = (await git(dir, ['config', '--get', CLONE_KEY]).catch(() => '')).trim() || null;
  origins.set(key, value);
  return value;
}

/** Fetches `refspecs` from the clone's `origin` remote (glob refspecs that match nothing are fine). */
export async function fetchOrigin(repo: string, refspecs: string[]): Promise<void> {
  await git(repo, ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', 'origin', ...refspecs], {
    env: NO_PROMPT,
  });
}

/** What the origin's `ref` holds now (`git ls-remote`), or null when it has no such ref. */
export async function originRef(repo: string, ref: string): Promise<string | null> {
  const out = await git(repo, ['ls-remote', 'origin', ref], { env: NO_PROMPT });
  const line = out.split('\n').find((l) => l.endsWith(`\t${ref}`));
  return line ? line.split('\t')[0] : null;
}

/** How a push may move the origin's ref. */
export type PushLease =
  /** Only if the origin holds `expected` (null: has no such ref): git's `--force-with-lease`. */
  | { kind: 'lease'; expected: string | null }
  /** Only if the origin lacks the ref or `sha` descends from what it holds (a plain push). */
  | { kind: 'fast-forward' }
  /** Whatever it holds (refs only the mission's host writes, such as the merge queue's candidate). */
  | { kind: 'force' };

/**
 * Pushes `sha` to the origin's `ref`. Idempotent: an origin that already holds `sha` is success (a
 * retry after a push whose answer was lost).
 * @throws GitError when the push is refused (the origin moved under a lease, a non-fast-forward)
 *   or the origin cannot be reached
 */
export async function pushOrigin(repo: string, ref: string, sha: string, lease: PushLease): Promise<void> {
  const spec = `${lease.kind === 'force' ? '+' : ''}${sha}:${ref}`;
  const args = ['push', '--quiet', '--no-verify', '--porcelain'];
  if (lease.kind === 'lease') args.push(`--force-with-lease=${ref}:${lease.expected ?? ''}`);
  try {
    await git(repo, [...args, 'origin', spec], { env: NO_PROMPT });
  } catch (err) {
    if (err instanceof GitError && (await originRef(repo, ref).catch(() => null)) === sha) return;
    throw err;
  }
}

/** The remote-tracking name this host keeps for the origin's `ref` (`refs/heads/x` → `refs/remotes/origin/x`). */
export function trackingRef(ref: string): string {
  if (ref.startsWith('refs/heads/')) return `refs/remotes/origin/${ref.slice('refs/heads/'.length)}`;
  return ref.replace(/^refs\/flotilla\//, 'refs/flotilla/origin/');
}

/**
 * Where this clone records its lease on the origin's `ref`: the commit it last pushed there, or
 * took from there on purpose ({@link recordLease}). `refs/flotilla/leases/<ref without refs/>`
 * (`refs/heads/x` → `refs/flotilla/leases/heads/x`): no refspec Flotilla fetches with writes there.
 */
export function leaseRef(ref: string): string {
  return `refs/flotilla/leases/${ref.replace(/^refs\//, '')}`;
}

/**
 * Records `sha` as this clone's lease on the origin's `ref`: call it after a push, and where the
 * host deliberately takes the origin's `ref` as the state it goes on from (a task or a mission
 * placed on it), never for a routine fetch. `dir` may be the clone or one of its worktrees.
 */
export async function recordLease(dir: string, ref: string, sha: string): Promise<void> {
  await git(dir, ['update-ref', leaseRef(ref), sha]);
}

/**
 * Pushes `ref` (as this clone holds it) to the origin, leased on this host's lease for it
 * ({@link leaseRef}: what it last pushed or took there; without one, create or fast-forward only),
 * then records the new lease and the tracking ref. A no-op outside a Flotilla clone.
 * @returns true when it pushed (or had nothing new to push)
 * @throws GitError when the origin refuses (it moved since this host's lease: another host pushed)
 */
export async function pushTracked(dir: string, ref: string): Promise<boolean> {
  if (!(await cloneOrigin(dir))) return false;
  const sha = await resolveRef(dir, ref);
  if (!sha) return false;
  const lease = (await resolveRef(dir, leaseRef(ref))) ?? null;
  if (lease === sha) return true;
  await pushOrigin(dir, ref, sha, lease ? { kind: 'lease', expected: lease } : { kind: 'fast-forward' });
  await recordLease(dir, ref, sha);
  await git(dir, ['update-ref', trackingRef(ref), sha]);
  return true;
}

/** Refspecs that fetch everything of one mission from the origin into this clone's tracking refs. */
export function missionRefspecs(missionId: string): string[] {
  return [
    `+refs/heads/flotilla/${missionId}/*:refs/remotes/origin/flotilla/${missionId}/*`,
    `+refs/flotilla/checkpoints/${missionId}/*:refs/flotilla/origin/checkpoints/${missionId}/*`,
    // A pattern, because a refspec naming a ref the origin lacks fails the whole fetch.
    `+refs/flotilla/candidates/${missionId}*:refs/flotilla/origin/candidates/${missionId}*`,
  ];
}

/**
 * Makes task branch `branch` of this clone what the origin holds (created, or moved; the old value
 * stays in the branch's reflog): the task's host pushed every commit before the task reported it,
 * so the origin's is the branch the task ended with, whatever an earlier placement of the task
 * on this host left here. Call it under the repository lock.
 */
export async function takeBranchFromOrigin(repo: string, branch: string): Promise<void> {
  // A pattern: a refspec naming a branch the origin lacks would fail the fetch.
  await fetchOrigin(repo, [`+refs/heads/${branch}*:refs/remotes/origin/${branch}*`]);
  const remote = await resolveRef(repo, trackingRef(`refs/heads/${branch}`));
  if (!remote) return;
  const local = await resolveRef(repo, `refs/heads/${branch}`);
  if (local === remote) return;
  await git(repo, ['update-ref', '-m', 'flotilla: task branch from the origin', `refs/heads/${branch}`, remote]);
}
