/**
 * What `flotilla report` pictures, extracted from a mission's workflow histories and its progress:
 * a timeline of every task (queued, agent attempts, rate-limit waits, gate iterations, merges,
 * conflict resolutions) and of the mission verify runs, the dependency graph, cost and tokens per
 * task and per runtime, and the failures with their causes.
 *
 * Pure: no I/O and no clock (the caller passes `now`), so it is tested on recorded histories
 * (test/fixtures/histories). The histories are the SDK's `fetchHistory()` shape (proto objects:
 * `Long` ids, `Timestamp` times), which `historyFromJSON` also gives for recorded JSON.
 *
 * What histories can and cannot tell: Temporal records one `ActivityTaskStarted` per activity, for
 * its last attempt (with that attempt's number and the previous attempt's failure), so the earlier
 * attempts of a retried agent show as one "retried" span from its scheduling to the last attempt's
 * start. An activity still running has no started event yet: its attempt and start come from the
 * task workflow's description (`pending`), when given.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { byId } from '../../mission/by-id';
import { wallTimeMs } from '../../mission/duration';
import type { MissionProgress, VerifyRun } from '../../mission/progress';
import { names, TaskSpec, TaskStatus, type MissionSpec } from '../../mission/types';

type IHistory = temporal.api.history.v1.IHistory;
type IEvent = temporal.api.history.v1.IHistoryEvent;
type IFailure = temporal.api.failure.v1.IFailure;
type IPayloads = temporal.api.common.v1.IPayloads;

/** One run of a workflow (a mission run, or one run of a task's child workflow) and its history. */
export interface RunHistory {
  workflowId: string;
  runId: string;
  history: IHistory;
  /** Activities in flight (the run's `describe().raw.pendingActivities`), for runs still running. */
  pending?: PendingActivity[];
}

/** An activity in flight, as a workflow's description reports it. */
export interface PendingActivity {
  activityId: string;
  /** The attempt running or about to run (1 = first). */
  attempt: number;
  /** When that attempt started, ms since the epoch; null while it waits to start. */
  startedAt: number | null;
  /** Why the attempt before it failed, if it did. */
  lastFailure: string | null;
}

/** What {@link buildReport} reads. */
export interface ReportInput {
  /** The mission's progress (the progress query, or the final progress of an ended mission). */
  progress: MissionProgress;
  /** Every run of the mission workflow (continue-as-new, reopened by `retry`), in any order. */
  missionRuns: RunHistory[];
  /** Every run of the mission's task workflows (`mission-<id>/task-<task>`), in any order. */
  taskRuns: RunHistory[];
  /** The time spans still open end at, ms since the epoch (the report's generation time). */
  now: number;
}

/** What a span of the timeline is. */
export type SegmentKind =
  | 'waiting' // for its dependencies (or touches) to be merged
  | 'queued' // ready, waiting for a slot (concurrency, pause)
  | 'not-started'
  | 'setup' // worktree and `setup` commands; a fix run's sync to the failed candidate
  | 'agent' // one agent attempt (the last of its activity)
  | 'retried' // the earlier attempts of a retried agent activity
  | 'rate-limit' // a durable rate-limit wait
  | 'wait' // another timer
  | 'commit' // the task branch commit or a checkpoint of kept work
  | 'gate' // the task's verify
  | 'merge' // onto the merge queue's candidate
  | 'resolve' // a conflict prepared, checked, committed
  | 'resolver' // the conflict resolver agent
  | 'verify' // the mission verify
  | 'land' // the mission's automatic landing
  | 'run' // a run of the mission workflow
  | 'merged'; // the moment the task's merge was published (an instant)

/** How a span ended: `running` spans end at the report's `now`. */
export type Outcome = 'ok' | 'failed' | 'cancelled' | 'running';

/** One span of the timeline. Times in ms since the epoch. */
export interface Segment {
  /** The {@link TimelineRow} id: a task id, or `@mission` / `@verify`. */
  row: string;
  kind: SegmentKind;
  start: number;
  end: number;
  outcome: Outcome;
  /** One line: what it was (`attempt 2 · iteration 1`). */
  label: string;
  /** More: the failure, the command, the files, the agent's summary; null when nothing to add. */
  detail: string | null;
  /**
   * The workflow's own summary of the activity or timer (what the Temporal Web UI shows in its
   * event history), or null (a span of no activity or timer, or one scheduled without a summary).
   */
  summary?: string | null;
  /** What an agent span cost, USD, when the agent reported it. */
  costUsd?: number;
}

/** A row of the timeline: the mission's own work, its verify runs, then the tasks by wave. */
export interface TimelineRow {
  id: string;
  label: string;
  kind: 'mission' | 'verify' | 'task';
}

/** Row ids of the mission's own rows (task ids never start with `@`). */
export const MISSION_ROW = '@mission';
export const VERIFY_ROW = '@verify';

/** A task as the report shows it: progress, plan and runtime together. */
export interface ReportTask {
  id: string;
  title: string;
  wave: number;
  status: TaskStatus;
  runtime: string;
  model: string | null;
  dependsOn: string[];
  /** Earlier tasks whose `touches` overlap (serialized after them). */
  after: string[];
  attempts: number;
  iterations: number;
  turns: number;
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
  /** ISO-8601: when its first run started; when it ended. */
  startedAt: string | null;
  endedAt: string | null;
  /** Its wall time from `startedAt` to `endedAt` (or the report's time), ms (`wallTimeMs`); null before it started. */
  durationMs: number | null;
  mergedAt: string | null;
  error: string | null;
}

/** A failure and its cause, for the failures section. */
export interface ReportFailure {
  kind: 'mission' | 'task' | 'attempt' | 'gate' | 'verify' | 'conflict';
  /** The task it is about (a verify failure names the tasks of its candidate in `message`). */
  taskId: string | null;
  /** When it happened, ms since the epoch; null when unknown. */
  at: number | null;
  /** One line. */
  message: string;
  /** Output tail, resolver note, the earlier attempt's failure: null when nothing to add. */
  detail: string | null;
}

/** Cost and tokens of one runtime (and model): its tasks' agents, or the conflict resolver. */
export interface RuntimeCost {
  /** `claude`, `codex · gpt-5`, `claude (resolver)`. */
  label: string;
  tasks: number;
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
}

/** Everything the report page draws; embedded in it as JSON. */
export interface ReportData {
  /** ms since the epoch. */
  generatedAt: number;
  mission: {
    id: string;
    workflowId: string;
    phase: MissionProgress['phase'];
    reason: string | null;
    repo: string;
    baseBranch: string;
    integrationBranch: string;
    integrationSha: string | null;
    /** ms since the epoch. */
    startedAt: number;
    endedAt: number | null;
    /** endedAt (or the generation time) minus startedAt, ms. */
    durationMs: number;
    percent: number;
    counts: MissionProgress['counts'];
    costUsd: number;
    inputTokens: number;
    outputTokens: number;
    budgetUsd: number | null;
    concurrency: number | null;
    /** How many runs of the mission workflow the histories hold. */
    runs: number;
    uiUrl: string | null;
  };
  tasks: ReportTask[];
  rows: TimelineRow[];
  segments: Segment[];
  failures: ReportFailure[];
  costByRuntime: RuntimeCost[];
}

// ---------------------------------------------------------------------------------------------
// History reading

/** An activity of a run: its scheduling, its last attempt, and how it closed. */
interface ActivityRecord {
  name: string;
  activityId: string;
  input: unknown;
  scheduledAt: number;
  /** The last attempt's start; null while it has not closed (history has no started event yet). */
  startedAt: number | null;
  attempt: number;
  /** The failure of the attempt before the last one. */
  lastFailure: string | null;
  closedAt: number | null;
  outcome: Outcome;
  result: unknown;
  failure: { message: string; type: string | null; details: unknown } | null;
  /** The activity's summary (user metadata), when the workflow gave one. */
  summary: string | null;
}

interface TimerRecord {
  startedAt: number;
  /** How long it was set for, ms. */
  plannedMs: number;
  endedAt: number | null;
  outcome: Outcome;
  summary: string | null;
}

interface ParsedRun {
  run: RunHistory;
  start: number;
  /** The close event's time, or null while it runs. */
  end: number | null;
  /** `completed`, `failed`, `cancelled`, `terminated`, `timedOut`, `continuedAsNew`, or null. */
  close: string | null;
  input: unknown;
  result: unknown;
  closeFailure: string | null;
  /** Activities and timers, in the order they were scheduled. */
  steps: Array<{ activity: ActivityRecord } | { timer: TimerRecord }>;
}

const toMs = (ts: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
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

/** Reads a run's history into its activities, timers, start and close. */
function parseRun(run: RunHistory): ParsedRun {
  const events = run.history.events ?? [];
  const byScheduled = new Map<number, ActivityRecord>();
  const timers = new Map<string, TimerRecord>();
  const parsed: ParsedRun = {
    run,
    start: toMs(events[0]?.eventTime),
    end: null,
    close: null,
    input: decode(events[0]?.workflowExecutionStartedEventAttributes?.input),
    result: undefined,
    closeFailure: null,
    steps: [],
  };
  const closeActivity = (id: unknown, at: number, outcome: Outcome, set: Partial<ActivityRecord>): void => {
    const a = byScheduled.get(Number(id));
    if (!a) return;
    Object.assign(a, { closedAt: at, outcome, ...set });
    // A retried attempt's failure that closed without a started event (timeouts) still counts.
    a.startedAt ??= a.scheduledAt;
  };
  for (const e of events) {
    const at = toMs(e.eventTime);
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
      byScheduled.set(Number(e.eventId), a);
      parsed.steps.push({ activity: a });
      continue;
    }
    const started = e.activityTaskStartedEventAttributes;
    if (started) {
      const a = byScheduled.get(Number(started.scheduledEventId));
      if (a) {
        a.startedAt = at;
        a.attempt = started.attempt ?? 1;
        a.lastFailure = failureText(started.lastFailure);
      }
      continue;
    }
    const done = e.activityTaskCompletedEventAttributes;
    if (done) {
      closeActivity(done.scheduledEventId, at, 'ok', { result: decode(done.result) });
      continue;
    }
    const failed = e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
    if (failed) {
      closeActivity(failed.scheduledEventId, at, 'failed', { failure: failureOf(failed.failure) });
      continue;
    }
    const cancelled = e.activityTaskCanceledEventAttributes;
    if (cancelled) {
      // A cancelled agent reports what it spent in the cancellation's details.
      closeActivity(cancelled.scheduledEventId, at, 'cancelled', {
        failure: { message: 'cancelled', type: null, details: decode(cancelled.details) },
      });
      continue;
    }
    const timer = e.timerStartedEventAttributes;
    if (timer) {
      const t: TimerRecord = {
        startedAt: at,
        plannedMs: toMs(timer.startToFireTimeout),
        endedAt: null,
        outcome: 'running',
        summary: summaryOf(e),
      };
      timers.set(timer.timerId ?? '', t);
      parsed.steps.push({ timer: t });
      continue;
    }
    const fired = e.timerFiredEventAttributes ?? e.timerCanceledEventAttributes;
    if (fired) {
      const t = timers.get(fired.timerId ?? '');
      if (t) Object.assign(t, { endedAt: at, outcome: e.timerFiredEventAttributes ? 'ok' : 'cancelled' });
      continue;
    }
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
  return parsed;
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
        startedAt: toMs(e.eventTime),
      });
  }
  return out;
}

/** When a run started (its first event), ms since the epoch; 0 for an empty history. */
export function historyStart(history: IHistory): number {
  return toMs(history.events?.[0]?.eventTime);
}

/** The input a run was started with (its first event), or undefined when it cannot be read. */
export function startInput<T = unknown>(history: IHistory): T | undefined {
  return decode<T>(history.events?.[0]?.workflowExecutionStartedEventAttributes?.input);
}

/** The run a continued-as-new run continued from, or null for a first run (or a reopened one). */
export function previousRunId(history: IHistory): string | null {
  return history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || null;
}

// ---------------------------------------------------------------------------------------------
// Building the report

/** What a task's and the mission's activities carry that the report reads (all optional). */
interface AgentInput {
  taskId?: string;
  iteration?: number;
  role?: 'task' | 'resolver';
  resumeSessionId?: string | null;
}
interface AgentOutput {
  attempt?: number;
  costUsd?: number;
  inputTokens?: number;
  outputTokens?: number;
  turns?: number;
  summary?: string;
  exitCode?: number;
}
interface Checks {
  ok?: boolean;
  failed?: { command: string; exitCode: number | null; outputTail: string; timedOut?: boolean } | null;
}

const money = (usd: number | undefined): string => (usd ? ` · $${usd.toFixed(4)}` : '');
const tail = (text: string | undefined, lines = 12): string | null => {
  const t = (text ?? '').trimEnd();
  return t ? t.split('\n').slice(-lines).join('\n') : null;
};
const checksFailure = (c: Checks | undefined): string =>
  c?.failed ? `\`${c.failed.command}\` failed (exit ${c.failed.exitCode ?? 'timeout'})` : 'failed';

/**
 * Builds the report's data; see {@link ReportData}. What it cannot read in a history (an unknown
 * activity, a payload another converter wrote) it leaves out rather than failing.
 * @throws Error only when neither the progress nor a mission history gives the mission's start
 */
export function buildReport(input: ReportInput): ReportData {
  const { progress, now } = input;
  const missionRuns = input.missionRuns.map(parseRun).sort((a, b) => a.start - b.start);
  const taskRuns = input.taskRuns.map(parseRun).sort((a, b) => a.start - b.start);
  const spec = specOf(missionRuns);
  const specTask = new Map<string, TaskSpec>((spec?.tasks ?? []).map((t) => [t.id, t]));
  const segments: Segment[] = [];
  const failures: ReportFailure[] = [];

  // The workflow's start: the progress's own start is its first workflow task, later when no
  // worker polled yet.
  const missionStart = Math.min(Date.parse(progress.startedAt) || Infinity, missionRuns[0]?.start || Infinity);
  if (!Number.isFinite(missionStart)) throw new Error('the mission has neither a start time nor a history');
  const missionEnd = progress.endedAt ? Date.parse(progress.endedAt) : null;

  if (progress.reason && progress.phase !== 'completed' && progress.phase !== 'running')
    failures.push({
      kind: 'mission',
      taskId: null,
      at: missionEnd,
      message: `mission ${progress.phase}: ${progress.reason}`,
      detail: null,
    });

  // Task runs: their own work.
  const runsOf = new Map<string, ParsedRun[]>();
  for (const r of taskRuns) {
    const taskId = taskIdOf(r, progress.missionId);
    if (!taskId) continue;
    runsOf.set(taskId, [...(runsOf.get(taskId) ?? []), r]);
    taskRunSegments(taskId, r, now, segments, failures);
  }
  // Mission runs: merges, conflicts, verify runs, landing.
  const { usage: resolverUsage, conflictAt } = missionSegments(missionRuns, progress, now, segments, failures);

  // Before and between: waiting for dependencies, queued, never started; the moment merged.
  for (const t of progress.tasks) {
    const runs = runsOf.get(t.id) ?? [];
    const spec = specTask.get(t.id);
    const firstStart = runs[0]?.start ?? (t.startedAt ? Date.parse(t.startedAt) : null);
    const deps = [...(spec?.dependsOn ?? []), ...(spec?.after ?? [])];
    const depEnds = deps.map((d) => {
      const x = byId(progress.tasks, d);
      const end = x?.mergedAt ?? x?.endedAt;
      return end ? Date.parse(end) : null;
    });
    const ready = depEnds.length && depEnds.every((x) => x !== null) ? Math.max(...(depEnds as number[])) : null;
    const until = firstStart ?? missionEnd ?? now;
    const depNote = deps.length ? `after ${deps.join(', ')}` : null;
    if (deps.length && (ready === null || ready > missionStart)) {
      const waitedUntil = ready === null ? until : Math.min(ready, until);
      if (waitedUntil > missionStart)
        segments.push({
          row: t.id,
          kind: 'waiting',
          start: missionStart,
          end: waitedUntil,
          outcome: firstStart || missionEnd ? 'ok' : 'running',
          label: 'waiting for its dependencies',
          detail: depNote,
        });
    }
    const queuedFrom = deps.length ? (ready ?? until) : missionStart;
    if (firstStart !== null && firstStart > queuedFrom)
      segments.push({
        row: t.id,
        kind: 'queued',
        start: queuedFrom,
        end: firstStart,
        outcome: 'ok',
        label: 'queued (ready, waiting for a slot)',
        detail: null,
      });
    if (firstStart === null && !(deps.length && ready === null))
      segments.push({
        row: t.id,
        kind: t.status === 'pending' ? 'queued' : 'not-started',
        start: queuedFrom,
        end: Math.max(queuedFrom, until),
        outcome: t.status === 'pending' && !missionEnd ? 'running' : 'cancelled',
        label: t.status === 'pending' ? 'queued' : `never started (${t.status})`,
        detail: t.error,
      });
    if (t.mergedAt) {
      const at = Date.parse(t.mergedAt);
      segments.push({
        row: t.id,
        kind: 'merged',
        start: at,
        end: at,
        outcome: 'ok',
        label: `merged into ${progress.integrationBranch}`,
        detail: t.headSha ? `task head ${t.headSha.slice(0, 12)}` : null,
      });
    }
    if (t.error && ['failed', 'conflict', 'skipped', 'cancelled'].includes(t.status))
      failures.push({
        kind: 'task',
        taskId: t.id,
        at: t.endedAt ? Date.parse(t.endedAt) : null,
        message: `${t.id} ${t.status}: ${firstLine(t.error)}`,
        detail: t.error.includes('\n') ? t.error : null,
      });
  }
  conflictFailures(progress, conflictAt, failures);

  const tasks: ReportTask[] = progress.tasks.map((t) => {
    const s = specTask.get(t.id);
    // The first run's start: a progress recorded before it kept the first start could hold a later one.
    const first = runsOf.get(t.id)?.[0]?.start;
    const startedAt =
      first && (!t.startedAt || first < Date.parse(t.startedAt)) ? new Date(first).toISOString() : t.startedAt;
    return {
      id: t.id,
      title: t.title,
      wave: t.wave,
      status: t.status,
      runtime: s?.agent.runtime ?? 'unknown',
      model: s?.agent.model ?? null,
      dependsOn: s?.dependsOn ?? [],
      after: s?.after ?? [],
      attempts: t.attempts,
      iterations: t.iterations,
      turns: t.turns,
      costUsd: t.costUsd,
      inputTokens: t.inputTokens,
      outputTokens: t.outputTokens,
      startedAt,
      endedAt: t.endedAt,
      durationMs: wallTimeMs(startedAt, t.endedAt, now),
      mergedAt: t.mergedAt ?? null,
      error: t.error,
    };
  });
  const ordered = [...tasks].sort((a, b) => a.wave - b.wave);
  const rows: TimelineRow[] = [
    { id: MISSION_ROW, label: 'mission', kind: 'mission' },
    ...(segments.some((s) => s.row === VERIFY_ROW)
      ? [{ id: VERIFY_ROW, label: 'mission verify', kind: 'verify' as const }]
      : []),
    ...ordered.map((t) => ({ id: t.id, label: t.id, kind: 'task' as const })),
  ];
  // The mission row: each run of the mission workflow.
  missionRuns.forEach((r, i) =>
    segments.unshift({
      row: MISSION_ROW,
      kind: 'run',
      start: r.start,
      end: r.end ?? now,
      outcome:
        r.end === null
          ? 'running'
          : r.close === 'completed' || r.close === 'continuedAsNew'
            ? 'ok'
            : r.close === 'cancelled'
              ? 'cancelled'
              : 'failed',
      label: `mission run ${i + 1}${r.close ? ` (${r.close === 'continuedAsNew' ? 'continued as new' : r.close})` : ' (running)'}`,
      detail: r.closeFailure,
    }),
  );

  return {
    generatedAt: now,
    mission: {
      id: progress.missionId,
      workflowId: progress.workflowId,
      phase: progress.phase,
      reason: progress.reason,
      repo: progress.repo,
      baseBranch: progress.baseBranch,
      integrationBranch: progress.integrationBranch,
      integrationSha: progress.integrationSha,
      startedAt: missionStart,
      endedAt: missionEnd,
      // Its wall time as every view gives it, from its first start: the workflow's (in its history).
      durationMs: wallTimeMs(new Date(missionStart).toISOString(), progress.endedAt, now)!,
      percent: progress.percent,
      counts: progress.counts,
      costUsd: progress.costUsd,
      inputTokens: progress.inputTokens,
      outputTokens: progress.outputTokens,
      budgetUsd: progress.budgetUsd,
      concurrency: spec?.concurrency ?? null,
      runs: missionRuns.length,
      uiUrl: progress.uiUrl,
    },
    tasks,
    rows,
    segments: segments.sort((a, b) => a.start - b.start),
    failures: failures.sort((a, b) => (a.at ?? Infinity) - (b.at ?? Infinity)),
    costByRuntime: runtimeCosts(tasks, spec, resolverUsage),
  };
}

function firstLine(text: string): string {
  return text.split('\n')[0].slice(0, 300);
}

/** The mission's spec, from the start event of its latest run (every run starts with the same spec). */
function specOf(runs: ParsedRun[]): MissionSpec | null {
  for (let i = runs.length - 1; i >= 0; i--) {
    const spec = (runs[i].input as { spec?: MissionSpec } | undefined)?.spec;
    if (spec?.tasks) return spec;
  }
  return null;
}

function taskIdOf(r: ParsedRun, missionId: string): string | null {
  const prefix = names.taskWorkflowId(missionId, '');
  if (r.run.workflowId.startsWith(prefix)) return r.run.workflowId.slice(prefix.length);
  return (r.input as { task?: { id?: string } } | undefined)?.task?.id ?? null;
}

/** The spans of one run of a task workflow, and the failures it met. */
function taskRunSegments(taskId: string, r: ParsedRun, now: number, out: Segment[], failures: ReportFailure[]): void {
  const input = r.input as { fix?: { round?: number }; retry?: unknown } | undefined;
  const runNote = input?.fix ? `fix round ${input.fix.round ?? '?'}` : input?.retry ? 'flotilla retry' : null;
  let iteration = 1;
  let lastAgentFailureType: string | null = null;
  const pending = new Map((r.run.pending ?? []).map((p) => [p.activityId, p]));
  const push = (s: Omit<Segment, 'row'>): void => void out.push({ row: taskId, ...s });
  for (const step of r.steps) {
    if ('timer' in step) {
      const t = step.timer;
      const rateLimited = lastAgentFailureType === 'AgentRateLimited' || /rate.?limit/i.test(t.summary ?? '');
      push({
        kind: rateLimited ? 'rate-limit' : 'wait',
        start: t.startedAt,
        end: t.endedAt ?? Math.max(now, t.startedAt),
        outcome: t.outcome,
        label: rateLimited ? 'rate-limit wait' : 'timer',
        summary: t.summary,
        detail: t.plannedMs ? `planned ${Math.round(t.plannedMs / 1000)}s` : null,
      });
      continue;
    }
    const a = step.activity;
    const end = a.closedAt ?? now;
    switch (a.name) {
      case 'prepareWorktree':
      case 'syncTaskBranch':
        push({
          kind: 'setup',
          start: a.scheduledAt,
          end,
          outcome: a.outcome,
          label: a.name === 'prepareWorktree' ? 'worktree and setup' : 'sync to the failed candidate',
          summary: a.summary,
          detail: a.failure?.message ?? null,
        });
        break;
      case 'runAgent': {
        const ai = (a.input ?? {}) as AgentInput;
        iteration = ai.iteration ?? iteration;
        const p = pending.get(a.activityId);
        const attempt = a.closedAt === null && p ? p.attempt : a.attempt;
        const lastFailure = a.closedAt === null && p ? p.lastFailure : a.lastFailure;
        // In flight and not described: most likely running since it was scheduled.
        const attemptStart = a.startedAt ?? (a.closedAt === null && p ? p.startedAt : a.scheduledAt);
        const what = [`iteration ${iteration}`, runNote, ai.resumeSessionId ? 'resumes its session' : null]
          .filter(Boolean)
          .join(' · ');
        if (attempt > 1)
          push({
            kind: 'retried',
            start: a.scheduledAt,
            end: attemptStart ?? end,
            outcome: 'failed',
            label: `attempt${attempt > 2 ? `s 1–${attempt - 1}` : ' 1'} failed, retried · ${what}`,
            detail: lastFailure ? `last failure: ${lastFailure}` : null,
          });
        if (attempt > 1 && lastFailure)
          failures.push({
            kind: 'attempt',
            taskId,
            at: attemptStart,
            message: `${taskId}: agent attempt ${attempt - 1} failed (retried as attempt ${attempt}): ${firstLine(lastFailure)}`,
            detail: lastFailure.includes('\n') ? lastFailure : null,
          });
        const res = (a.result ?? a.failure?.details ?? {}) as AgentOutput;
        if (attemptStart !== null)
          push({
            kind: 'agent',
            start: attemptStart,
            end,
            outcome: a.outcome,
            label: `agent attempt ${attempt} · ${what}${money(res.costUsd)}`,
            summary: a.summary,
            detail:
              a.failure?.message ??
              ([
                res.turns ? `${res.turns} turns` : '',
                res.inputTokens || res.outputTokens
                  ? `${res.inputTokens ?? 0} in / ${res.outputTokens ?? 0} out tokens`
                  : '',
                res.summary ?? '',
              ]
                .filter(Boolean)
                .join(' · ') ||
                null),
            costUsd: res.costUsd,
          });
        else
          push({
            kind: 'queued',
            start: a.scheduledAt,
            end,
            outcome: 'running',
            label: `agent attempt ${attempt} waiting to start`,
            detail: lastFailure ? `retrying after: ${lastFailure}` : null,
          });
        lastAgentFailureType = a.failure?.type ?? null;
        if (a.failure && a.outcome === 'failed')
          failures.push({
            kind: 'attempt',
            taskId,
            at: a.closedAt,
            message: `${taskId}: agent attempt ${attempt} failed${a.failure.type ? ` (${a.failure.type})` : ''}: ${firstLine(a.failure.message)}`,
            detail: a.failure.message.includes('\n') ? a.failure.message : null,
          });
        break;
      }
      case 'checkpoint':
      case 'snapshot':
        push({
          kind: 'commit',
          start: a.scheduledAt,
          end,
          outcome: a.outcome,
          label: a.name === 'checkpoint' ? 'commit on the task branch' : 'checkpoint of the work so far',
          summary: a.summary,
          detail: a.failure?.message ?? null,
        });
        break;
      case 'runChecks': {
        const c = a.result as Checks | undefined;
        const ok = a.outcome === 'ok' && c?.ok !== false;
        push({
          kind: 'gate',
          start: a.scheduledAt,
          end,
          outcome: a.outcome === 'ok' && !ok ? 'failed' : a.outcome,
          summary: a.summary,
          label: `gate (task verify) · iteration ${iteration}${a.outcome === 'ok' ? (ok ? ': passed' : `: ${checksFailure(c)}`) : ''}`,
          detail: a.failure?.message ?? tail(c?.failed?.outputTail),
        });
        if (!ok && a.outcome !== 'running' && a.outcome !== 'cancelled')
          failures.push({
            kind: 'gate',
            taskId,
            at: a.closedAt,
            message: `${taskId}: gate iteration ${iteration}: ${a.failure ? firstLine(a.failure.message) : checksFailure(c)}`,
            detail: tail(c?.failed?.outputTail),
          });
        break;
      }
      default:
        break;
    }
  }
}

/**
 * The spans of the mission workflow's own work (merges, conflict resolutions, verify runs,
 * landing) and its failures; returns what the resolver agents spent (cost and tokens).
 */
function missionSegments(
  runs: ParsedRun[],
  progress: MissionProgress,
  now: number,
  out: Segment[],
  failures: ReportFailure[],
): { usage: ResolverUsage; conflictAt: Map<string, number> } {
  const usage: ResolverUsage = { costUsd: 0, inputTokens: 0, outputTokens: 0, runs: 0 };
  /** When each task's merge first met a conflict. */
  const conflictAt = new Map<string, number>();
  const verifyRuns = [...(progress.mergeQueue?.verifyRuns ?? [])];
  let verifyCount = 0;
  /** The task whose conflict is being resolved (resolution checks run `runChecks` too). */
  let resolving: string | null = null;
  for (const r of runs) {
    for (const step of r.steps) {
      if (!('activity' in step)) continue;
      const a = step.activity;
      const end = a.closedAt ?? now;
      const inp = (a.input ?? {}) as { taskId?: string; sha?: string; role?: string };
      const span = (row: string, kind: SegmentKind, label: string, outcome: Outcome, detail: string | null): void =>
        void out.push({ row, kind, start: a.scheduledAt, end, outcome, label, summary: a.summary, detail });
      switch (a.name) {
        case 'prepareIntegration':
          span(MISSION_ROW, 'setup', 'integration branch and worktree', a.outcome, a.failure?.message ?? null);
          break;
        case 'landMission':
          span(MISSION_ROW, 'land', 'land', a.outcome, a.failure?.message ?? null);
          break;
        case 'queueMerge': {
          if (!inp.taskId) break;
          const res = a.result as { status?: string; files?: string[]; message?: string } | undefined;
          const conflict = res?.status === 'conflict';
          if (conflict && a.closedAt !== null && !conflictAt.has(inp.taskId)) conflictAt.set(inp.taskId, a.closedAt);
          span(
            inp.taskId,
            'merge',
            conflict ? `merge: conflict in ${(res?.files ?? []).join(', ')}` : 'merge onto the candidate',
            conflict ? 'failed' : a.outcome,
            conflict ? (res?.message ?? null) : (a.failure?.message ?? null),
          );
          break;
        }
        case 'prepareConflict':
          resolving = inp.taskId ?? null;
          if (resolving)
            span(resolving, 'resolve', 'conflict worktree prepared', a.outcome, a.failure?.message ?? null);
          break;
        case 'checkResolution': {
          const res = a.result as { ok?: boolean; problems?: string[] } | undefined;
          if (resolving)
            span(
              resolving,
              'resolve',
              res?.ok === false ? 'resolution rejected' : 'resolution checked',
              res?.ok === false ? 'failed' : a.outcome,
              res?.problems?.join('\n') || (a.failure?.message ?? null),
            );
          break;
        }
        case 'commitResolution':
        case 'dropConflict':
          if (resolving)
            span(
              resolving,
              'resolve',
              a.name === 'commitResolution' ? 'resolution committed' : 'resolution dropped',
              a.name === 'dropConflict' && a.outcome === 'ok' ? 'cancelled' : a.outcome,
              a.failure?.message ?? null,
            );
          resolving = null;
          break;
        case 'runAgent': {
          const ai = (a.input ?? {}) as AgentInput;
          const res = (a.result ?? a.failure?.details ?? {}) as AgentOutput;
          usage.costUsd += res.costUsd ?? 0;
          usage.inputTokens += res.inputTokens ?? 0;
          usage.outputTokens += res.outputTokens ?? 0;
          usage.runs++;
          const row = ai.taskId ?? resolving;
          if (row)
            out.push({
              row,
              kind: 'resolver',
              start: a.startedAt ?? a.scheduledAt,
              end,
              outcome: a.outcome,
              label: `resolver run ${ai.iteration ?? 1} · attempt ${a.attempt}${money(res.costUsd)}`,
              summary: a.summary,
              detail: a.failure?.message ?? res.summary ?? null,
              costUsd: res.costUsd,
            });
          break;
        }
        case 'verifyAt':
        case 'runChecks': {
          const c = a.result as Checks | undefined;
          const ok = a.outcome === 'ok' && c?.ok !== false;
          const outcome: Outcome = a.outcome === 'ok' && !ok ? 'failed' : a.outcome;
          if (a.name === 'runChecks' && resolving) {
            span(
              resolving,
              'resolve',
              ok ? 'resolution checks passed' : `resolution checks: ${checksFailure(c)}`,
              outcome,
              tail(c?.failed?.outputTail),
            );
            break;
          }
          verifyCount++;
          // The progress keeps the latest verify runs: match this one by its commit.
          const idx = inp.sha ? verifyRuns.findIndex((v) => v.sha === inp.sha) : -1;
          const v: VerifyRun | undefined = idx >= 0 ? verifyRuns.splice(idx, 1)[0] : undefined;
          const what = v ? `batch ${v.batch} · ${v.kind} · ${v.taskIds.join(', ')}` : `run ${verifyCount}`;
          const sha = inp.sha ? ` on ${inp.sha.slice(0, 12)}` : '';
          span(
            VERIFY_ROW,
            'verify',
            `verify ${what}${sha}${a.outcome === 'ok' ? (ok ? ': passed' : `: ${checksFailure(c)}`) : ''}`,
            outcome,
            a.failure?.message ?? tail(c?.failed?.outputTail),
          );
          if (outcome === 'failed')
            failures.push({
              kind: 'verify',
              // A bisection step, or a candidate of one task, names its culprit: the prefix's last task.
              taskId:
                v && (v.kind === 'bisect' || v.taskIds.length === 1) ? (v.taskIds[v.taskIds.length - 1] ?? null) : null,
              at: a.closedAt,
              message: `mission verify (${what})${sha}: ${a.failure ? firstLine(a.failure.message) : checksFailure(c)}`,
              detail: tail(c?.failed?.outputTail),
            });
          break;
        }
        default:
          break;
      }
    }
  }
  return { usage, conflictAt };
}

/** What the conflict resolver's runs spent. */
interface ResolverUsage {
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
  runs: number;
}

/** The conflicts the merge queue met (latest state per task, from the progress), dated by the merges that met them. */
function conflictFailures(progress: MissionProgress, conflictAt: Map<string, number>, failures: ReportFailure[]): void {
  for (const c of progress.mergeQueue?.conflicts ?? []) {
    const withWhom = c.withTasks.length ? ` with ${c.withTasks.join(', ')}` : '';
    failures.push({
      kind: 'conflict',
      taskId: c.taskId,
      at: conflictAt.get(c.taskId) ?? null,
      message: `${c.taskId}: merge conflict${withWhom} in ${c.files.join(', ')}: ${c.state}${c.attempts ? ` (resolver runs: ${c.attempts})` : ''}`,
      detail: c.note,
    });
  }
}

/** Cost and tokens by runtime (and model), tasks' agents and the conflict resolver apart. */
function runtimeCosts(tasks: ReportTask[], spec: MissionSpec | null, resolver: ResolverUsage): RuntimeCost[] {
  const by = new Map<string, RuntimeCost>();
  const add = (label: string, tasks: number, costUsd: number, inputTokens: number, outputTokens: number): void => {
    const r = by.get(label) ?? { label, tasks: 0, costUsd: 0, inputTokens: 0, outputTokens: 0 };
    r.tasks += tasks;
    r.costUsd += costUsd;
    r.inputTokens += inputTokens;
    r.outputTokens += outputTokens;
    by.set(label, r);
  };
  for (const t of tasks)
    add(t.model ? `${t.runtime} · ${t.model}` : t.runtime, 1, t.costUsd, t.inputTokens, t.outputTokens);
  if (resolver.runs > 0) {
    const agent = spec?.resolver ?? spec?.tasks[0]?.agent;
    const label = agent ? (agent.model ? `${agent.runtime} · ${agent.model}` : agent.runtime) : 'agent';
    add(`${label} (resolver)`, 0, resolver.costUsd, resolver.inputTokens, resolver.outputTokens);
  }
  return [...by.values()].map((r) => ({ ...r, costUsd: Math.round(r.costUsd * 1e6) / 1e6 }));
}
