/**
 * The planner's detached worktree of the base (`flotilla plan`, src/workflows/plan/): made and
 * removed here, Flotilla owns it, nothing of the user's is ever in it. Files, under
 * `$FLOTILLA_HOME`: the worktree `worktrees/plan-<id>/base`; the file the planner writes
 * `runs/plan-<id>/planner/out/plan.yaml` (the only folder its sandbox may write); the checked
 * mission file `runs/plan-<id>/planner/mission.yaml`.
 */
import { mkdirSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { agentDir } from '../agents/paths';
import { git, GitError, resolveRef } from './git';
import { withRepoLock } from './repo-lock';
import { ADDING_MARKER } from './worktree-add';
import { ensureDetachedWorktree } from './worktree-git';

/** Where a plan's worktree and files are (absolute paths under `home`). */
export interface PlanPaths {
  worktree: string;
  /** Where the planner writes its plan ($FLOTILLA_PLAN_FILE). */
  planFile: string;
  /** Where each round's checked mission file goes. */
  missionFile: string;
}

/** The folders of the plan `planId` (`plan-<id>`) under `home` (`$FLOTILLA_HOME`). */
export function planPaths(home: string, planId: string): PlanPaths {
  const dir = agentDir(home, planId, 'planner', 'planner');
  return {
    worktree: path.join(home, 'worktrees', planId, 'base'),
    planFile: path.join(dir, 'out', 'plan.yaml'),
    missionFile: path.join(dir, 'mission.yaml'),
  };
}

/**
 * Makes (or finds again, on a retry) the planner's detached worktree of `repo` at `base`'s tip,
 * under the repository lock.
 * @returns its paths and the commit it is detached at
 * @throws GitError when the base branch is gone or the worktree cannot be added
 */
export async function preparePlanWorktree(
  home: string,
  planId: string,
  repo: string,
  base: string,
): Promise<PlanPaths & { baseSha: string }> {
  const p = planPaths(home, planId);
  mkdirSync(path.dirname(p.planFile), { recursive: true });
  const adding = path.join(path.dirname(p.missionFile), ADDING_MARKER);
  await withRepoLock(repo, () => ensureDetachedWorktree(repo, p.worktree, base, adding));
  return { ...p, baseSha: (await resolveRef(p.worktree, 'HEAD')) ?? '' };
}

/**
 * Removes the planner's worktree (`git worktree remove --force`: Flotilla made it detached and
 * nothing in it is anyone's work), then its folder `worktrees/plan-<id>/` once empty. Done when
 * it is already gone.
 */
export async function removePlanWorktree(repo: string, worktree: string): Promise<void> {
  await withRepoLock(repo, async () => {
    try {
      await git(repo, ['worktree', 'remove', '--force', worktree]);
    } catch (err) {
      if (!(err instanceof GitError)) throw err;
      await git(repo, ['worktree', 'prune']);
    }
  });
  try {
    rmdirSync(path.dirname(worktree));
  } catch {
    // Not empty (something else is there) or gone already: leave it.
  }
}
