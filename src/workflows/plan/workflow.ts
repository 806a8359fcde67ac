/**
 * planWorkflow (`plan-<id>`, `flotilla plan`): a planner agent turns a goal into a mission file,
 * and Flotilla checks it with the same loader as `run`, sending the problems back to the planner
 * (its session resumed) for at most `maxRounds` rounds.
 *
 * claimHost (any worker) -> preparePlan (the host: a detached worktree of the base) -> per round:
 * runAgent (`role: 'planner'`: heartbeats, its session resumed by a retry after a worker crash)
 * -> checkPlan -> done when valid -> removePlanWorktree (always). The planner's usage goes into
 * one ledger (src/mission/usage.ts), its cost to the `FlotillaCostUsd` search attribute. The Web UI
 * shows the summary the client set at start (the goal) and, as current details, the round, the
 * problems and the plan (prompts.ts `planDetails`).
 */
import { CancellationScope, isCancellation } from '@temporalio/workflow';
import { failureDetails } from '../../mission/failures';
import { SEARCH_ATTRIBUTE_KEYS } from '../../mission/types';
import type { PreparePlanResult } from '../../activities/plan';
import { addAgentRun, sessionBaseFor, taskUsage, type TaskUsage } from '../../mission/usage';
import { anyWorker } from '../activities';
import { keepCurrentDetails, keepSearchAttributes } from '../details';
import { planHost } from './activities';
import { followUpPrompt, planDetails, planningPrompt } from './prompts';
import { DEFAULT_PLAN_ROUNDS, PlanInput, PlanResult, planWorkflowId } from './types';

/** Where a round stands, for the Web UI (prompts.ts `planDetails`). */
interface RoundState {
  round: number;
  maxRounds: number;
  step: string;
  problems: string[];
  yaml: string | null;
}

/**
 * One planner run of round `now.round` (resuming its session after round 1): its usage, or its
 * failure's, goes into `usage`.
 * @returns the planner's last words
 * @throws what runAgent throws once its retries are spent
 */
async function runPlanner(
  acts: ReturnType<typeof planHost>,
  input: PlanInput,
  wt: PreparePlanResult,
  usage: TaskUsage,
  prompt: string,
  now: RoundState,
): Promise<string> {
  const resume = now.round > 1 ? usage.sessionId : null;
  try {
    const run = await acts.runAgent.executeWithOptions(
      { summary: `planner (${input.planner.runtime}), round ${now.round}${resume ? ', resumed' : ''}` },
      [
        {
          missionId: planWorkflowId(input.id),
          taskId: 'planner',
          role: 'planner',
          worktree: wt.worktree,
          branch: `(detached at ${input.base})`,
          baseSha: wt.baseSha,
          agent: input.planner,
          prompt,
          taskPrompt: planningPrompt(input),
          iteration: now.round,
          resumeSessionId: resume,
          extraEnv: {
            FLOTILLA_PLAN_FILE: wt.planFile,
            FLOTILLA_PLAN_ROUND: String(now.round),
            ...(now.problems.length ? { FLOTILLA_PLAN_ERRORS: now.problems.join('\n') } : {}),
          },
          ...sessionBaseFor(usage, resume),
        },
      ],
    );
    addAgentRun(usage, run, run.attempt);
    return run.summary;
  } catch (err) {
    const { details } = failureDetails(err);
    if (details) addAgentRun(usage, details, details.attempt);
    throw err;
  }
}

/** The plan workflow; its function name is its workflow type (never rename it). */
export async function planWorkflow(input: PlanInput): Promise<PlanResult> {
  const maxRounds = input.maxRounds ?? DEFAULT_PLAN_ROUNDS;
  const usage = taskUsage();
  const now: RoundState = { round: 0, maxRounds, step: 'claiming a host', problems: [], yaml: null };
  keepCurrentDetails(() => planDetails(input, { ...now, costUsd: usage.costUsd }));
  const attributes = keepSearchAttributes(() => [
    { key: SEARCH_ATTRIBUTE_KEYS.costUsd, value: Math.round(usage.costUsd * 100) / 100 },
  ]);
  const host = await anyWorker.claimHost.executeWithOptions({ summary: `plan ${input.id}: claim a host` }, [
    { repo: input.repo },
  ]);
  const acts = planHost(host.taskQueue, input.planner);
  now.step = 'preparing the worktree';
  const wt = await acts.preparePlan({ planId: planWorkflowId(input.id), repo: host.repo, base: input.base });
  let prompt = planningPrompt(input);
  let summary = '';
  try {
    for (;;) {
      now.round++;
      now.step = `planner running (${input.planner.runtime})`;
      summary = await runPlanner(acts, input, wt, usage, prompt, now);
      now.step = 'checking the plan';
      const checked = await acts.checkPlan({
        ...wt,
        repo: host.repo,
        base: input.base,
        missionId: input.id,
        defaults: input.defaults,
      });
      now.yaml = checked.yaml ?? now.yaml;
      now.problems = checked.problems;
      if (checked.problems.length === 0 || now.round >= maxRounds) {
        now.step = checked.problems.length === 0 ? 'valid' : `invalid after ${now.round} rounds`;
        return {
          status: checked.problems.length === 0 ? 'valid' : 'invalid',
          rounds: now.round,
          yaml: checked.yaml,
          problems: checked.problems,
          ...(checked.waves ? { waves: checked.waves } : {}),
          usage: { ...usage },
          summary,
        };
      }
      prompt = followUpPrompt(now.round, checked.problems);
    }
  } catch (err) {
    now.step = isCancellation(err) ? 'cancelled' : 'failed';
    throw err;
  } finally {
    // Even when cancelled: the worktree is Flotilla's, and must not outlive its plan.
    await CancellationScope.nonCancellable(() => acts.removePlanWorktree({ repo: host.repo, worktree: wt.worktree }));
    attributes.flush();
  }
}
