/**
 * The plan workflow's own activities (`flotilla plan`, src/workflows/plan/), on the repository's
 * host: the planner's detached worktree of the base (made and removed here: Flotilla owns it,
 * nothing of the user's is ever in it), and the check of each round's plan (the mission-file
 * loader, src/mission-file/plan-check.ts). The planner itself runs through `runAgent` with
 * `role: 'planner'`. Files, under `$FLOTILLA_HOME`: the worktree `worktrees/plan-<id>/base`; the
 * planner's transcripts `runs/plan-<id>/planner/attempt-<n>.jsonl`; the file it writes
 * `runs/plan-<id>/planner/out/plan.yaml` (the only folder its sandbox may write); the checked
 * mission file `runs/plan-<id>/planner/mission.yaml`.
 */
import { mkdirSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { agentDir } from '../agents/paths';
import { checkPlanFile, type PlanCheckResult } from '../mission-file/plan-check';
import type { ActivityConfig } from './config';
import { git, GitError, resolveRef, withRepoLock } from './git';
import { ADDING_MARKER } from './worktree-add';
import { ensureDetachedWorktree } from './worktree-git';

export interface PreparePlanInput {
  /** The plan's workflow id, `plan-<id>`: the name of its folders. */
  planId: string;
  /** The repository (absolute path on this host) and the base branch to plan on. */
  repo: string;
  base: string;
}

export interface PreparePlanResult {
  worktree: string;
  /** The base's commit the worktree is detached at. */
  baseSha: string;
  /** Where the planner writes its plan ($FLOTILLA_PLAN_FILE). */
  planFile: string;
  /** Where each round's checked mission file goes. */
  missionFile: string;
}

export interface CheckPlanInput extends Omit<PreparePlanResult, 'baseSha'> {
  repo: string;
  base: string;
  /** The mission id the plan gets unless the template sets one. */
  missionId: string;
  /** The template's fields (src/mission-file/plan-template.ts): they win over the planner's. */
  defaults: Record<string, unknown>;
}

export type CheckPlanResult = PlanCheckResult;

/** The planner's folders under `home`. */
function planPaths(home: string, planId: string): Omit<PreparePlanResult, 'baseSha'> {
  const dir = agentDir(home, planId, 'planner', 'planner');
  return {
    worktree: path.join(home, 'worktrees', planId, 'base'),
    planFile: path.join(dir, 'out', 'plan.yaml'),
    missionFile: path.join(dir, 'mission.yaml'),
  };
}

export function createPlanActivities(config: ActivityConfig) {
  return {
    /**
     * Makes (or finds again, on a retry) the planner's detached worktree at the base's tip.
     * @throws GitError when the base branch is gone or the worktree cannot be added
     */
    async preparePlan(input: PreparePlanInput): Promise<PreparePlanResult> {
      const p = planPaths(config.home, input.planId);
      mkdirSync(path.dirname(p.planFile), { recursive: true });
      const adding = path.join(path.dirname(p.missionFile), ADDING_MARKER);
      await withRepoLock(input.repo, () => ensureDetachedWorktree(input.repo, p.worktree, input.base, adding));
      const baseSha = (await resolveRef(p.worktree, 'HEAD')) ?? '';
      return { ...p, baseSha };
    },

    /** Checks the round's plan (see src/mission-file/plan-check.ts); a bad plan is a result, not a failure. */
    checkPlan(input: CheckPlanInput): Promise<CheckPlanResult> {
      return checkPlanFile({
        planFile: input.planFile,
        missionFile: input.missionFile,
        repo: input.repo,
        base: input.base,
        id: input.missionId,
        defaults: input.defaults,
        worktree: input.worktree,
      });
    },

    /**
     * Removes the planner's worktree (`git worktree remove --force`: Flotilla made it detached
     * and nothing in it is anyone's work). Done when it is already gone.
     */
    async removePlanWorktree(input: { repo: string; worktree: string }): Promise<void> {
      await withRepoLock(input.repo, async () => {
        try {
          await git(input.repo, ['worktree', 'remove', '--force', input.worktree]);
        } catch (err) {
          if (!(err instanceof GitError)) throw err;
          await git(input.repo, ['worktree', 'prune']);
        }
      });
      // Its folder `worktrees/plan-<id>/`, once empty.
      try {
        rmdirSync(path.dirname(input.worktree));
      } catch {
        // Not empty (something else is there) or gone already: leave it.
      }
    },
  };
}
