/**
 * The git steps of making a mission's branches and worktrees (worktree.ts puts them together):
 * branches owned by a mission run, worktrees made or reused (never a directory deleted that may
 * hold someone's work: it is moved aside), a task's checkpoint restored into a new worktree, and
 * the refs a host adopts from a mission's shared origin.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ErrorType } from '../mission/error-types';
import { git, gitRun, isAncestor, resolveRef } from './git';
import { trackingRef } from './origin';

/**
 * The mission's refs as the origin has them (fetched into the tracking refs), for the host that
 * holds (or takes over) the integration worktree: the integration branch, owned by `runId`, when
 * this host has none or an older one; the merge queue's candidate ref whenever the origin has
 * one (the last host pushed it on every move, before the workflow saw the move).
 */
export async function adoptMissionRefs(repo: string, branch: string, missionId: string, runId: string): Promise<void> {
  const remote = await resolveRef(repo, trackingRef(`refs/heads/${branch}`));
  const local = await resolveRef(repo, `refs/heads/${branch}`);
  if (remote && remote !== local && (!local || (await isAncestor(repo, local, remote)))) {
    await git(repo, ['config', `branch.${branch}.flotillaRun`, runId]);
    await git(repo, ['update-ref', '-m', "flotilla: the origin's integration branch", `refs/heads/${branch}`, remote]);
  }
  const candidate = `refs/flotilla/candidates/${missionId}`;
  const pushed = await resolveRef(repo, trackingRef(candidate));
  if (pushed) await git(repo, ['update-ref', '-m', "flotilla: the origin's candidate", candidate, pushed]);
}

/**
 * Makes this host's task branch and checkpoint what the origin holds (fetched into the tracking
 * refs): the branch is set to the origin's (owned by `runId`), the checkpoint ref to the origin's
 * (the old value stays in its reflog), and a worktree that held other work is moved aside, so
 * ensureTaskWorktree re-creates it and restores the checkpoint. Nothing changes when the origin
 * has no such branch (a new task) or this host already matches it.
 */
export async function adoptOrigin(
  repo: string,
  t: { branch: string; ref: string; worktree: string; marker: string; stateDir: string; runId: string },
): Promise<void> {
  const remote = await resolveRef(repo, trackingRef(`refs/heads/${t.branch}`));
  if (!remote) return;
  const remoteCkpt = (await resolveRef(repo, trackingRef(t.ref))) ?? null;
  const local = await resolveRef(repo, `refs/heads/${t.branch}`);
  const localCkpt = (await resolveRef(repo, t.ref)) ?? null;
  const healthy = existsSync(path.join(t.worktree, '.git'));
  // Nothing newer on the origin than here: the origin's checkpoint is this host's own, and its
  // branch is this host's or behind it (commits made after the last push). Keep what is here.
  const ours = remoteCkpt === null || localCkpt === remoteCkpt;
  if (ours && healthy && local && (local === remote || (await isAncestor(repo, remote, local)))) return;
  if (existsSync(t.worktree)) renameSync(t.worktree, `${t.worktree}.stale-${Date.now()}`);
  await git(repo, ['worktree', 'prune']);
  await git(repo, ['config', `branch.${t.branch}.flotillaRun`, t.runId]);
  await git(repo, ['update-ref', '-m', "flotilla: adopt the origin's task branch", `refs/heads/${t.branch}`, remote]);
  await git(repo, ['update-ref', trackingRef(`refs/heads/${t.branch}`), remote]);
  if (remoteCkpt) {
    await git(repo, ['update-ref', '-m', "flotilla: adopt the origin's checkpoint", t.ref, remoteCkpt]);
  }
  mkdirSync(t.stateDir, { recursive: true });
  writeFileSync(t.marker, new Date().toISOString());
}

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
