/**
 * Reading a finished mission's Temporal histories: the mission workflow (every run of its
 * continue-as-new chain) and each task workflow (`mission-<id>/task-<task>`, names in
 * src/mission/types.ts). From them: history events per task, and the round trips they record
 * (activities by type, workflow tasks, signals, updates, search attribute upserts, timers).
 */
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { percentile } from './stats';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const { EventType } = temporal.api.enums.v1;

/** An event type's short name: EVENT_TYPE_ACTIVITY_TASK_SCHEDULED -> ActivityTaskScheduled. */
export function eventName(e: HistoryEvent): string {
  const full = EventType[e.eventType ?? 0] ?? String(e.eventType);
  return full
    .replace(/^EVENT_TYPE_/, '')
    .toLowerCase()
    .replace(/(^|_)([a-z])/g, (_m, _u, c: string) => c.toUpperCase());
}

/** An event's time, epoch ms. */
export function eventMs(e: HistoryEvent): number {
  const t = e.eventTime;
  return t ? Number(t.seconds ?? 0) * 1000 + Math.round((t.nanos ?? 0) / 1e6) : 0;
}

/** The histories of one mission. */
export interface MissionHistories {
  /** The mission's runs, oldest first (continue-as-new makes more than one). */
  missionRuns: HistoryEvent[][];
  /** Each task workflow's history, by task id. */
  tasks: Map<string, HistoryEvent[]>;
}

/** Fetches every history of mission `missionId` whose task ids are `taskIds`. */
export async function fetchHistories(client: Client, missionId: string, taskIds: string[]): Promise<MissionHistories> {
  const missionRuns: HistoryEvent[][] = [];
  let runId: string | undefined;
  for (;;) {
    const history = await client.workflow.getHandle(`mission-${missionId}`, runId).fetchHistory();
    const events = history.events ?? [];
    missionRuns.unshift(events);
    runId = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId ?? undefined;
    if (!runId) break;
  }
  const tasks = new Map<string, HistoryEvent[]>();
  const queue = [...taskIds];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        const h = await client.workflow.getHandle(`mission-${missionId}/task-${id}`).fetchHistory();
        tasks.set(id, h.events ?? []);
      }
    }),
  );
  return { missionRuns, tasks };
}

/** Counts of event types (and activity types) in `events`, scaled by `per`. */
export function countEvents(events: HistoryEvent[]): Record<string, number> {
  const counts: Record<string, number> = {};
  const add = (k: string): void => {
    counts[k] = (counts[k] ?? 0) + 1;
  };
  for (const e of events) {
    const name = eventName(e);
    add(name);
    const activity = e.activityTaskScheduledEventAttributes?.activityType?.name;
    if (activity) add(`activity:${activity}`);
    const signal = e.workflowExecutionSignaledEventAttributes?.signalName;
    if (signal) add(`signal:${signal}`);
    const update = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name;
    if (update) add(`update:${update}`);
    const marker = e.markerRecordedEventAttributes?.markerName;
    if (marker) add(`marker:${marker}`);
  }
  return counts;
}

/** History figures of a mission, per task where it says so. */
export interface HistoryFigures {
  /** Events of the mission (all runs) and its tasks, divided by the number of tasks. */
  eventsPerTask: number;
  missionEvents: number;
  missionRuns: number;
  taskEvents: number;
  /** Mean per task of each event type, activity type, signal and update, task workflows' own. */
  perTaskInTaskWorkflow: Record<string, number>;
  /** The mission workflow's, divided by the number of tasks. */
  perTaskInMissionWorkflow: Record<string, number>;
  /** The mission workflow's own workflow tasks (see {@link workflowTaskLoad}). */
  missionWorkflowTasks: WorkflowTaskLoad;
}

/** How busy one workflow's workflow tasks kept it. */
export interface WorkflowTaskLoad {
  count: number;
  /**
   * Share of the workflow's run time (first event to last) with a workflow task scheduled or
   * running: near 1, its workflow tasks ran back to back and everything it decides waited in line.
   */
  busyShare: number;
  /** Workflow task scheduled -> completed (waiting for a worker included), and started -> completed, ms. */
  p50LatencyMs: number;
  p50ProcessingMs: number;
}

/** {@link WorkflowTaskLoad} of the runs of one workflow (each run's events in order). */
export function workflowTaskLoad(runs: HistoryEvent[][]): WorkflowTaskLoad {
  const latency: number[] = [];
  const processing: number[] = [];
  let busy = 0;
  let total = 0;
  for (const events of runs) {
    if (events.length === 0) continue;
    total += eventMs(events[events.length - 1]) - eventMs(events[0]);
    let scheduled: number | null = null;
    let started: number | null = null;
    for (const e of events) {
      const name = eventName(e);
      if (name === 'WorkflowTaskScheduled') scheduled ??= eventMs(e);
      else if (name === 'WorkflowTaskStarted') started = eventMs(e);
      else if (scheduled !== null && /^WorkflowTask(Completed|Failed|TimedOut)$/.test(name)) {
        latency.push(eventMs(e) - scheduled);
        if (started !== null) processing.push(eventMs(e) - started);
        busy += eventMs(e) - scheduled;
        scheduled = started = null;
      }
    }
  }
  return {
    count: latency.length,
    busyShare: total > 0 ? Math.round((busy / total) * 100) / 100 : 0,
    p50LatencyMs: percentile(latency, 50),
    p50ProcessingMs: percentile(processing, 50),
  };
}

const perTask = (counts: Record<string, number>, n: number): Record<string, number> =>
  Object.fromEntries(
    Object.entries(counts)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => [k, Math.round((v / n) * 100) / 100]),
  );

/** Sums the histories into {@link HistoryFigures}. */
export function historyFigures(h: MissionHistories): HistoryFigures {
  const n = Math.max(1, h.tasks.size);
  const missionEvents = h.missionRuns.reduce((s, r) => s + r.length, 0);
  const allTask = [...h.tasks.values()].flat();
  return {
    eventsPerTask: Math.round(((missionEvents + allTask.length) / n) * 10) / 10,
    missionEvents,
    missionRuns: h.missionRuns.length,
    taskEvents: allTask.length,
    perTaskInTaskWorkflow: perTask(countEvents(allTask), n),
    perTaskInMissionWorkflow: perTask(countEvents(h.missionRuns.flat()), n),
    missionWorkflowTasks: workflowTaskLoad(h.missionRuns),
  };
}

/** A client on `address` (namespace default); close its connection when done. */
export async function connect(address: string): Promise<{ client: Client; close: () => Promise<void> }> {
  const connection = await Connection.connect({ address });
  return { client: new Client({ connection }), close: () => connection.close() };
}
