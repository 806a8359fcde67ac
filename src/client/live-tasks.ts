/**
 * What Temporal knows about a running mission's tasks that the mission itself does not: the
 * activity a task runs (its setup, its agent, its commit, its gate) waiting for its retry or for a
 * worker, or one whose worker stopped heartbeating.
 */
import { Client, defaultPayloadConverter } from '@temporalio/client';
import type { AgentHeartbeat } from '../agents/types';
import { temporal } from '@temporalio/proto';
import type { MissionProgress } from '../mission/progress';
import { names, TASK_STATUSES } from '../mission/types';
import { localWorkerAlive, workerPolling } from './visibility';

const { PendingActivityState } = temporal.api.enums.v1;

/**
 * A started activity whose last heartbeat is older than this, or one no worker took for this long,
 * is not really in flight, ms. Every task activity heartbeats every 5 s at most (the SDK sends
 * them at most every 2 s: `maxHeartbeatThrottleInterval`, src/worker/index.ts).
 */
export const STALE_HEARTBEAT_MS = 10_000;

/** A running task's agent attempt as Temporal sees it (its pending `runAgent` activity). */
export interface LiveAgent {
  /** The activity's attempt (retries included). */
  attempt: number;
  /** When this attempt started, epoch ms, or null while it waits to start. */
  startedAt: number | null;
  /** Its last heartbeat's details (transcript path, events, last event time), when it beat yet. */
  heartbeat: Partial<AgentHeartbeat> | null;
}

/** The first heartbeat detail of a pending activity, decoded; null when there is none or it is not an object. */
function heartbeatOf(details: { payloads?: unknown[] | null } | null | undefined): Partial<AgentHeartbeat> | null {
  const payload = details?.payloads?.[0];
  if (!payload) return null;
  try {
    const value = defaultPayloadConverter.fromPayload<unknown>(
      payload as Parameters<typeof defaultPayloadConverter.fromPayload>[0],
    );
    return value && typeof value === 'object' ? (value as Partial<AgentHeartbeat>) : null;
  } catch {
    return null;
  }
}

/**
 * What each activity of a task workflow is doing, for a task's status line (`runAgent` is the
 * agent itself and keeps its own wording). Activities not named here show their type.
 */
const TASK_STEPS: Record<string, string> = {
  prepareWorktree: 'its worktree and setup (prepareWorktree)',
  checkpoint: 'its commit (checkpoint)',
  snapshot: 'its checkpoint (snapshot)',
  runChecks: 'its gate (runChecks)',
  syncTaskBranch: 'its branch sync (syncTaskBranch)',
  claimTaskHost: 'its placement on a host (claimTaskHost)',
};

type PendingActivity = temporal.api.workflow.v1.IPendingActivityInfo;

/** Epoch ms of a protobuf timestamp, 0 when absent. */
const msOf = (t?: { seconds?: unknown } | null): number => (t?.seconds ? Number(t.seconds) * 1000 : 0);
/** A time rather than an age, so `watch` prints a line once, not every second. */
const clock = (ms: number): string => `${new Date(ms).toISOString().slice(11, 19)} UTC`;

/** A pending `runAgent` activity as a {@link LiveAgent}. */
function liveAgentOf(agent: PendingActivity): LiveAgent {
  const started = agent.state === PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;
  return {
    attempt: agent.attempt ?? 1,
    startedAt: started && agent.lastStartedTime ? msOf(agent.lastStartedTime) : null,
    heartbeat: heartbeatOf(agent.heartbeatDetails),
  };
}

/**
 * Why a task with this pending activity is not really running, or null when it is: an attempt
 * waiting for its retry (scheduled, attempt > 1), one that no worker took for longer than
 * {@link STALE_HEARTBEAT_MS} (scheduled; no worker polls the host queue), or one whose worker
 * stopped heartbeating (started, last heartbeat or start older than that: the worker likely
 * died, and Temporal retries the activity after its heartbeat timeout).
 */
function notRunning(pending: PendingActivity, now: number): string | null {
  const type = pending.activityType?.name ?? 'activity';
  const step = type === 'runAgent' ? '' : `${TASK_STEPS[type] ?? type}: `;
  const attempt = pending.attempt ?? 1;
  const last = pending.lastFailure?.message;
  const started = pending.state === PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;
  // The later of the last heartbeat and this attempt's start: a new attempt inherits the
  // previous one's heartbeat time until it beats itself.
  const beat = Math.max(msOf(pending.lastHeartbeatTime), msOf(pending.lastStartedTime));
  if (!started && attempt > 1)
    return `${step}attempt ${attempt} waiting to start${last ? `, retrying after: ${last}` : ''}`;
  const scheduled = msOf(pending.scheduledTime);
  if (!started && scheduled > 0 && now - scheduled > STALE_HEARTBEAT_MS)
    return `${step}attempt ${attempt} waiting for a worker since ${clock(scheduled)} (no worker of its host has taken it)`;
  // An activity without a heartbeat timeout is not expected to heartbeat: its silence says nothing.
  const options = pending.activityOptions;
  const heartbeats = !options || msOf(options.heartbeatTimeout) > 0;
  if (started && heartbeats && beat > 0 && now - beat > STALE_HEARTBEAT_MS)
    return `${step}attempt ${attempt}: no heartbeat since ${clock(beat)} (its worker may have died); Temporal retries it after the heartbeat timeout`;
  const worker = pending.lastWorkerIdentity ?? '';
  if (started && localWorkerAlive(worker) === false)
    return `${step}attempt ${attempt}: its worker ${worker.split(' ')[0]} has exited; Temporal retries it after the heartbeat timeout`;
  return null;
}

/**
 * Why an attempt that waits to start is not running, when no live worker polls its task queue
 * (the worker that ran the task stopped: `run` exited, the host died), so `status` says `pending`
 * at once instead of after {@link STALE_HEARTBEAT_MS}; null otherwise. `polling(queue, true)`
 * answers whether a live worker polls the queue's activity tasks.
 */
async function noWorkerFor(
  pending: PendingActivity,
  polling: (queue: string, activities: boolean) => Promise<boolean>,
): Promise<string | null> {
  const queue = pending.activityOptions?.taskQueue?.name;
  const scheduled = msOf(pending.scheduledTime);
  if (pending.state !== PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED || !queue) return null;
  if (scheduled === 0) return null;
  if (await polling(queue, true)) return null;
  const type = pending.activityType?.name ?? 'activity';
  const step = type === 'runAgent' ? '' : `${TASK_STEPS[type] ?? type}: `;
  return `${step}attempt ${pending.attempt ?? 1} waiting to start: no live worker polls its host's task queue ${queue}`;
}

/**
 * Corrects what the mission knows about its running tasks with what Temporal knows about the
 * activity each task workflow runs (`pendingActivities` of its description): setup
 * (`prepareWorktree`), the agent (`runAgent`), the commit, a checkpoint, the gate. A task whose
 * activity is not really in flight (see {@link notRunning}), or whose next workflow task no
 * worker took for {@link STALE_HEARTBEAT_MS}, shows as `pending` with why, never a stale
 * `running`: the worker that ran it stopped or died, and nothing runs until one comes back.
 * Changes `progress` in place (tasks and counts). The agent's attempts (`runAgent`) count in the
 * task's `attempts`; with `live`, each running task's agent attempt is recorded there (by task
 * id), read from the same descriptions; with `described`, the ids of the tasks described.
 */
export async function annotateRunningTasks(
  client: Client,
  missionId: string,
  progress: MissionProgress,
  live?: Map<string, LiveAgent>,
  described?: Set<string>,
): Promise<void> {
  // Whether a live worker (this process's own included) polls a task queue, asked once per queue.
  const polled = new Map<string, Promise<boolean>>();
  const polling = (queue: string, activities: boolean): Promise<boolean> => {
    const key = `${activities ? 'activity' : 'workflow'} ${queue}`;
    if (!polled.has(key))
      polled.set(
        key,
        workerPolling(client.connection, client.options.namespace, queue, { activities, includeOwn: true }).catch(
          () => true,
        ),
      );
    return polled.get(key)!;
  };
  await Promise.all(
    progress.tasks
      .filter((t) => t.status === 'running')
      .map(async (t) => {
        described?.add(t.id);
        try {
          const d = await client.workflow.getHandle(names.taskWorkflowId(missionId, t.id)).describe();
          const activities = d.raw.pendingActivities ?? [];
          const agent = activities.find((a) => a.activityType?.name === 'runAgent');
          const pending = agent ?? activities[0];
          if (!pending) {
            // Between two activities: the workflow's next step waits for a worker to run it.
            const task = d.raw.pendingWorkflowTask;
            const since = msOf(task?.originalScheduledTime) || msOf(task?.scheduledTime);
            if (since > 0 && Date.now() - since > STALE_HEARTBEAT_MS) {
              t.status = 'pending';
              t.error = `its next step waits for a worker since ${clock(since)} (no worker has taken it)`;
            } else if (since > 0 && !(await polling(d.taskQueue, false))) {
              t.status = 'pending';
              t.error = `its next step waits to start: no live worker polls the task queue ${d.taskQueue}`;
            }
            return;
          }
          const attempt = pending.attempt ?? 1;
          if (agent) {
            t.attempts = Math.max(t.attempts, attempt);
            live?.set(t.id, liveAgentOf(agent));
          }
          const why = notRunning(pending, Date.now()) ?? (await noWorkerFor(pending, polling));
          const last = pending.lastFailure?.message;
          if (why) {
            t.status = 'pending';
            t.error = why;
          } else if (agent && last && attempt > 1) t.error = `attempt ${attempt}, retrying after: ${last}`;
        } catch {
          // The child may just have closed; its result reaches the mission on its own.
        }
      }),
  );
  for (const s of TASK_STATUSES) progress.counts[s] = progress.tasks.filter((t) => t.status === s).length;
}

/**
 * Carries what {@link annotateRunningTasks} found last time (`before`, where it described the
 * tasks in `described`) over to `progress`, read without it: a described task the query still
 * calls running keeps the `pending` and the reason found then, and its attempts. So a display that
 * describes the running tasks only now and then never flips a task back to `running` in between.
 * Changes `progress` in place (tasks and counts).
 */
export function carryAnnotations(before: MissionProgress, described: Set<string>, progress: MissionProgress): void {
  const earlier = new Map(before.tasks.map((t) => [t.id, t]));
  for (const t of progress.tasks) {
    const was = earlier.get(t.id);
    if (t.status !== 'running' || !was || !described.has(t.id)) continue;
    t.attempts = Math.max(t.attempts, was.attempts);
    if (was.status === 'pending' && was.error) {
      t.status = 'pending';
      t.error = was.error;
    } else if (was.status === 'running' && was.error && !t.error) t.error = was.error;
  }
  for (const s of TASK_STATUSES) progress.counts[s] = progress.tasks.filter((t) => t.status === s).length;
}

/**
 * The conflict resolver's agent attempt as Temporal sees it: the mission workflow's pending
 * `runAgent` activity (the merge queue runs the resolver in the mission workflow itself), or
 * undefined when none is pending (its worktree is being set up or checked) or the mission cannot
 * be described now.
 */
export async function liveResolver(client: Client, missionId: string): Promise<LiveAgent | undefined> {
  try {
    const d = await client.workflow.getHandle(names.missionWorkflowId(missionId)).describe();
    const agent = (d.raw.pendingActivities ?? []).find((a) => a.activityType?.name === 'runAgent');
    return agent ? liveAgentOf(agent) : undefined;
  } catch {
    return undefined;
  }
}
