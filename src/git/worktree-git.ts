/**
 * The git steps of making a mission's branches and worktrees (worktree.ts puts them together):
 * branches owned by a mission run, worktrees made or reused (never a directory deleted that may
 * hold someone's work: it is moved aside; a worktree whose add was cut short: worktree-add.ts), a task's checkpoint restored into a new worktree
 * (the refs a host adopts from a mission's shared origin are origin-adopt.ts's).
 */
import { HostFailure } from './failure';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ErrorType } from '../mission/error-types';
import { branchOwner, forgetOwnerBlob, ownerBlob, ownerRef } from './branch-owner';
import { git, GitError, gitResult, gitRun, resolveRef } from './git';
import { RepoLockHold, removeStaleRefLock } from './repo-lock';
import { removeStaleLocks } from './git-locks';
import { addWorktree, clearForAdd, ownGitDir, unfinishedAdd } from './worktree-add';

/**
 * Where a task's checkpoint ref `refs/flotilla/checkpoints/<m>/<t>` is moved aside, or what a
 * discarded worktree is kept under: `refs/flotilla/stale-checkpoints/<m>/<t>/<epoch ms>`.
 */
export function asideRef(ref: string): string {
  return `${ref.replace(/^refs\/flotilla\/checkpoints\//, 'refs/flotilla/stale-checkpoints/')}/${Date.now()}`;
}

/**
 * A checkpoint ref whose task branch does not exist was left by an earlier run of a mission with
 * the same id (its branches deleted since): moved aside, never deleted, so it is not restored
 * into this run's worktree. Under the repository lock (`hold`).
 */
export async function archiveStaleCheckpoint(
  repo: string,
  ref: string,
  hold: RepoLockHold,
  /** What the ref holds, read under the same lock (null: nothing); undefined: read it here. */
  known?: string | null,
): Promise<void> {
  const stale = known === undefined ? await resolveRef(repo, ref) : known;
  if (!stale) return;
  const aside = asideRef(ref);
  await removeStaleRefLock(repo, aside, hold);
  await git(repo, ['update-ref', aside, stale]);
  await git(repo, ['update-ref', '-d', ref, stale]);
}

/**
 * Restores checkpoint `ref` into a freshly created `worktree` when the checkpoint was taken on
 * the branch's tip (later commits on the branch supersede an older checkpoint).
 * @returns the restored checkpoint's SHA, or null
 */
export async function restoreCheckpoint(
  repo: string,
  worktree: string,
  branch: string,
  ref: string,
  /** What the checkpoint ref holds, read under the same lock (null: nothing); undefined: read it here. */
  known?: string | null,
): Promise<string | null> {
  const ckpt = known === undefined ? await resolveRef(repo, ref) : known;
  if (!ckpt) return null;
  const tip = await resolveRef(repo, `refs/heads/${branch}`);
  const parent = await resolveRef(repo, `${ckpt}^1`);
  if (!tip || parent !== tip) return null;
  // --worktree only: files come back as the agent left them, nothing staged; paths tracked on the
  // branch but absent from the checkpoint (the agent deleted them) are deleted again.
  const r = await gitRun(worktree, ['restore', `--source=${ckpt}`, '--worktree', '--', '.']);
  if (r.exitCode !== 0) throw new Error(`restoring checkpoint ${ckpt} into ${worktree} failed: ${r.output}`);
  return ckpt;
}

/**
 * Creates `branch` at `sha` owned by `runId` (recorded under `refs/flotilla/owners/`, see
 * branch-owner.ts; nothing is written to the repository's config), or checks that an existing
 * one is owned by `runId`. The branch is created with `git update-ref` against the zero id
 * (compare-and-swap: it must not exist), after a ref lock a killed `git` left on it is removed
 * (`removeStaleRefLock`: nobody commits on a branch that does not exist yet). Call under the
 * repository lock (`hold`).
 * @throws non-retryable `BranchTaken` when the branch exists and another mission run (or no
 *   Flotilla run) owns it; GitError when git fails
 */
export async function ensureBranch(
  repo: string,
  branch: string,
  sha: string,
  runId: string,
  hold: RepoLockHold,
  /** What the branch holds, read under the same lock (null: it does not exist); undefined: read it here. */
  known?: string | null,
): Promise<void> {
  const ref = `refs/heads/${branch}`;
  if (known === undefined ? await resolveRef(repo, ref) : known) {
    if ((await branchOwner(repo, branch)) !== runId) {
      throw HostFailure.nonRetryable(
        `branch ${branch} already exists and belongs to another mission run; start the mission with another --id, or land and clean the earlier run first (flotilla land, then flotilla clean --yes: clean archives each branch it deletes under refs/flotilla/archive/)`,
        ErrorType.BranchTaken,
      );
    }
    return;
  }
  // A full object id is checked by update-ref itself (it refuses a missing object): no rev-parse.
  const target = FULL_ID.test(sha) ? sha : await resolveRef(repo, sha);
  if (!target) throw new Error(`cannot create branch ${branch}: ${sha} is not a commit in ${repo}`);
  const owner = ownerRef(branch);
  const blob = await ownerBlob(repo, runId);
  await removeStaleRefLock(repo, owner, hold);
  await removeStaleRefLock(repo, ref, hold);
  // The owner and the branch in one transaction (all or nothing): no crash leaves a branch that a
  // retry would refuse as foreign. `create` is a compare-and-swap: the branch must not exist.
  const r = await gitResult(repo, ['update-ref', '--create-reflog', '-m', `flotilla: branch ${branch}`, '--stdin'], {
    input: `update ${owner} ${blob}\ncreate ${ref} ${target}\n`,
  });
  if (r.code !== 0) {
    forgetOwnerBlob(repo, runId);
    if (target === sha && !(await resolveRef(repo, `${sha}^{commit}`)))
      throw new Error(`cannot create branch ${branch}: ${sha} is not a commit in ${repo}`);
    throw new GitError(['update-ref', '--stdin'], repo, r.code, r.err || r.out);
  }
}

/** A full object id (SHA-1 or SHA-256), lower-case hex. */
const FULL_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * Makes `dir` a worktree of `repo` with `branch` checked out. An existing healthy worktree is
 * reused (git locks a killed git left there are removed, see `reused`); one
 * whose `git worktree add` was cut short is removed and added again when the marker `adding`
 * says Flotilla started that add (worktree-add.ts), else moved aside; a directory that is not a
 * worktree (e.g. left by a deleted repository) is moved aside, never deleted, since it may hold
 * someone's work.
 * @param adding the marker file for this worktree (`worktree.adding` in its state folder)
 * @returns true when it created the worktree
 */
export async function ensureWorktree(repo: string, dir: string, branch: string, adding: string): Promise<boolean> {
  if (existsSync(dir)) {
    if (!unfinishedAdd(dir)) {
      const top = (await git(dir, ['rev-parse', '--show-toplevel']).catch(() => '')).trim();
      const head = (await git(dir, ['symbolic-ref', '--quiet', '--short', 'HEAD']).catch(() => '')).trim();
      if (top && path.resolve(top) === path.resolve(dir) && head === branch) return reused(dir, adding);
    }
    await clearForAdd(repo, dir, adding);
  }
  await addWorktree(repo, dir, [dir, branch], adding);
  return true;
}

/**
 * A healthy worktree at `dir` is used as it is: a marker left by a crash right after its add
 * goes, and so do git locks a killed git left there (`removeStaleLocks` without a minimum age:
 * nothing of Flotilla's works in a worktree while it is being prepared, and a git process of
 * anyone else's working there keeps them).
 */
async function reused(dir: string, adding: string): Promise<false> {
  rmSync(adding, { force: true });
  const own = ownGitDir(dir);
  if (own) await removeStaleLocks(dir, own, 0);
  return false;
}

/**
 * Makes `dir` a worktree of `repo` whose HEAD is detached: a new one at `branch`'s tip (`git
 * worktree add --detach`). An existing healthy worktree that is detached is reused where its HEAD
 * is (verifyAt may have checked out a candidate there); one that has `branch` checked out is
 * detached at the same commit (`git checkout --detach`: index, files and untracked files stay as
 * they are). A half-made one, or anything else at `dir`, is handled as in {@link ensureWorktree}.
 * @returns true when it created the worktree
 */
export async function ensureDetachedWorktree(
  repo: string,
  dir: string,
  branch: string,
  adding: string,
): Promise<boolean> {
  if (existsSync(dir)) {
    const top = unfinishedAdd(dir) ? '' : (await git(dir, ['rev-parse', '--show-toplevel']).catch(() => '')).trim();
    if (top && path.resolve(top) === path.resolve(dir)) {
      const head = await gitRun(dir, ['symbolic-ref', '--quiet', '--short', 'HEAD']);
      if (head.exitCode !== 0) return reused(dir, adding); // already detached
      if (head.output.trim() === branch) {
        await reused(dir, adding);
        await git(dir, ['checkout', '--quiet', '--detach']);
        return false;
      }
    }
    await clearForAdd(repo, dir, adding);
  }
  await addWorktree(repo, dir, ['--detach', dir, `refs/heads/${branch}`], adding);
  return true;
}
