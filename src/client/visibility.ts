/**
 * What the service knows about missions and workers without asking a workflow: the mission list
 * (visibility) and the pollers of a task queue.
 */
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import os from 'node:os';
import { SEARCH_ATTRIBUTES } from '../mission/types';

const { TaskQueueKind, TaskQueueType } = temporal.api.enums.v1;

export interface MissionListing {
  missionId: string;
  workflowId: string;
  /** The workflow's status, lower case: `running`, `completed`, `failed`, `cancelled`, ... */
  status: string;
  /** The mission phase search attribute, or null when the namespace has none. */
  phase: string | null;
  /** ISO 8601. */
  startedAt: string;
  closedAt: string | null;
}

/** Missions, newest first, from Temporal's visibility store; at most `limit`. */
export async function listMissions(client: Client, limit = 50): Promise<MissionListing[]> {
  const out: MissionListing[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowType = 'missionWorkflow'`, pageSize: limit })) {
    const phase = wf.searchAttributes?.[SEARCH_ATTRIBUTES.phase] as string[] | undefined;
    out.push({
      missionId: wf.workflowId.replace(/^mission-/, ''),
      workflowId: wf.workflowId,
      status: wf.status.name.toLowerCase(),
      phase: phase?.[0] ?? null,
      startedAt: wf.startTime.toISOString(),
      closedAt: wf.closeTime?.toISOString() ?? null,
    });
    if (out.length >= limit) break;
  }
  return out.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
}

/**
 * What a worker this CLI runs says about itself after its `<pid>@<host>` identity: `in-process`,
 * the worker of a `run`/`watch`, which leaves with its command; `query`, a workflow-only worker
 * that answers one query or update and leaves at once.
 */
export type WorkerKind = 'in-process' | 'query';

/** The identity of a worker of this process: `<pid>@<host> <kind>`. */
export function workerIdentity(kind: WorkerKind): string {
  return `${process.pid}@${os.hostname()} ${kind}`;
}

export interface PollingOptions {
  /**
   * Count only workers that outlive a command (`flotilla worker`), not the in-process worker of
   * another `run`/`watch`: that one leaves when its own mission ends.
   */
  standaloneOnly?: boolean;
}

/**
 * Whether a live worker polls `taskQueue`. The service keeps pollers listed for minutes after
 * they die, so a poller on this host counts only while its process lives (SDK identities are
 * `<pid>@<hostname>`), and one elsewhere only if seen in the last 90 s. This process's own
 * workers and the short-lived query workers of other commands never count.
 */
export async function workerPolling(
  connection: Connection,
  namespace: string,
  taskQueue: string,
  opts: PollingOptions = {},
): Promise<boolean> {
  const res = await connection.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: taskQueue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  const now = Date.now();
  return (res.pollers ?? []).some((p) => {
    const identity = p.identity ?? '';
    // A query worker runs no activity and leaves within seconds: nothing can rely on it.
    if (identity.endsWith(' query')) return false;
    if (opts.standaloneOnly && identity.endsWith(' in-process')) return false;
    const m = /^(\d+)@(\S+)/.exec(identity);
    if (m && m[2] === os.hostname()) {
      if (Number(m[1]) === process.pid) return false;
      try {
        process.kill(Number(m[1]), 0);
        return true;
      } catch {
        return false;
      }
    }
    const seen = p.lastAccessTime?.seconds ? Number(p.lastAccessTime.seconds) * 1000 : 0;
    return now - seen < 90_000;
  });
}
