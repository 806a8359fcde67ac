/**
 * The plan workflow's activity proxies on the repository host's task queue (`claimHost` names it,
 * as for a mission): the planner's worktree and each round's check, and the planner through
 * `runAgent` (heartbeats, retries that resume its session).
 */
import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { ErrorType } from '../../mission/error-types';
import type { AgentSpec } from '../../mission/types';
import { ACTIVITY_SLACK_MS } from '../limits';

type PlanActivities = Pick<Activities, 'preparePlan' | 'checkPlan' | 'removePlanWorktree' | 'runAgent'>;

/** The plan's activities on `taskQueue` for `planner`. */
export function planHost(taskQueue: string, planner: AgentSpec) {
  const git = proxyActivities<Pick<PlanActivities, 'preparePlan' | 'checkPlan' | 'removePlanWorktree'>>({
    taskQueue,
    startToCloseTimeout: '5 minutes',
    retry: { initialInterval: '2s', maximumInterval: '30s', maximumAttempts: 10 },
  });
  const agent = proxyActivities<Pick<PlanActivities, 'runAgent'>>({
    taskQueue,
    // The agent enforces `timeout` itself and kills its group; this is the backstop.
    startToCloseTimeout: planner.timeoutMs + ACTIVITY_SLACK_MS,
    // A dead worker is noticed this fast; the retry resumes the planner's session.
    heartbeatTimeout: '20s',
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      maximumAttempts: planner.retries + 1,
      nonRetryableErrorTypes: [ErrorType.AgentNotFound, ErrorType.AgentAuth, ErrorType.AgentRateLimited],
    },
  });
  return {
    preparePlan: git.preparePlan,
    checkPlan: git.checkPlan,
    removePlanWorktree: git.removePlanWorktree,
    runAgent: agent.runAgent,
  };
}
