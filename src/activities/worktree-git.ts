/**
 * The git steps of making a mission's branches and worktrees (worktree.ts puts them together):
 * branches owned by a mission run, worktrees made or reused (never a directory deleted that may
 * hold someone's work: it is moved aside), a task's checkpoint restored into a new worktree
 * (the refs a host adopts from a mission's shared origin are origin-adopt.ts's).
 */
import { ApplicationFailure } from '@temporalio/activity';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import path from 'node:path';
import { ErrorType } from '../mission/error-types';
import { git, gitRun, resolveRef } from './git';

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
 * into this run's worktree.
 */
export async function archiveStaleCheckpoint(repo: string, ref: string): Promise<void> {
  const stale = await resolveRef(repo, ref);
  if (!stale) return;
  const aside = asideRef(ref);
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
): Promise<string | null> {
  const ckpt = await resolveRef(repo, ref);
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

/** Creates `branch` at `sha` owned by `runId`, or checks that an existing one is ours. */
export async function ensureBranch(repo: string, branch: string, sha: string, runId: string): Promise<void> {
  const key = `branch.${branch}.flotillaRun`;
  if (await resolveRef(repo, `refs/heads/${branch}`)) {
    const owner = (await git(repo, ['config', '--get', key]).catch(() => '')).trim();
    if (owner !== runId) {
      throw ApplicationFailure.nonRetryable(
        `branch ${branch} already exists and belongs to another mission run; delete it (git branch -D ${branch}) or start the mission with another --id`,
        ErrorType.BranchTaken,
      );
    }
    return;
  }
  // Owner first: a crash between the two steps must not leave a branch a retry refuses as foreign.
  await git(repo, ['config', key, runId]);
  await git(repo, ['branch', branch, sha]);
}

/**
 * Makes `dir` a worktree of `repo` with `branch` checked out. An existing healthy worktree is
 * reused; a directory that is not one (e.g. left by a deleted repository) is moved aside, never
 * deleted, since it may hold someone's work.
 * @returns true when it created the worktree
 */
export async function ensureWorktree(repo: string, dir: string, branch: string): Promise<boolean> {
  if (existsSync(dir)) {
    const top = (await git(dir, ['rev-parse', '--show-toplevel']).catch(() => '')).trim();
    const head = (await git(dir, ['symbolic-ref', '--quiet', '--short', 'HEAD']).catch(() => '')).trim();
    if (top && path.resolve(top) === path.resolve(dir) && head === branch) return false;
    renameSync(dir, `${dir}.stale-${Date.now()}`);
  }
  await git(repo, ['worktree', 'prune']);
  mkdirSync(path.dirname(dir), { recursive: true });
  await git(repo, ['worktree', 'add', '--quiet', dir, branch]);
  return true;
}

/**
 * Makes `dir` a worktree of `repo` whose HEAD is detached: a new one at `branch`'s tip (`git
 * worktree add --detach`). An existing healthy worktree that is detached is reused where its HEAD
 * is (verifyAt may have checked out a candidate there); one that has `branch` checked out is
 * detached at the same commit (`git checkout --detach`: index, files and untracked files stay as
 * they are). Anything else at `dir` is moved aside, as in {@link ensureWorktree}.
 * @returns true when it created the worktree
 */
export async function ensureDetachedWorktree(repo: string, dir: string, branch: string): Promise<boolean> {
  if (existsSync(dir)) {
    const top = (await git(dir, ['rev-parse', '--show-toplevel']).catch(() => '')).trim();
    if (top && path.resolve(top) === path.resolve(dir)) {
      const head = await gitRun(dir, ['symbolic-ref', '--quiet', '--short', 'HEAD']);
      if (head.exitCode !== 0) return false; // already detached
      if (head.output.trim() === branch) {
        await git(dir, ['checkout', '--quiet', '--detach']);
        return false;
      }
    }
    renameSync(dir, `${dir}.stale-${Date.now()}`);
  }
  await git(repo, ['worktree', 'prune']);
  mkdirSync(path.dirname(dir), { recursive: true });
  await git(repo, ['worktree', 'add', '--quiet', '--detach', dir, `refs/heads/${branch}`]);
  return true;
}
