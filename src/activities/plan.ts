/**
 * The plan workflow's own activities (`flotilla plan`, src/workflows/plan/), on the repository's
 * host: thin adapters over the planner's worktree (src/git/plan-worktree.ts) and the check of each
 * round's plan (the mission-file loader, src/mission-file/plan-check.ts). The planner itself runs
 * through `runAgent` with `role: 'planner'`; its transcripts are `runs/plan-<id>/planner/`.
 */
import { preparePlanWorktree, removePlanWorktree, type PlanPaths } from '../git/plan-worktree';
import { checkPlanFile, type PlanCheckResult } from '../mission-file/plan-check';
import type { ActivityConfig } from './config';
import { adapted } from './host-failures';

export interface PreparePlanInput {
  /** The plan's workflow id, `plan-<id>`: the name of its folders. */
  planId: string;
  /** The repository (absolute path on this host) and the base branch to plan on. */
  repo: string;
  base: string;
}

export interface PreparePlanResult extends PlanPaths {
  /** The base's commit the worktree is detached at. */
  baseSha: string;
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

/** The plan workflow's activities (see the module's comment). */
export function createPlanActivities(config: ActivityConfig) {
  return adapted({
    /**
     * Makes (or finds again, on a retry) the planner's detached worktree at the base's tip.
     * @throws GitError when the base branch is gone or the worktree cannot be added
     */
    preparePlan(input: PreparePlanInput): Promise<PreparePlanResult> {
      return preparePlanWorktree(config.home, input.planId, input.repo, input.base);
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
    removePlanWorktree(input: { repo: string; worktree: string }): Promise<void> {
      return removePlanWorktree(input.repo, input.worktree);
    },
  });
}
