/**
 * `flotilla workers`: the workers polling the shared task queue and the host queues, with their
 * agent cap and load. Everything comes from the service: the pollers of each queue
 * (DescribeTaskQueue), the identity `flotilla worker` gives itself (`queue=<host queue>
 * agents=<cap>`, see `standaloneIdentity`), and the agent activities running now (the pending
 * `runAgent` activities of running workflows, by the identity of the worker that took them).
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { hostQueueName } from '../worker';
import { pollerLive } from './visibility';

const { TaskQueueKind, TaskQueueType, PendingActivityState } = temporal.api.enums.v1;

/** One live worker, as `flotilla workers --json` prints it. */
export interface WorkerListing {
  /** The identity it polls with: `<pid>@<host> worker queue=… agents=…`, `<pid>@<host> in-process`, … */
  identity: string;
  /** `worker` (`flotilla worker`), `in-process` (of a `run`/`watch`), `query`, or `other`. */
  kind: 'worker' | 'in-process' | 'query' | 'other';
  /** The task queues it was seen polling. */
  queues: string[];
  /** Its `--agents` cap; null when it has none (or did not say). */
  agentCap: number | null;
  /** Agent attempts it holds now: `running` plus `waiting`. */
  agents: number;
  /** Agents running: `agents` up to the cap (the worker enforces it). */
  running: number;
  /** Attempts it took beyond its cap, waiting for a slot. */
  waiting: number;
  /** Its Worker Versioning version, `<deployment>/<build id>`; null when unversioned. */
  version: string | null;
  /** When it last polled (ISO 8601). */
  lastSeen: string;
}

/** At most this many running workflows are described for the load (the newest first). */
const LOAD_SCAN_LIMIT = 500;

function kindOf(identity: string): WorkerListing['kind'] {
  if (/ worker( |$)/.test(identity)) return 'worker';
  if (identity.endsWith(' in-process')) return 'in-process';
  if (identity.endsWith(' query')) return 'query';
  return 'other';
}

function capOf(identity: string): number | null {
  const m = /agents=(\d+)/.exec(identity);
  return m ? Number(m[1]) : null;
}

/**
 * Lists the live workers of `taskQueue` (shared) and of the host queues they name, plus this
 * machine's host queue.
 */
export async function listWorkers(client: Client, namespace: string, taskQueue: string): Promise<WorkerListing[]> {
  const { connection } = client;
  const byIdentity = new Map<string, WorkerListing>();
  const poll = async (queue: string, type: temporal.api.enums.v1.TaskQueueType): Promise<void> => {
    const res = await connection.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: queue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: type,
    });
    for (const p of res.pollers ?? []) {
      const identity = p.identity ?? '';
      const seenMs = p.lastAccessTime?.seconds ? Number(p.lastAccessTime.seconds) * 1000 : 0;
      if (!identity || !pollerLive(identity, seenMs)) continue;
      const w = byIdentity.get(identity) ?? {
        identity,
        kind: kindOf(identity),
        queues: [],
        agentCap: capOf(identity),
        version: / version=(\S+)/.exec(identity)?.[1] ?? null,
        agents: 0,
        running: 0,
        waiting: 0,
        lastSeen: new Date(seenMs).toISOString(),
      };
      if (!w.queues.includes(queue)) w.queues.push(queue);
      if (new Date(seenMs).toISOString() > w.lastSeen) w.lastSeen = new Date(seenMs).toISOString();
      byIdentity.set(identity, w);
    }
  };
  await poll(taskQueue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW);
  const hostQueues = new Set([hostQueueName(taskQueue)]);
  for (const w of byIdentity.values()) {
    const named = /queue=(\S+)/.exec(w.identity)?.[1];
    if (named) hostQueues.add(named);
  }
  for (const q of hostQueues) await poll(q, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY);

  let scanned = 0;
  for await (const wf of client.workflow.list({ query: 'ExecutionStatus = "Running"', pageSize: 100 })) {
    if (++scanned > LOAD_SCAN_LIMIT) break;
    const d = await client.workflow.getHandle(wf.workflowId, wf.runId).describe();
    for (const a of d.raw.pendingActivities ?? []) {
      if (a.activityType?.name !== 'runAgent' || a.state !== PendingActivityState.PENDING_ACTIVITY_STATE_STARTED)
        continue;
      const w = byIdentity.get(a.lastWorkerIdentity ?? '');
      if (w) w.agents++;
    }
  }
  for (const w of byIdentity.values()) {
    w.running = w.agentCap === null ? w.agents : Math.min(w.agents, w.agentCap);
    w.waiting = w.agents - w.running;
  }
  return [...byIdentity.values()].sort((a, b) => a.identity.localeCompare(b.identity));
}
