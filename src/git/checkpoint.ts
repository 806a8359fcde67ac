/**
 * Checkpoints: WIP snapshots of a task's worktree. `snapshotWorktree` (which runAgent calls while
 * the agent runs) and the `snapshot` activity record the worktree's whole state as a commit under
 * `refs/flotilla/checkpoints/<missionId>/<taskId>` without touching the agent's index, HEAD or
 * files: it stages into a temporary index, so it can run while the agent itself runs git. Every
 * checkpoint stays in that ref's reflog. A lost worktree is rebuilt from the task branch plus the
 * latest checkpoint (see worktree.ts). The task's clean commit on its branch is commit.ts. In a
 * clone of a mission's shared origin every new checkpoint is pushed there (origin.ts).
 */
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { names } from '../mission/types';
import { git as gitOut, GitStepError, identityConfig, resolveRef } from './git';
import { runGitTrimmed } from './spawn';
import { cloneOrigin, pushTracked } from './origin';
import { withStagedWorktree } from './setup-record';

export interface SnapshotOptions {
  /** The worktree to snapshot (absolute path). */
  worktree: string;
  /** The ref to record the snapshot under, e.g. `names.checkpointRef(missionId, taskId)`. */
  ref: string;
  /** Paths (relative to the worktree, taken literally) never to record: the mission's `copy` files. */
  exclude: string[];
  /** Commit message and reflog message of the snapshot. */
  message: string;
}
export interface SnapshotResult {
  /** The snapshot commit the ref points at after the call; null when the worktree is gone. */
  sha: string | null;
  /** True when this call made a new snapshot commit (false: nothing changed since the last one). */
  changed: boolean;
}

export interface SnapshotInput {
  worktree: string;
  /** The repository the worktree belongs to: where the ref is read when the worktree is gone. */
  repo: string;
  missionId: string;
  taskId: string;
  /** The mission's `copy` files (e.g. `.env`): never recorded, they may hold secrets. */
  exclude: string[];
  /** Why the snapshot is taken, e.g. `[cancelled]` or `[incomplete]`; goes into its message. */
  note: string;
}
export interface SnapshotActivityResult {
  /** `refs/flotilla/checkpoints/<missionId>/<taskId>`. */
  ref: string;
  /**
   * The latest snapshot after the call: the new one, the unchanged previous one, or (when the
   * worktree is gone) whatever the ref held; null when there has never been one.
   */
  sha: string | null;
  changed: boolean;
  /** True when the worktree directory no longer exists (nothing could be recorded). */
  worktreeGone: boolean;
}

/** Snapshots of one ref never overlap inside this process (the ref update is compare-and-swap anyway). */
const snapshotLocks = new Map<string, Promise<unknown>>();

async function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = snapshotLocks.get(key) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(fn);
  snapshotLocks.set(key, run);
  try {
    return await run;
  } finally {
    if (snapshotLocks.get(key) === run) snapshotLocks.delete(key);
  }
}

/**
 * Records the full state of `worktree` (tracked and untracked files, minus what .gitignore
 * ignores and minus `exclude`) as a commit whose parent is the worktree's HEAD, and points `ref`
 * at it (with a reflog entry, so every snapshot stays reachable for git's reflog expiry).
 *
 * Never disturbs an agent working there: it stages into a copy of the worktree's index (a
 * temporary file; the copy keeps the stat cache, so unchanged files are not re-hashed), never
 * takes the real `index.lock`, never moves HEAD or a branch and never writes a file of the
 * worktree. Idempotent: when the ref's commit already holds the same tree on the same parent it
 * makes no commit and returns that one.
 *
 * @returns `{ sha: null, changed: false }` when the worktree directory is gone (or no longer a
 *   git worktree), also when it vanishes during the snapshot (a ref update that raced the
 *   deletion is rolled back, so a half-deleted tree never becomes the latest snapshot)
 * @throws Error when git fails for another reason (a corrupt repository, a full disk)
 */
export async function snapshotWorktree(opts: SnapshotOptions): Promise<SnapshotResult> {
  const worktree = path.resolve(opts.worktree);
  const gone = (): boolean => !existsSync(path.join(worktree, '.git'));
  if (gone()) return { sha: null, changed: false };
  return serialized(`${worktree}\0${opts.ref}`, async () => {
    try {
      const r = await snapshotIn(worktree, opts, gone);
      // A clone of a shared origin: the checkpoint goes there too, so another host can take the
      // task over from it (leased: a host presumed dead never overwrites a newer checkpoint).
      if (r.sha && (await cloneOrigin(worktree))) {
        // The branch first: the checkpoint's parent is the branch's tip, commits the agent made
        // itself included, and a host taking the task over restores it only on that tip.
        const branch = (await gitOut(worktree, ['symbolic-ref', '--quiet', 'HEAD']).catch(() => '')).trim();
        if (branch) await pushTracked(worktree, branch);
        await pushTracked(worktree, opts.ref);
      }
      return r;
    } catch (err) {
      if (gone()) return { sha: null, changed: false };
      throw err;
    }
  });
}

async function snapshotIn(worktree: string, opts: SnapshotOptions, gone: () => boolean): Promise<SnapshotResult> {
  const identity = (await identityConfig(worktree)).flatMap((c) => ['-c', c]);
  // GIT_CEILING_DIRECTORIES: if the worktree's `.git` vanishes mid-way, git must fail rather
  // than find some enclosing repository (a dotfiles repo in $HOME) and snapshot that.
  const baseEnv = { GIT_CEILING_DIRECTORIES: path.dirname(worktree) };
  const git = async (args: string[]): Promise<string> => {
    const r = await runGitTrimmed([...identity, ...args], { cwd: worktree, env: baseEnv });
    if (r.exitCode !== 0) throw new GitStepError(`git ${args[0]} failed in ${worktree}: ${r.stderr || r.stdout}`);
    return r.stdout.trim();
  };
  const [top, head, headTree] = (await git(['rev-parse', '--show-toplevel', 'HEAD', 'HEAD^{tree}'])).split('\n');
  if (realpathSync(top) !== realpathSync(worktree)) return { sha: null, changed: false };

  // The same rule as the task's commit (commit.ts): what setup left is not the agent's work.
  const tree = await withStagedWorktree(
    worktree,
    { exclude: opts.exclude, env: baseEnv, leaveOutSetup: true },
    async (env) => (await gitOut(worktree, ['write-tree'], { env })).trim(),
  );

  const old = await git(['rev-parse', '--verify', '--quiet', `${opts.ref}^{commit}`]).catch(() => '');
  // Nothing beyond what the branch already holds, and no checkpoint yet: there is nothing to keep.
  if (!old && tree === headTree) return { sha: null, changed: false };
  if (old) {
    const [oldTree, oldParents = ''] = (await git(['show', '-s', '--format=%T%n%P', old])).split('\n');
    if (oldTree === tree && oldParents.split(' ')[0] === head) return { sha: old, changed: false };
  }
  const sha = await git(['commit-tree', '--no-gpg-sign', tree, '-p', head, '-m', opts.message]);
  const expected = old || '0'.repeat(sha.length);
  await git(['update-ref', '--create-reflog', '-m', opts.message, opts.ref, sha, expected]);
  if (gone()) {
    // The worktree was being deleted while we staged it: the tree may be half empty. Put the ref
    // back, so the rebuild restores the last complete snapshot instead.
    if (old)
      await git(['update-ref', '-m', 'flotilla: roll back a snapshot that raced a deletion', opts.ref, old, sha]);
    else await git(['update-ref', '-d', opts.ref, sha]);
    return { sha: null, changed: false };
  }
  return { sha, changed: true };
}

/**
 * Records the worktree's full state under `refs/flotilla/checkpoints/<missionId>/<taskId>`
 * (see {@link snapshotWorktree}) without committing on the task branch: for work kept after a
 * failure or a cancellation. Idempotent (an unchanged worktree makes no new commit).
 * @returns the latest snapshot; `worktreeGone` when the worktree no longer exists
 * @throws Error when git fails for another reason
 */
export async function snapshotTask(input: SnapshotInput): Promise<SnapshotActivityResult> {
  const ref = names.checkpointRef(input.missionId, input.taskId);
  const { sha, changed } = await snapshotWorktree({
    worktree: input.worktree,
    ref,
    exclude: input.exclude,
    message: `flotilla(${input.taskId}): checkpoint${input.note ? ` ${input.note}` : ''}`,
  });
  if (sha) return { ref, sha, changed, worktreeGone: false };
  const latest = existsSync(input.repo) ? ((await resolveRef(input.repo, ref)) ?? null) : null;
  return { ref, sha: latest, changed: false, worktreeGone: true };
}
