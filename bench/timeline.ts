/**
 * Where a task's time goes, from the histories: its own workflow's events (workflow tasks,
 * activities by type, signals), the mission's events about it (child started and completed,
 * the merge queue's activities whose input names it), and the git processes run for it (the
 * wrapper's log), on one time line from the moment the mission asked for the child.
 */
import { temporal } from '@temporalio/proto';
import { GitCall, gitSubcommand, taskOf } from './git-log';
import { eventMs, eventName, MissionHistories } from './histories';
import { percentile, round } from './stats';

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** One point of a task's time line. */
export interface Point {
  /** Epoch ms. */
  at: number;
  /** `task`, `mission` or `git`. */
  side: string;
  what: string;
}

const payloadText = (payloads?: temporal.api.common.v1.IPayload[] | null): string =>
  (payloads ?? []).map((p) => (p.data ? Buffer.from(p.data).toString('utf8') : '')).join(' ');

/**
 * The events of `events` that `keep` selects, labelled with their activity type where they have
 * one; an activity's started and completed events come with its scheduled event.
 */
function labelled(events: HistoryEvent[], side: string, keep: (e: HistoryEvent) => boolean): Point[] {
  const activity = new Map<number, string>();
  const points: Point[] = [];
  for (const e of events) {
    const id = Number(e.eventId ?? 0);
    const scheduled = e.activityTaskScheduledEventAttributes;
    const ref =
      e.activityTaskStartedEventAttributes?.scheduledEventId ??
      e.activityTaskCompletedEventAttributes?.scheduledEventId ??
      e.activityTaskFailedEventAttributes?.scheduledEventId;
    let name: string | undefined;
    if (scheduled) {
      if (!keep(e)) continue;
      name = scheduled.activityType?.name ?? '?';
      activity.set(id, name);
    } else if (ref !== undefined && ref !== null) {
      name = activity.get(Number(ref));
      if (name === undefined) continue;
    } else if (!keep(e)) continue;
    points.push({ at: eventMs(e), side, what: `${eventName(e)}${name ? ` ${name}` : ''}` });
  }
  return points;
}

/** Whether a mission event is about task `taskId`. */
function aboutTask(e: HistoryEvent, missionId: string, taskId: string): boolean {
  const wf = `mission-${missionId}/task-${taskId}`;
  const a =
    e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId ??
    e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId ??
    e.childWorkflowExecutionCompletedEventAttributes?.workflowExecution?.workflowId;
  if (a) return a === wf;
  const input = e.activityTaskScheduledEventAttributes?.input?.payloads;
  if (input) return new RegExp(`["/]${taskId}["/]`).test(payloadText(input));
  const signal = e.workflowExecutionSignaledEventAttributes?.input?.payloads;
  if (signal) return payloadText(signal).includes(`"${taskId}"`);
  return false;
}

/** The time line of task `taskId`: its events, the mission's about it, its git processes. */
export function taskTimeline(
  h: MissionHistories,
  missionId: string,
  taskId: string,
  gitCalls: GitCall[],
  mergedAt?: string | null,
): Point[] {
  const ids = new Set([taskId]);
  const points = [
    ...labelled(h.tasks.get(taskId) ?? [], 'task', () => true),
    ...labelled(h.missionRuns.flat(), 'mission', (e) => aboutTask(e, missionId, taskId)),
    ...gitCalls
      .filter((c) => taskOf(c, ids) === taskId)
      .map((c) => ({ at: c.at, side: 'git', what: `git ${gitSubcommand(c.args)}` })),
    ...(mergedAt ? [{ at: new Date(mergedAt).getTime(), side: 'status', what: 'mergedAt' }] : []),
  ];
  return points.sort((a, b) => a.at - b.at);
}

/** A time line as text: offset from its first point, gap from the one before. */
export function showTimeline(points: Point[]): string {
  const t0 = points[0]?.at ?? 0;
  return points
    .map((p, i) => {
      const gap = i === 0 ? 0 : p.at - points[i - 1].at;
      return `  +${((p.at - t0) / 1000).toFixed(3).padStart(7)} s  (${String(gap).padStart(5)} ms)  ${p.side.padEnd(7)} ${p.what}`;
    })
    .join('\n');
}

/**
 * Over every task: each milestone of the history time line (git left out; a milestone seen
 * several times counts by its occurrence) at its p50 offset from the task's first point, and
 * the p50 of the gap to the milestone before it, ms. Milestones that not every task has are
 * left out.
 */
export function typicalTimeline(
  h: MissionHistories,
  missionId: string,
  status: { id: string; mergedAt?: string | null }[],
): { what: string; p50OffsetMs: number; p50GapMs: number }[] {
  const offsets = new Map<string, number[]>();
  const gaps = new Map<string, number[]>();
  for (const t of status) {
    const points = taskTimeline(h, missionId, t.id, [], t.mergedAt);
    const seen = new Map<string, number>();
    points.forEach((p, i) => {
      const base = `${p.side} ${p.what}`;
      const n = (seen.get(base) ?? 0) + 1;
      seen.set(base, n);
      const key = n > 1 ? `${base} #${n}` : base;
      (offsets.get(key) ?? offsets.set(key, []).get(key)!).push(p.at - points[0].at);
      (gaps.get(key) ?? gaps.set(key, []).get(key)!).push(i === 0 ? 0 : p.at - points[i - 1].at);
    });
  }
  return [...offsets]
    .filter(([, v]) => v.length === status.length)
    .map(([what, v]) => ({
      what,
      p50OffsetMs: round(percentile(v, 50), 0),
      p50GapMs: round(percentile(gaps.get(what)!, 50), 0),
    }))
    .sort((a, b) => a.p50OffsetMs - b.p50OffsetMs);
}
