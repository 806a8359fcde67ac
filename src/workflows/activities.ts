/**
 * The workflows' activity proxies, by task queue (as in samples-typescript's
 * `worker-specific-task-queues`): `claimHost` runs on the shared task queue any worker polls;
 * everything that touches the repository runs on the task queue of the one host that holds it, which `claimHost`
 * names. Options live here, next to the reason for each.
 */
import { ActivityCancellationType, proxyActivities, TimeoutFailure } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { AgentSpec, MissionSpec, TaskSpec } from '../mission/types';
import { ErrorType } from '../mission/error-types';
import { placementQueueName } from '../mission/types';
import {
  ACTIVITY_SLACK_MS,
  MISSION_VERIFY_COMMAND_TIMEOUT_MS,
  SETUP_COMMAND_TIMEOUT_MS,
  TASK_VERIFY_COMMAND_TIMEOUT_MS,
} from './limits';

// Git activities heartbeat every 5 s: a worker killed mid-merge is noticed in 20 s and the retry
// finishes its merge (test:faults measured 62 s to recovery with a 1-minute timeout).
const GIT_HEARTBEAT_TIMEOUT = '20s';

/**
 * A worker shutdown ends the activity at once instead of using up one of its attempts: the task
 * workflow calls it again (`despiteShutdowns`, worker-shutdown.ts).
 */
const shutdownNoAttempt = { nonRetryableErrorTypes: [ErrorType.WorkerShutdown] };

/** What any worker may run. */
export type AnyWorkerActivities = Pick<Activities, 'claimHost'>;
/** What any worker with room for an agent may run (the placement task queue). */
export type PlacementActivities = Pick<Activities, 'claimTaskHost'>;
/** What only the repository's host runs (its worker-specific task queue). */
export type HostActivities = Omit<Activities, 'claimHost' | 'claimTaskHost'>;

export const anyWorker = proxyActivities<AnyWorkerActivities>({
  // Any worker may answer; the answer names the host's task queue everything else goes to.
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2s', maximumInterval: '30s' },
});

/**
 * `claimTaskHost` on the placement task queue (`<task queue>.placement`), which only workers with room for
 * an agent poll. The claim is a few git commands (the first one on a host clones the origin, hence
 * the minutes), heartbeating, so a worker that dies mid-clone is noticed in 20 s; a full host
 * fails it at once, retryably.
 */
export function placement(taskQueue: string) {
  return proxyActivities<PlacementActivities>({
    taskQueue: placementQueueName(taskQueue),
    startToCloseTimeout: '5 minutes',
    heartbeatTimeout: GIT_HEARTBEAT_TIMEOUT,
    retry: { initialInterval: '1s', backoffCoefficient: 1.5, maximumInterval: '10s' },
  });
}

/**
 * How long an activity of a placed task (a mission with `origin:`) may wait on its host's task queue
 * before the host counts as lost and the task is placed again, unless the mission says otherwise
 * (`hostLostAfter:`): no worker of that host polled for this long (it died, or drained). Temporal
 * does not retry a schedule-to-start timeout; the task workflow sees it and moves the task.
 */
export const HOST_LOST_AFTER_MS = 20_000;

/**
 * Whether `err` says an activity's host is gone (a placed task's, or with an origin the mission's own): a schedule-to-start timeout (nobody polled the host's
 * task queue), or a heartbeat timeout that was the activity's last attempt.
 */
export function hostLost(err: unknown): boolean {
  for (let e = err as { cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e instanceof TimeoutFailure && (e.timeoutType === 'SCHEDULE_TO_START' || e.timeoutType === 'HEARTBEAT'))
      return true;
  }
  return false;
}

/**
 * With an origin the mission's host can be replaced (mission/host.ts): its activities tell a lost
 * host the same way a placed task's do. Without one the repository lives on that host alone, so
 * its activities wait for its worker, however long.
 */
function hostLostTimeout(spec: { origin?: string; hostLostAfterMs?: number }): { scheduleToStartTimeout?: number } {
  return spec.origin ? { scheduleToStartTimeout: spec.hostLostAfterMs ?? HOST_LOST_AFTER_MS } : {};
}

/** The mission's own activity on its host's task queue: the integration branch and its worktree. */
export function missionHost(taskQueue: string, spec: { setup: unknown[]; origin?: string; hostLostAfterMs?: number }) {
  const git = proxyActivities<Pick<HostActivities, 'prepareIntegration'>>({
    taskQueue,
    ...hostLostTimeout(spec),
    startToCloseTimeout: spec.setup.length * SETUP_COMMAND_TIMEOUT_MS + ACTIVITY_SLACK_MS,
    heartbeatTimeout: GIT_HEARTBEAT_TIMEOUT,
    retry: {
      initialInterval: '2s',
      maximumInterval: '1 minute',
      maximumAttempts: 10,
      nonRetryableErrorTypes: [ErrorType.BranchTaken, ErrorType.BaseMissing],
    },
  });
  // The SDK's proxies are not spreadable (a Proxy without ownKeys): name each activity.
  return { prepareIntegration: git.prepareIntegration };
}

/** `runAgent` on the host's task queue for an agent (a task's, the conflict resolver's, or a plan's planner). */
export function agentHost(taskQueue: string, agent: AgentSpec, hostLostAfterMs?: number) {
  return proxyActivities<Pick<HostActivities, 'runAgent'>>({
    taskQueue,
    ...(hostLostAfterMs !== undefined ? { scheduleToStartTimeout: hostLostAfterMs } : {}),
    // The agent enforces `timeout` itself and kills its group; this is the backstop.
    startToCloseTimeout: agent.timeoutMs + ACTIVITY_SLACK_MS,
    // How fast a dead worker is noticed: the attempt is retried (and the stale group killed) then.
    heartbeatTimeout: '20s',
    // Wait for the kill to finish, so a cancelled task never leaves an agent running.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: '5s',
      backoffCoefficient: 2,
      maximumInterval: '5 minutes',
      maximumAttempts: agent.retries + 1,
      nonRetryableErrorTypes: [ErrorType.AgentNotFound, ErrorType.AgentAuth, ErrorType.AgentRateLimited],
    },
  });
}

/**
 * A task's activities on its host's task queue: its worktree, its agent, its commit and its gate.
 * `hostLostAfterMs` (a task of a mission with `origin:`, placed on a host of its own): each
 * activity also gets that schedule-to-start timeout, the sign that the host is gone and the task
 * must move.
 */
export function taskHost(taskQueue: string, task: TaskSpec, setupCommands: number, hostLostAfterMs?: number) {
  const lost = hostLostAfterMs !== undefined ? { scheduleToStartTimeout: hostLostAfterMs } : {};
  const git = proxyActivities<
    Pick<HostActivities, 'prepareWorktree' | 'checkpoint' | 'snapshot' | 'syncTaskBranch' | 'releaseNamespace'>
  >({
    taskQueue,
    ...lost,
    startToCloseTimeout: setupCommands * SETUP_COMMAND_TIMEOUT_MS + ACTIVITY_SLACK_MS,
    heartbeatTimeout: GIT_HEARTBEAT_TIMEOUT,
    retry: { initialInterval: '2s', maximumInterval: '1 minute', maximumAttempts: 5, ...shutdownNoAttempt },
  });
  const agent = agentHost(taskQueue, task.agent, hostLostAfterMs);
  const checks = proxyActivities<Pick<HostActivities, 'runChecks'>>({
    taskQueue,
    ...lost,
    startToCloseTimeout: task.verify.length * TASK_VERIFY_COMMAND_TIMEOUT_MS + ACTIVITY_SLACK_MS,
    heartbeatTimeout: '30s',
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { maximumAttempts: 3, ...shutdownNoAttempt },
  });
  return {
    prepareWorktree: git.prepareWorktree,
    checkpoint: git.checkpoint,
    snapshot: git.snapshot,
    syncTaskBranch: git.syncTaskBranch,
    releaseNamespace: git.releaseNamespace,
    runAgent: agent.runAgent,
    runChecks: checks.runChecks,
  };
}

/**
 * `notify` (a mission's `notify:` targets) on `taskQueue` (the mission's host, or the shared task
 * queue before it has one). Retried for about an hour; a worker that dies mid-POST is noticed by
 * the heartbeat timeout and the retry sends with the same idempotency key.
 */
export function notifier(taskQueue: string) {
  return proxyActivities<Pick<HostActivities, 'notify'>>({
    taskQueue,
    startToCloseTimeout: '5 minutes',
    scheduleToCloseTimeout: '1 hour',
    heartbeatTimeout: GIT_HEARTBEAT_TIMEOUT,
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '2 minutes' },
  }).notify;
}

/** The merge queue's activities on one host's task queue (see {@link mergeQueueHost}). */
export type MergeQueueActivities = ReturnType<typeof mergeQueueHost>;

/** The merge queue's activities (and the resolver's agent) on the mission host's task queue. */
export function mergeQueueHost(taskQueue: string, spec: MissionSpec) {
  const lost = hostLostTimeout(spec);
  const git = proxyActivities<
    Pick<
      HostActivities,
      | 'queueMerge'
      | 'queueMergeBatch'
      | 'publishRef'
      | 'removeTaskWorktree'
      | 'removeTaskWorktrees'
      | 'predictConflicts'
      | 'checkResolution'
    >
  >({
    taskQueue,
    ...lost,
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: GIT_HEARTBEAT_TIMEOUT,
    retry: {
      initialInterval: '2s',
      maximumInterval: '1 minute',
      maximumAttempts: 10,
      // The candidate ref moved under us: only a bug or a person can do that, retrying cannot help.
      nonRetryableErrorTypes: [ErrorType.CandidateMoved],
    },
  });
  const conflict = proxyActivities<
    Pick<HostActivities, 'prepareConflict' | 'commitResolution' | 'dropConflict' | 'landMission'>
  >({
    taskQueue,
    ...lost,
    // The conflict worktree runs the mission's `setup`; landing may run the mission verify.
    startToCloseTimeout:
      spec.setup.length * SETUP_COMMAND_TIMEOUT_MS +
      spec.verify.length * MISSION_VERIFY_COMMAND_TIMEOUT_MS +
      ACTIVITY_SLACK_MS,
    heartbeatTimeout: GIT_HEARTBEAT_TIMEOUT,
    retry: {
      initialInterval: '2s',
      maximumInterval: '1 minute',
      maximumAttempts: 5,
      nonRetryableErrorTypes: [ErrorType.CandidateMoved],
    },
  });
  const verify = proxyActivities<Pick<HostActivities, 'verifyAt' | 'runChecks'>>({
    taskQueue,
    ...lost,
    // Resolution checks run both tasks' gates and the mission verify in one activity.
    startToCloseTimeout:
      (spec.verify.length + Math.max(0, ...spec.tasks.map((t) => t.verify.length)) * 2) *
        MISSION_VERIFY_COMMAND_TIMEOUT_MS +
      ACTIVITY_SLACK_MS,
    heartbeatTimeout: '1 minute',
    retry: { maximumAttempts: 2 },
  });
  const agent = agentHost(
    taskQueue,
    spec.resolver ?? spec.tasks[0].agent,
    hostLostTimeout(spec).scheduleToStartTimeout,
  );
  return {
    queueMerge: git.queueMerge,
    queueMergeBatch: git.queueMergeBatch,
    publishRef: git.publishRef,
    removeTaskWorktree: git.removeTaskWorktree,
    removeTaskWorktrees: git.removeTaskWorktrees,
    predictConflicts: git.predictConflicts,
    checkResolution: git.checkResolution,
    prepareConflict: conflict.prepareConflict,
    commitResolution: conflict.commitResolution,
    dropConflict: conflict.dropConflict,
    landMission: conflict.landMission,
    verifyAt: verify.verifyAt,
    runChecks: verify.runChecks,
    runResolver: agent.runAgent,
  };
}
