/**
 * What Temporal knows about a running mission's agents that the mission itself does not: an
 * attempt waiting for its retry, or one whose worker stopped heartbeating.
 */
import { Client, defaultPayloadConverter } from '@temporalio/client';
import type { AgentHeartbeat } from '../activities/agent-types';
import { temporal } from '@temporalio/proto';
import type { MissionProgress } from '../mission/progress';
import { names, TASK_STATUSES } from '../mission/types';

const { PendingActivityState } = temporal.api.enums.v1;

/** A started agent attempt whose last heartbeat is older than this is not really in flight, ms. */
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
 * Corrects what the mission knows about its running tasks with what Temporal knows about their
 * agent activity (`pendingActivities` of the task workflow's description): an attempt waiting for
 * its retry (scheduled, attempt > 1) or one whose worker stopped heartbeating (started, heartbeat
 * older than {@link STALE_HEARTBEAT_MS}: the worker likely died, Temporal retries it after the
 * heartbeat timeout) shows as `pending` with the attempt number and why, never a stale `running`.
 * Changes `progress` in place (tasks and counts). With `live`, also records each running task's
 * agent attempt there (by task id), read from the same descriptions.
 */
export async function annotateRunningTasks(
  client: Client,
  missionId: string,
  progress: MissionProgress,
  live?: Map<string, LiveAgent>,
): Promise<void> {
  await Promise.all(
    progress.tasks
      .filter((t) => t.status === 'running')
      .map(async (t) => {
        try {
          const d = await client.workflow.getHandle(names.taskWorkflowId(missionId, t.id)).describe();
          const pending = d.raw.pendingActivities?.find((a) => a.activityType?.name === 'runAgent');
          if (!pending) return;
          const attempt = pending.attempt ?? 1;
          t.attempts = Math.max(t.attempts, attempt);
          const last = pending.lastFailure?.message;
          // The later of the last heartbeat and this attempt's start: a new attempt inherits the
          // previous one's heartbeat time until it beats itself.
          const seconds = (t?: { seconds?: unknown } | null): number => (t?.seconds ? Number(t.seconds) * 1000 : 0);
          const beat = Math.max(seconds(pending.lastHeartbeatTime), seconds(pending.lastStartedTime));
          const started = pending.state === PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;
          live?.set(t.id, {
            attempt,
            startedAt: started && pending.lastStartedTime ? seconds(pending.lastStartedTime) : null,
            heartbeat: heartbeatOf(pending.heartbeatDetails),
          });
          if (!started && attempt > 1) {
            t.status = 'pending';
            t.error = `attempt ${attempt} waiting to start${last ? `, retrying after: ${last}` : ''}`;
          } else if (started && beat > 0 && Date.now() - beat > STALE_HEARTBEAT_MS) {
            t.status = 'pending';
            // A time rather than an age, so `watch` prints the line once, not every second.
            t.error = `attempt ${attempt}: no heartbeat since ${new Date(beat).toISOString().slice(11, 19)} UTC (its worker may have died); Temporal retries it after the heartbeat timeout`;
          } else if (last && attempt > 1) t.error = `attempt ${attempt}, retrying after: ${last}`;
        } catch {
          // The child may just have closed; its result reaches the mission on its own.
        }
      }),
  );
  for (const s of TASK_STATUSES) progress.counts[s] = progress.tasks.filter((t) => t.status === s).length;
}
