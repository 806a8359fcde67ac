/**
 * History decoding for the report: a workflow run's Temporal history events read into what
 * happened (its activities, timers, start and close), plus the few facts `flotilla report` reads
 * from a history to find the others (child runs, the run continued from, the start input).
 *
 * The histories are the SDK's `fetchHistory()` shape (proto objects: `Long` ids, `Timestamp`
 * times), which `historyFromJSON` also gives for recorded JSON. Payloads are read with the
 * default payload converter; one it cannot read is left out (undefined), never an error.
 *
 * What histories can and cannot tell: Temporal records one `ActivityTaskStarted` per activity, for
 * its last attempt (with that attempt's number and the previous attempt's failure), so the earlier
 * attempts of a retried agent show as one "retried" span from its scheduling to the last attempt's
 * start. An activity still running has no started event yet: its attempt and start come from the
 * task workflow's description (`pending`), when given.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import type { Outcome, RunHistory } from './model';

type IHistory = temporal.api.history.v1.IHistory;
type IEvent = temporal.api.history.v1.IHistoryEvent;
type IFailure = temporal.api.failure.v1.IFailure;
type IPayloads = temporal.api.common.v1.IPayloads;

/** An activity of a run: its scheduling, its last attempt, and how it closed. Times in ms since the epoch. */
export interface ActivityRecord {
  /** The activity type (`runAgent`, `queueMerge`, ...). */
  name: string;
  activityId: string;
  /** Its input (the first argument), decoded. */
  input: unknown;
  scheduledAt: number;
  /** The last attempt's start; null while it has not closed (history has no started event yet). */
  startedAt: number | null;
  attempt: number;
  /** The failure of the attempt before the last one. */
  lastFailure: string | null;
  closedAt: number | null;
  outcome: Outcome;
  /** Its result, decoded, when it completed. */
  result: unknown;
  /** Why it failed, timed out or was cancelled (`details`: the failure's or cancellation's details, decoded). */
  failure: { message: string; type: string | null; details: unknown } | null;
  /** The activity's summary (user metadata), when the workflow gave one. */
  summary: string | null;
}

/** A timer of a run (a durable sleep). Times in ms since the epoch. */
export interface TimerRecord {
  startedAt: number;
  /** How long it was set for, ms. */
  plannedMs: number;
  endedAt: number | null;
  /** `ok` fired, `cancelled`, or `running`. */
  outcome: Outcome;
  summary: string | null;
}

/** A run's history read into what happened: see {@link parseRun}. */
export interface ParsedRun {
  run: RunHistory;
  /** Its first event's time, ms since the epoch. */
  start: number;
  /** The close event's time, or null while it runs. */
  end: number | null;
  /** `completed`, `failed`, `cancelled`, `terminated`, `timedOut`, `continuedAsNew`, or null. */
  close: string | null;
  /** The input it was started with, decoded. */
  input: unknown;
  /** Its result, when it completed. */
  result: unknown;
  /** Why it failed (the failure and its causes) or was terminated (the reason). */
  closeFailure: string | null;
  /** Activities and timers, in the order they were scheduled. */
  steps: Array<{ activity: ActivityRecord } | { timer: TimerRecord }>;
}

/** A proto `Timestamp` (or `Duration`) in ms: since the epoch, or long; 0 when absent. */
export const timestampMs = (ts: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  ts ? Number(ts.seconds ?? 0) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6) : 0;

/** The first payload's value, or undefined when absent or not JSON the default converter reads. */
function decode<T = unknown>(payloads: IPayloads | null | undefined): T | undefined {
  const p = payloads?.payloads?.[0];
  if (!p) return undefined;
  try {
    return defaultPayloadConverter.fromPayload<T>(p);
  } catch {
    return undefined;
  }
}

/** A failure in words: its message, then its causes' messages where they add something. */
function failureText(f: IFailure | null | undefined): string | null {
  const parts: string[] = [];
  for (let x = f, i = 0; x && i < 8; x = x.cause, i++) {
    if (x.message && !parts.some((p) => p.includes(x!.message!))) parts.push(x.message);
  }
  return parts.length ? parts.join(': ') : null;
}

function failureOf(f: IFailure | null | undefined): ActivityRecord['failure'] {
  if (!f) return { message: 'failed', type: null, details: undefined };
  return {
    message: failureText(f) ?? 'failed',
    type: f.applicationFailureInfo?.type ?? (f.timeoutFailureInfo ? 'Timeout' : null),
    details: decode(f.applicationFailureInfo?.details),
  };
}

function summaryOf(e: IEvent): string | null {
  const s = decode<unknown>(e.userMetadata?.summary ? { payloads: [e.userMetadata.summary] } : null);
  return typeof s === 'string' && s ? s : null;
}

/** A run being read: what it holds so far, its activities by scheduled event id, its timers by id. */
interface RunReading {
  parsed: ParsedRun;
  activities: Map<number, ActivityRecord>;
  timers: Map<string, TimerRecord>;
}

/** Reads a run's history into its activities, timers, start and close. */
export function parseRun(run: RunHistory): ParsedRun {
  const events = run.history.events ?? [];
  const reading: RunReading = {
    parsed: {
      run,
      start: timestampMs(events[0]?.eventTime),
      end: null,
      close: null,
      input: decode(events[0]?.workflowExecutionStartedEventAttributes?.input),
      result: undefined,
      closeFailure: null,
      steps: [],
    },
    activities: new Map(),
    timers: new Map(),
  };
  for (const e of events) {
    const at = timestampMs(e.eventTime);
    if (readActivityEvent(reading, e, at) || readTimerEvent(reading, e, at)) continue;
    readCloseEvent(reading.parsed, e, at);
  }
  return reading.parsed;
}

function closeActivity(
  reading: RunReading,
  id: unknown,
  at: number,
  outcome: Outcome,
  set: Partial<ActivityRecord>,
): void {
  const a = reading.activities.get(Number(id));
  if (!a) return;
  Object.assign(a, { closedAt: at, outcome, ...set });
  // A retried attempt's failure that closed without a started event (timeouts) still counts.
  a.startedAt ??= a.scheduledAt;
}

/** Reads `e` when it is an activity's event (scheduled, started, closed); false when it is not. */
function readActivityEvent(reading: RunReading, e: IEvent, at: number): boolean {
  const sched = e.activityTaskScheduledEventAttributes;
  if (sched) {
    const a: ActivityRecord = {
      name: sched.activityType?.name ?? '?',
      activityId: sched.activityId ?? '',
      input: decode(sched.input),
      scheduledAt: at,
      startedAt: null,
      attempt: 1,
      lastFailure: null,
      closedAt: null,
      outcome: 'running',
      result: undefined,
      failure: null,
      summary: summaryOf(e),
    };
    reading.activities.set(Number(e.eventId), a);
    reading.parsed.steps.push({ activity: a });
    return true;
  }
  const started = e.activityTaskStartedEventAttributes;
  if (started) {
    const a = reading.activities.get(Number(started.scheduledEventId));
    if (a) {
      a.startedAt = at;
      a.attempt = started.attempt ?? 1;
      a.lastFailure = failureText(started.lastFailure);
    }
    return true;
  }
  const done = e.activityTaskCompletedEventAttributes;
  if (done) {
    closeActivity(reading, done.scheduledEventId, at, 'ok', { result: decode(done.result) });
    return true;
  }
  const failed = e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
  if (failed) {
    closeActivity(reading, failed.scheduledEventId, at, 'failed', { failure: failureOf(failed.failure) });
    return true;
  }
  const cancelled = e.activityTaskCanceledEventAttributes;
  if (cancelled) {
    // A cancelled agent reports what it spent in the cancellation's details.
    closeActivity(reading, cancelled.scheduledEventId, at, 'cancelled', {
      failure: { message: 'cancelled', type: null, details: decode(cancelled.details) },
    });
    return true;
  }
  return false;
}

/** Reads `e` when it is a timer's event (started, fired, cancelled); false when it is not. */
function readTimerEvent(reading: RunReading, e: IEvent, at: number): boolean {
  const timer = e.timerStartedEventAttributes;
  if (timer) {
    const t: TimerRecord = {
      startedAt: at,
      plannedMs: timestampMs(timer.startToFireTimeout),
      endedAt: null,
      outcome: 'running',
      summary: summaryOf(e),
    };
    reading.timers.set(timer.timerId ?? '', t);
    reading.parsed.steps.push({ timer: t });
    return true;
  }
  const fired = e.timerFiredEventAttributes ?? e.timerCanceledEventAttributes;
  if (fired) {
    const t = reading.timers.get(fired.timerId ?? '');
    if (t) Object.assign(t, { endedAt: at, outcome: e.timerFiredEventAttributes ? 'ok' : 'cancelled' });
    return true;
  }
  return false;
}

/** Reads `e` into the run's close when it is the run's close event. */
function readCloseEvent(parsed: ParsedRun, e: IEvent, at: number): void {
  const closes: Array<[string, unknown]> = [
    ['completed', e.workflowExecutionCompletedEventAttributes],
    ['failed', e.workflowExecutionFailedEventAttributes],
    ['cancelled', e.workflowExecutionCanceledEventAttributes],
    ['terminated', e.workflowExecutionTerminatedEventAttributes],
    ['timedOut', e.workflowExecutionTimedOutEventAttributes],
    ['continuedAsNew', e.workflowExecutionContinuedAsNewEventAttributes],
  ];
  for (const [kind, attrs] of closes) {
    if (!attrs) continue;
    parsed.end = at;
    parsed.close = kind;
    parsed.result = decode(e.workflowExecutionCompletedEventAttributes?.result);
    parsed.closeFailure =
      failureText(e.workflowExecutionFailedEventAttributes?.failure) ??
      (e.workflowExecutionTerminatedEventAttributes
        ? e.workflowExecutionTerminatedEventAttributes.reason || null
        : null);
  }
}

/**
 * The child workflow runs a mission run started (its task workflows), with when each was
 * started. The command fetches their histories from this list.
 */
export function childRuns(history: IHistory): Array<{ workflowId: string; runId: string; startedAt: number }> {
  const out: Array<{ workflowId: string; runId: string; startedAt: number }> = [];
  for (const e of history.events ?? []) {
    const c = e.childWorkflowExecutionStartedEventAttributes;
    if (c?.workflowExecution?.workflowId && c.workflowExecution.runId)
      out.push({
        workflowId: c.workflowExecution.workflowId,
        runId: c.workflowExecution.runId,
        startedAt: timestampMs(e.eventTime),
      });
  }
  return out;
}

/** When a run started (its first event), ms since the epoch; 0 for an empty history. */
export function historyStart(history: IHistory): number {
  return timestampMs(history.events?.[0]?.eventTime);
}

/** The input a run was started with (its first event), or undefined when it cannot be read. */
export function startInput<T = unknown>(history: IHistory): T | undefined {
  return decode<T>(history.events?.[0]?.workflowExecutionStartedEventAttributes?.input);
}

/** The run a continued-as-new run continued from, or null for a first run (or a reopened one). */
export function previousRunId(history: IHistory): string | null {
  return history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || null;
}

/** Whether a history has its close event (the run ended). */
export function runClosed(history: IHistory): boolean {
  const last = history.events?.[history.events.length - 1];
  return !!(
    last?.workflowExecutionCompletedEventAttributes ??
    last?.workflowExecutionFailedEventAttributes ??
    last?.workflowExecutionCanceledEventAttributes ??
    last?.workflowExecutionTerminatedEventAttributes ??
    last?.workflowExecutionTimedOutEventAttributes ??
    last?.workflowExecutionContinuedAsNewEventAttributes
  );
}
