/**
 * A task or a mission placed on this host, in a clone of a shared origin (`origin:`): this host's
 * refs and worktree are made what the origin holds (fetched into the tracking refs just before),
 * and the origin's values become this host's leases for its next pushes (see origin.ts). Call
 * under the repository lock (`hold`: ref locks a killed git left on the refs moved here are
 * removed, see `removeStaleRefLock`); owners are recorded as in branch-owner.ts.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { recordOwner } from './branch-owner';
import { git, isAncestor, resolveRef } from './git';
import { RepoLockHold, removeStaleRefLock } from './repo-lock';
import { recordLease, trackingRef } from './origin';
import { moveAside } from './worktree-add';

/**
 * The mission's refs as the origin has them (fetched into the tracking refs), for the host that
 * holds (or takes over) the integration worktree: the integration branch, owned by `runId`, when
 * this host has none or an older one; the merge queue's candidate ref whenever the origin has
 * one (the last host pushed it on every move, before the workflow saw the move).
 */
export async function adoptMissionRefs(
  repo: string,
  branch: string,
  missionId: string,
  runId: string,
  hold: RepoLockHold,
): Promise<void> {
  const remote = await resolveRef(repo, trackingRef(`refs/heads/${branch}`));
  const local = await resolveRef(repo, `refs/heads/${branch}`);
  if (remote && remote !== local && (!local || (await isAncestor(repo, local, remote)))) {
    await recordOwner(repo, branch, runId, hold);
    await removeStaleRefLock(repo, `refs/heads/${branch}`, hold);
    await git(repo, ['update-ref', '-m', "flotilla: the origin's integration branch", `refs/heads/${branch}`, remote]);
  }
  // The mission is placed here: this host goes on from the origin's integration branch.
  if (remote && (await resolveRef(repo, `refs/heads/${branch}`)) === remote)
    await recordLease(repo, `refs/heads/${branch}`, remote);
  const candidate = `refs/flotilla/candidates/${missionId}`;
  const pushed = await resolveRef(repo, trackingRef(candidate));
  if (!pushed) return;
  await removeStaleRefLock(repo, candidate, hold);
  await git(repo, ['update-ref', '-m', "flotilla: the origin's candidate", candidate, pushed]);
}

/**
 * Makes this host's task branch and checkpoint what the origin holds (fetched into the tracking
 * refs): the branch is set to the origin's (owned by `runId`), the checkpoint ref to the origin's
 * (the old value stays in its reflog), and a worktree that held other work is moved aside, so
 * ensureTaskWorktree re-creates it and restores the checkpoint. Either way the origin's values
 * become this host's leases (`recordLease`): the task is placed here. Nothing changes when the
 * origin has no such branch (a new task); only the leases when this host already matches it.
 */
export async function adoptOrigin(
  repo: string,
  t: { branch: string; ref: string; worktree: string; marker: string; stateDir: string; runId: string },
  hold: RepoLockHold,
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
  // The task is placed here: its next pushes are leased on what the origin holds now.
  await recordLease(repo, `refs/heads/${t.branch}`, remote);
  if (remoteCkpt) await recordLease(repo, t.ref, remoteCkpt);
  if (ours && healthy && local && (local === remote || (await isAncestor(repo, remote, local)))) return;
  if (existsSync(t.worktree)) await moveAside(repo, t.worktree);
  else await git(repo, ['worktree', 'prune']);
  await recordOwner(repo, t.branch, t.runId, hold);
  await removeStaleRefLock(repo, `refs/heads/${t.branch}`, hold);
  await git(repo, ['update-ref', '-m', "flotilla: adopt the origin's task branch", `refs/heads/${t.branch}`, remote]);
  await git(repo, ['update-ref', trackingRef(`refs/heads/${t.branch}`), remote]);
  if (remoteCkpt) {
    await git(repo, ['update-ref', '-m', "flotilla: adopt the origin's checkpoint", t.ref, remoteCkpt]);
  }
  mkdirSync(t.stateDir, { recursive: true });
  writeFileSync(t.marker, new Date().toISOString());
}
