/**
 * The report's task rows: the spans of each run of a task workflow (setup, agent attempts and the
 * retried ones, rate-limit waits and other timers, commits, gate iterations) from its history, and
 * the spans around them that only the progress tells (waiting for dependencies, queued, never
 * started, the moment merged). The mission's work on a task's row (its merges and conflict
 * resolutions) is mission-timeline.ts's.
 */
import { byId } from '../../mission/by-id';
import type { MissionProgress, TaskState } from '../../mission/progress';
import type { TaskSpec } from '../../mission/types';
import type { ActivityRecord, ParsedRun, TimerRecord } from './history';
import type { PendingActivity, ReportFailure, Segment } from './model';
import { type AgentInput, type AgentOutput, type Checks, checksFailure, firstLine, money, tail } from './payloads';

/** A task run being read: where its spans and failures go, and what its earlier steps told. */
interface TaskRunReading {
  taskId: string;
  /** Where spans still open end, ms since the epoch. */
  now: number;
  /** `fix round 2`, `flotilla retry`, or null for a run of neither. */
  runNote: string | null;
  /** The gate iteration the agent last ran for (1 = first). */
  iteration: number;
  /** The failure type of the last agent attempt: a timer after `AgentRateLimited` is a rate-limit wait. */
  lastAgentFailureType: string | null;
  /** The run's activities in flight, by activity id (a running run's description). */
  pending: Map<string, PendingActivity>;
  segments: Segment[];
  failures: ReportFailure[];
}

/** The spans of one run of a task workflow, appended to `out`, and the failures it met, to `failures`. */
export function taskRunSegments(
  taskId: string,
  r: ParsedRun,
  now: number,
  out: Segment[],
  failures: ReportFailure[],
): void {
  const input = r.input as { fix?: { round?: number }; retry?: unknown } | undefined;
  const reading: TaskRunReading = {
    taskId,
    now,
    runNote: input?.fix ? `fix round ${input.fix.round ?? '?'}` : input?.retry ? 'flotilla retry' : null,
    iteration: 1,
    lastAgentFailureType: null,
    pending: new Map((r.run.pending ?? []).map((p) => [p.activityId, p])),
    segments: out,
    failures,
  };
  for (const step of r.steps) {
    if ('timer' in step) timerSegment(reading, step.timer);
    else activitySegments(reading, step.activity);
  }
}

function push(reading: TaskRunReading, s: Omit<Segment, 'row'>): void {
  reading.segments.push({ row: reading.taskId, ...s });
}

function timerSegment(reading: TaskRunReading, t: TimerRecord): void {
  const rateLimited = reading.lastAgentFailureType === 'AgentRateLimited' || /rate.?limit/i.test(t.summary ?? '');
  push(reading, {
    kind: rateLimited ? 'rate-limit' : 'wait',
    start: t.startedAt,
    end: t.endedAt ?? Math.max(reading.now, t.startedAt),
    outcome: t.outcome,
    label: rateLimited ? 'rate-limit wait' : 'timer',
    summary: t.summary,
    detail: t.plannedMs ? `planned ${Math.round(t.plannedMs / 1000)}s` : null,
  });
}

function activitySegments(reading: TaskRunReading, a: ActivityRecord): void {
  const end = a.closedAt ?? reading.now;
  switch (a.name) {
    case 'prepareWorktree':
    case 'syncTaskBranch':
      push(reading, {
        kind: 'setup',
        start: a.scheduledAt,
        end,
        outcome: a.outcome,
        label: a.name === 'prepareWorktree' ? 'worktree and setup' : 'sync to the failed candidate',
        summary: a.summary,
        detail: a.failure?.message ?? null,
      });
      break;
    case 'runAgent':
      agentSegments(reading, a, end);
      break;
    case 'checkpoint':
    case 'snapshot':
      push(reading, {
        kind: 'commit',
        start: a.scheduledAt,
        end,
        outcome: a.outcome,
        label: a.name === 'checkpoint' ? 'commit on the task branch' : 'checkpoint of the work so far',
        summary: a.summary,
        detail: a.failure?.message ?? null,
      });
      break;
    case 'runChecks':
      gateSegment(reading, a, end);
      break;
    default:
      break;
  }
}

/** An agent activity's last attempt as the report shows it: from its history, or its description while in flight. */
interface LastAttempt {
  attempt: number;
  /** When it started, ms since the epoch; null while it waits to start. */
  start: number | null;
  /** Why the attempt before it failed. */
  lastFailure: string | null;
  /** `iteration 1 · fix round 1 · resumes its session`. */
  what: string;
  end: number;
}

/** A `runAgent` activity: the retried attempts before its last, the last one, and their failures. */
function agentSegments(reading: TaskRunReading, a: ActivityRecord, end: number): void {
  const { taskId } = reading;
  const ai = (a.input ?? {}) as AgentInput;
  reading.iteration = ai.iteration ?? reading.iteration;
  const live = a.closedAt === null ? reading.pending.get(a.activityId) : undefined;
  const last: LastAttempt = {
    attempt: live ? live.attempt : a.attempt,
    lastFailure: live ? live.lastFailure : a.lastFailure,
    // In flight and not described: most likely running since it was scheduled.
    start: a.startedAt ?? (live ? live.startedAt : a.scheduledAt),
    what: [`iteration ${reading.iteration}`, reading.runNote, ai.resumeSessionId ? 'resumes its session' : null]
      .filter(Boolean)
      .join(' · '),
    end,
  };
  if (last.attempt > 1) retriedSegment(reading, a, last);
  lastAttemptSegment(reading, a, last);
  reading.lastAgentFailureType = a.failure?.type ?? null;
  if (a.failure && a.outcome === 'failed')
    reading.failures.push({
      kind: 'attempt',
      taskId,
      at: a.closedAt,
      message: `${taskId}: agent attempt ${last.attempt} failed${a.failure.type ? ` (${a.failure.type})` : ''}: ${firstLine(a.failure.message)}`,
      detail: a.failure.message.includes('\n') ? a.failure.message : null,
    });
}

/** The attempts before the last, as one span, and the failure the last one retried after. */
function retriedSegment(reading: TaskRunReading, a: ActivityRecord, last: LastAttempt): void {
  const { attempt, lastFailure } = last;
  push(reading, {
    kind: 'retried',
    start: a.scheduledAt,
    end: last.start ?? last.end,
    outcome: 'failed',
    label: `attempt${attempt > 2 ? `s 1–${attempt - 1}` : ' 1'} failed, retried · ${last.what}`,
    detail: lastFailure ? `last failure: ${lastFailure}` : null,
  });
  if (lastFailure)
    reading.failures.push({
      kind: 'attempt',
      taskId: reading.taskId,
      at: last.start,
      message: `${reading.taskId}: agent attempt ${attempt - 1} failed (retried as attempt ${attempt}): ${firstLine(lastFailure)}`,
      detail: lastFailure.includes('\n') ? lastFailure : null,
    });
}

/** The last attempt: what it did and spent, or, before it started, its wait for a worker. */
function lastAttemptSegment(reading: TaskRunReading, a: ActivityRecord, last: LastAttempt): void {
  const res = (a.result ?? a.failure?.details ?? {}) as AgentOutput;
  if (last.start !== null)
    push(reading, {
      kind: 'agent',
      start: last.start,
      end: last.end,
      outcome: a.outcome,
      label: `agent attempt ${last.attempt} · ${last.what}${money(res.costUsd)}`,
      summary: a.summary,
      detail:
        a.failure?.message ??
        ([
          res.turns ? `${res.turns} turns` : '',
          res.inputTokens || res.outputTokens ? `${res.inputTokens ?? 0} in / ${res.outputTokens ?? 0} out tokens` : '',
          res.summary ?? '',
        ]
          .filter(Boolean)
          .join(' · ') ||
          null),
      costUsd: res.costUsd,
    });
  else
    push(reading, {
      kind: 'queued',
      start: a.scheduledAt,
      end: last.end,
      outcome: 'running',
      label: `agent attempt ${last.attempt} waiting to start`,
      detail: last.lastFailure ? `retrying after: ${last.lastFailure}` : null,
    });
}

/** A `runChecks` of the task (its gate): passed, or the command that failed. */
function gateSegment(reading: TaskRunReading, a: ActivityRecord, end: number): void {
  const { taskId, iteration } = reading;
  const c = a.result as Checks | undefined;
  const ok = a.outcome === 'ok' && c?.ok !== false;
  push(reading, {
    kind: 'gate',
    start: a.scheduledAt,
    end,
    outcome: a.outcome === 'ok' && !ok ? 'failed' : a.outcome,
    summary: a.summary,
    label: `gate (task verify) · iteration ${iteration}${a.outcome === 'ok' ? (ok ? ': passed' : `: ${checksFailure(c)}`) : ''}`,
    detail: a.failure?.message ?? tail(c?.failed?.outputTail),
  });
  if (!ok && a.outcome !== 'running' && a.outcome !== 'cancelled')
    reading.failures.push({
      kind: 'gate',
      taskId,
      at: a.closedAt,
      message: `${taskId}: gate iteration ${iteration}: ${a.failure ? firstLine(a.failure.message) : checksFailure(c)}`,
      detail: tail(c?.failed?.outputTail),
    });
}

/** The mission's span: its start, its end (null while it runs) and the report's time, ms since the epoch. */
export interface MissionSpan {
  start: number;
  end: number | null;
  now: number;
}

/**
 * A task's spans that only the progress tells: before its first run (waiting for its
 * dependencies and `touches`, queued for a slot, or never started) and the moment it merged.
 * @param firstStart when its first run started (its history, else the progress), or null
 */
export function taskWaitSegments(
  progress: MissionProgress,
  t: TaskState,
  spec: TaskSpec | undefined,
  firstStart: number | null,
  mission: MissionSpan,
): Segment[] {
  const out: Segment[] = [];
  const deps = [...(spec?.dependsOn ?? []), ...(spec?.after ?? [])];
  const depEnds = deps.map((d) => {
    const x = byId(progress.tasks, d);
    const end = x?.mergedAt ?? x?.endedAt;
    return end ? Date.parse(end) : null;
  });
  const ready = depEnds.length && depEnds.every((x) => x !== null) ? Math.max(...(depEnds as number[])) : null;
  const until = firstStart ?? mission.end ?? mission.now;
  if (deps.length && (ready === null || ready > mission.start)) {
    const waitedUntil = ready === null ? until : Math.min(ready, until);
    if (waitedUntil > mission.start)
      out.push({
        row: t.id,
        kind: 'waiting',
        start: mission.start,
        end: waitedUntil,
        outcome: firstStart || mission.end ? 'ok' : 'running',
        label: 'waiting for its dependencies',
        detail: `after ${deps.join(', ')}`,
      });
  }
  const queuedFrom = deps.length ? (ready ?? until) : mission.start;
  if (firstStart !== null && firstStart > queuedFrom)
    out.push({
      row: t.id,
      kind: 'queued',
      start: queuedFrom,
      end: firstStart,
      outcome: 'ok',
      label: 'queued (ready, waiting for a slot)',
      detail: null,
    });
  if (firstStart === null && !(deps.length && ready === null))
    out.push({
      row: t.id,
      kind: t.status === 'pending' ? 'queued' : 'not-started',
      start: queuedFrom,
      end: Math.max(queuedFrom, until),
      outcome: t.status === 'pending' && !mission.end ? 'running' : 'cancelled',
      label: t.status === 'pending' ? 'queued' : `never started (${t.status})`,
      detail: t.error,
    });
  if (t.mergedAt) {
    const at = Date.parse(t.mergedAt);
    out.push({
      row: t.id,
      kind: 'merged',
      start: at,
      end: at,
      outcome: 'ok',
      label: `merged into ${progress.integrationBranch}`,
      detail: t.headSha ? `task head ${t.headSha.slice(0, 12)}` : null,
    });
  }
  return out;
}
