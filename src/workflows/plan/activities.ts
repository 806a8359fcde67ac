/**
 * The plan workflow's activity proxies on the repository host's task queue (`claimHost` names it,
 * as for a mission): the planner's worktree and each round's check, and the planner through
 * `runAgent` with the options every agent gets (heartbeats, retries that resume its session).
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { AgentSpec } from '../../mission/types';
import { agentHost } from '../activities';

/** The plan's activities on `taskQueue` for `planner`. */
export function planHost(taskQueue: string, planner: AgentSpec) {
  const git = proxyActivities<Pick<Activities, 'preparePlan' | 'checkPlan' | 'removePlanWorktree'>>({
    taskQueue,
    startToCloseTimeout: '5 minutes',
    retry: { initialInterval: '2s', maximumInterval: '30s', maximumAttempts: 10 },
  });
  return {
    preparePlan: git.preparePlan,
    checkPlan: git.checkPlan,
    removePlanWorktree: git.removePlanWorktree,
    runAgent: agentHost(taskQueue, planner).runAgent,
  };
}
