/**
 * The report's model: what `flotilla report` reads ({@link ReportInput}: the mission's progress
 * and the histories of its workflows' runs) and what it draws ({@link ReportData}, embedded in the
 * page as JSON). Times are ms since the epoch unless a field says ISO-8601.
 */
import type { temporal } from '@temporalio/proto';
import type { MissionProgress } from '../../mission/progress';
import type { TaskStatus } from '../../mission/types';

type IHistory = temporal.api.history.v1.IHistory;

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

/** What `buildReport` (build.ts) reads. */
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

/** The row id of the mission's own work (task ids never start with `@`). */
export const MISSION_ROW = '@mission';
/** The row id of the mission verify runs (task ids never start with `@`). */
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
