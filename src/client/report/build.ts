/**
 * What `flotilla report` pictures, extracted from a mission's workflow histories and its progress:
 * a timeline of every task (queued, agent attempts, rate-limit waits, gate iterations, merges,
 * conflict resolutions) and of the mission verify runs, the dependency graph, cost and tokens per
 * task and per runtime, and the failures with their causes. See model.ts for the shapes,
 * history.ts for how a history is read, task-timeline.ts and mission-timeline.ts for the spans.
 *
 * Pure: no I/O and no clock (the caller passes `now`), so it is tested on recorded histories
 * (test/fixtures/report, test/fixtures/histories).
 */
import { wallTimeMs } from '../../mission/duration';
import type { MissionProgress } from '../../mission/progress';
import { names, type MissionSpec, type TaskSpec } from '../../mission/types';
import { runtimeCosts } from './costs';
import { conflictFailures, missionFailure, taskFailures } from './failures';
import { type ParsedRun, parseRun } from './history';
import { missionRunSegments, missionSegments } from './mission-timeline';
import {
  MISSION_ROW,
  type ReportData,
  type ReportFailure,
  type ReportInput,
  type ReportTask,
  type Segment,
  type TimelineRow,
  VERIFY_ROW,
} from './model';
import { type MissionSpan, taskRunSegments, taskWaitSegments } from './task-timeline';

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
  const mission: MissionSpan = {
    start: missionStart,
    end: progress.endedAt ? Date.parse(progress.endedAt) : null,
    now,
  };
  const ended = missionFailure(progress, mission.end);
  if (ended) failures.push(ended);

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
    const firstStart = runsOf.get(t.id)?.[0]?.start ?? (t.startedAt ? Date.parse(t.startedAt) : null);
    segments.push(...taskWaitSegments(progress, t, specTask.get(t.id), firstStart, mission));
  }
  failures.push(...taskFailures(progress), ...conflictFailures(progress, conflictAt));

  const tasks = reportTasks(progress, specTask, runsOf, now);
  const rows = timelineRows(tasks, segments);
  // The mission row: each run of the mission workflow.
  for (const s of missionRunSegments(missionRuns, now)) segments.unshift(s);

  return {
    generatedAt: now,
    mission: missionHeader(progress, spec, missionRuns.length, mission),
    tasks,
    rows,
    segments: segments.sort((a, b) => a.start - b.start),
    failures: failures.sort((a, b) => (a.at ?? Infinity) - (b.at ?? Infinity)),
    costByRuntime: runtimeCosts(tasks, spec, resolverUsage),
  };
}

/** The mission's spec, from the start event of its latest run (every run starts with the same spec). */
function specOf(runs: ParsedRun[]): MissionSpec | null {
  for (let i = runs.length - 1; i >= 0; i--) {
    const spec = (runs[i].input as { spec?: MissionSpec } | undefined)?.spec;
    if (spec?.tasks) return spec;
  }
  return null;
}

/** The task a task workflow's run is of: from its workflow id, else its input; null when neither tells. */
function taskIdOf(r: ParsedRun, missionId: string): string | null {
  const prefix = names.taskWorkflowId(missionId, '');
  if (r.run.workflowId.startsWith(prefix)) return r.run.workflowId.slice(prefix.length);
  return (r.input as { task?: { id?: string } } | undefined)?.task?.id ?? null;
}

/** The tasks as the report lists them: the progress's, with their runtime and plan from the spec. */
function reportTasks(
  progress: MissionProgress,
  specTask: Map<string, TaskSpec>,
  runsOf: Map<string, ParsedRun[]>,
  now: number,
): ReportTask[] {
  return progress.tasks.map((t) => {
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
}

/** The timeline's rows: the mission, its verify runs (when it ran any), then the tasks by wave. */
function timelineRows(tasks: ReportTask[], segments: Segment[]): TimelineRow[] {
  const ordered = [...tasks].sort((a, b) => a.wave - b.wave);
  return [
    { id: MISSION_ROW, label: 'mission', kind: 'mission' },
    ...(segments.some((s) => s.row === VERIFY_ROW)
      ? [{ id: VERIFY_ROW, label: 'mission verify', kind: 'verify' as const }]
      : []),
    ...ordered.map((t) => ({ id: t.id, label: t.id, kind: 'task' as const })),
  ];
}

/** The report's header: the progress's facts, the mission's span, its concurrency and how many workflow runs. */
function missionHeader(
  progress: MissionProgress,
  spec: MissionSpec | null,
  runs: number,
  mission: MissionSpan,
): ReportData['mission'] {
  return {
    id: progress.missionId,
    workflowId: progress.workflowId,
    phase: progress.phase,
    reason: progress.reason,
    repo: progress.repo,
    baseBranch: progress.baseBranch,
    integrationBranch: progress.integrationBranch,
    integrationSha: progress.integrationSha,
    startedAt: mission.start,
    endedAt: mission.end,
    // Its wall time as every view gives it, from its first start: the workflow's (in its history).
    durationMs: wallTimeMs(new Date(mission.start).toISOString(), progress.endedAt, mission.now)!,
    percent: progress.percent,
    counts: progress.counts,
    costUsd: progress.costUsd,
    inputTokens: progress.inputTokens,
    outputTokens: progress.outputTokens,
    budgetUsd: progress.budgetUsd,
    concurrency: spec?.concurrency ?? null,
    runs,
    uiUrl: progress.uiUrl,
  };
}
