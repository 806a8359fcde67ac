/**
 * The report's mission rows: the spans of the mission workflow's own work from its runs'
 * histories (the integration branch's setup, merges onto the merge queue's candidate, conflict
 * resolutions and their resolver agents, mission verify runs, landing), drawn on the mission's
 * row, the verify row, or the row of the task they are about; and each run of the mission
 * workflow itself.
 */
import type { MissionProgress, VerifyRun } from '../../mission/progress';
import { emptyResolverUsage, type ResolverUsage } from './costs';
import type { ActivityRecord, ParsedRun } from './history';
import { MISSION_ROW, type Outcome, type ReportFailure, type Segment, type SegmentKind, VERIFY_ROW } from './model';
import { type AgentInput, type AgentOutput, type Checks, checksFailure, firstLine, money, tail } from './payloads';

/** What the mission's runs told beside their spans. */
export interface MissionWork {
  /** What the conflict resolver's runs spent. */
  usage: ResolverUsage;
  /** When each task's merge first met a conflict, ms since the epoch, by task id. */
  conflictAt: Map<string, number>;
}

/** The mission's runs being read: where spans and failures go, and what the steps before told. */
interface MissionReading extends MissionWork {
  now: number;
  segments: Segment[];
  failures: ReportFailure[];
  /** The verify runs the progress keeps, not yet matched to an activity. */
  verifyRuns: VerifyRun[];
  verifyCount: number;
  /** The task whose conflict is being resolved (resolution checks run `runChecks` too). */
  resolving: string | null;
}

/** An activity's input, as far as the mission's spans read it. */
interface MissionActivityInput {
  taskId?: string;
  sha?: string;
  role?: string;
}

/**
 * The spans of the mission workflow's own work (merges, conflict resolutions, verify runs,
 * landing), appended to `out`, and its failures, to `failures`; returns what the resolver agents
 * spent (cost and tokens) and when each task's merge first met a conflict.
 */
export function missionSegments(
  runs: ParsedRun[],
  progress: MissionProgress,
  now: number,
  out: Segment[],
  failures: ReportFailure[],
): MissionWork {
  const reading: MissionReading = {
    usage: emptyResolverUsage(),
    conflictAt: new Map(),
    now,
    segments: out,
    failures,
    verifyRuns: [...(progress.mergeQueue?.verifyRuns ?? [])],
    verifyCount: 0,
    resolving: null,
  };
  for (const r of runs) for (const step of r.steps) if ('activity' in step) activitySegments(reading, step.activity);
  return { usage: reading.usage, conflictAt: reading.conflictAt };
}

/** A span of activity `a`, from its scheduling to its close (or now). */
function span(
  reading: MissionReading,
  a: ActivityRecord,
  row: string,
  kind: SegmentKind,
  label: string,
  outcome: Outcome,
  detail: string | null,
): void {
  const end = a.closedAt ?? reading.now;
  reading.segments.push({ row, kind, start: a.scheduledAt, end, outcome, label, summary: a.summary, detail });
}

function activitySegments(reading: MissionReading, a: ActivityRecord): void {
  switch (a.name) {
    case 'prepareIntegration':
      span(reading, a, MISSION_ROW, 'setup', 'integration branch and worktree', a.outcome, a.failure?.message ?? null);
      break;
    case 'landMission':
      span(reading, a, MISSION_ROW, 'land', 'land', a.outcome, a.failure?.message ?? null);
      break;
    case 'queueMerge':
      mergeSegment(reading, a);
      break;
    case 'queueMergeBatch':
      batchSegments(reading, a);
      break;
    case 'prepareConflict':
    case 'checkResolution':
    case 'commitResolution':
    case 'dropConflict':
      resolutionSegment(reading, a);
      break;
    case 'runAgent':
      resolverSegment(reading, a);
      break;
    case 'verifyAt':
    case 'runChecks':
      checksSegment(reading, a);
      break;
    default:
      break;
  }
}

/** A merge onto the candidate, on the task's row; a conflict it met is dated for the failures. */
function mergeSegment(reading: MissionReading, a: ActivityRecord): void {
  const { taskId } = (a.input ?? {}) as MissionActivityInput;
  if (!taskId) return;
  const res = a.result as { status?: string; files?: string[]; message?: string } | undefined;
  const conflict = res?.status === 'conflict';
  if (conflict && a.closedAt !== null && !reading.conflictAt.has(taskId)) reading.conflictAt.set(taskId, a.closedAt);
  span(
    reading,
    a,
    taskId,
    'merge',
    conflict ? `merge: conflict in ${(res?.files ?? []).join(', ')}` : 'merge onto the candidate',
    conflict ? 'failed' : a.outcome,
    conflict ? (res?.message ?? null) : (a.failure?.message ?? null),
  );
}

/** A batch merge (`queueMergeBatch`): each task's row gets the merge, as `queueMerge`'s would. */
function batchSegments(reading: MissionReading, a: ActivityRecord): void {
  const input = (a.input ?? {}) as { tasks?: Array<{ taskId: string }> };
  const res = a.result as { merged?: Array<{ taskId: string }>; conflict?: { taskId: string } | null } | undefined;
  for (const t of input.tasks ?? []) {
    const conflict = res?.conflict?.taskId === t.taskId ? res.conflict : undefined;
    if (res && !conflict && !res.merged?.some((x) => x.taskId === t.taskId)) continue; // not tried
    mergeSegment(reading, {
      ...a,
      input: { taskId: t.taskId },
      result: conflict ?? (res ? { status: 'merged' } : undefined),
    });
  }
}

/** A step of a conflict's resolution (prepared, checked, committed or dropped), on the task's row. */
function resolutionSegment(reading: MissionReading, a: ActivityRecord): void {
  const detail = a.failure?.message ?? null;
  switch (a.name) {
    case 'prepareConflict':
      reading.resolving = ((a.input ?? {}) as MissionActivityInput).taskId ?? null;
      if (reading.resolving)
        span(reading, a, reading.resolving, 'resolve', 'conflict worktree prepared', a.outcome, detail);
      break;
    case 'checkResolution': {
      const res = a.result as { ok?: boolean; problems?: string[] } | undefined;
      if (reading.resolving)
        span(
          reading,
          a,
          reading.resolving,
          'resolve',
          res?.ok === false ? 'resolution rejected' : 'resolution checked',
          res?.ok === false ? 'failed' : a.outcome,
          res?.problems?.join('\n') || detail,
        );
      break;
    }
    default: // commitResolution, dropConflict
      if (reading.resolving)
        span(
          reading,
          a,
          reading.resolving,
          'resolve',
          a.name === 'commitResolution' ? 'resolution committed' : 'resolution dropped',
          a.name === 'dropConflict' && a.outcome === 'ok' ? 'cancelled' : a.outcome,
          detail,
        );
      reading.resolving = null;
  }
}

/** A run of the conflict resolver agent, on the task's row; what it spent counts apart. */
function resolverSegment(reading: MissionReading, a: ActivityRecord): void {
  const ai = (a.input ?? {}) as AgentInput;
  const res = (a.result ?? a.failure?.details ?? {}) as AgentOutput;
  reading.usage.costUsd += res.costUsd ?? 0;
  reading.usage.inputTokens += res.inputTokens ?? 0;
  reading.usage.outputTokens += res.outputTokens ?? 0;
  reading.usage.runs++;
  const row = ai.taskId ?? reading.resolving;
  if (row)
    reading.segments.push({
      row,
      kind: 'resolver',
      start: a.startedAt ?? a.scheduledAt,
      end: a.closedAt ?? reading.now,
      outcome: a.outcome,
      label: `resolver run ${ai.iteration ?? 1} · attempt ${a.attempt}${money(res.costUsd)}`,
      summary: a.summary,
      detail: a.failure?.message ?? res.summary ?? null,
      costUsd: res.costUsd,
    });
}

/** Checks the mission ran: a resolution's checks (on the task's row) or a mission verify run. */
function checksSegment(reading: MissionReading, a: ActivityRecord): void {
  const c = a.result as Checks | undefined;
  const ok = a.outcome === 'ok' && c?.ok !== false;
  const outcome: Outcome = a.outcome === 'ok' && !ok ? 'failed' : a.outcome;
  if (a.name === 'runChecks' && reading.resolving) {
    span(
      reading,
      a,
      reading.resolving,
      'resolve',
      ok ? 'resolution checks passed' : `resolution checks: ${checksFailure(c)}`,
      outcome,
      tail(c?.failed?.outputTail),
    );
    return;
  }
  verifySegment(reading, a, c, ok, outcome);
}

/** A mission verify run, on the verify row, named by the progress's verify run of its commit. */
function verifySegment(
  reading: MissionReading,
  a: ActivityRecord,
  c: Checks | undefined,
  ok: boolean,
  outcome: Outcome,
): void {
  const inp = (a.input ?? {}) as MissionActivityInput;
  reading.verifyCount++;
  // The progress keeps the latest verify runs: match this one by its commit.
  const idx = inp.sha ? reading.verifyRuns.findIndex((v) => v.sha === inp.sha) : -1;
  const v: VerifyRun | undefined = idx >= 0 ? reading.verifyRuns.splice(idx, 1)[0] : undefined;
  const what = v ? `batch ${v.batch} · ${v.kind} · ${v.taskIds.join(', ')}` : `run ${reading.verifyCount}`;
  const sha = inp.sha ? ` on ${inp.sha.slice(0, 12)}` : '';
  span(
    reading,
    a,
    VERIFY_ROW,
    'verify',
    `verify ${what}${sha}${a.outcome === 'ok' ? (ok ? ': passed' : `: ${checksFailure(c)}`) : ''}`,
    outcome,
    a.failure?.message ?? tail(c?.failed?.outputTail),
  );
  if (outcome === 'failed')
    reading.failures.push({
      kind: 'verify',
      // A bisection step, or a candidate of one task, names its culprit: the prefix's last task.
      taskId: v && (v.kind === 'bisect' || v.taskIds.length === 1) ? (v.taskIds[v.taskIds.length - 1] ?? null) : null,
      at: a.closedAt,
      message: `mission verify (${what})${sha}: ${a.failure ? firstLine(a.failure.message) : checksFailure(c)}`,
      detail: tail(c?.failed?.outputTail),
    });
}

/** One span for each run of the mission workflow (oldest first), on the mission's row. */
export function missionRunSegments(runs: ParsedRun[], now: number): Segment[] {
  return runs.map((r, i) => ({
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
  }));
}
