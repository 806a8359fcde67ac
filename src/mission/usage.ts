/**
 * The usage ledger: how turns, cost and tokens add up, in one place. Pure (no Node APIs, no
 * Temporal), so the agent activity, the task and mission workflows and the client share it.
 *
 * Three levels, each built from the one below and nowhere else:
 * - a **run** (one launch of an agent CLI) is metered from its events by {@link RunMeter}. Agents
 *   report some figures per *session*, not per run: Claude's `result.total_cost_usd` includes the
 *   earlier runs of a resumed session, and Codex's `turn.completed` token totals are cumulative after
 *   `codex exec resume`. A run counts only the difference from the session's totals when it began
 *   (its *session base*), so a resumed session is never paid twice.
 * - an **activity** (`runAgent`, with its Temporal retries) starts from {@link activityStart}: its
 *   first attempt from the workflow's session base, a retried attempt from the last heartbeat.
 * - a **task** sums its activities ({@link addAgentRun}) across gate iterations, rate-limit rounds,
 *   steering and hold interrupts, `flotilla retry` (a {@link TaskUsage} carried in), and a mission
 *   sums its tasks ({@link missionCost}). Continue-as-new and a reopened mission carry each task's
 *   latest {@link TaskUsage}, session totals included, so a retry resumes on the right base.
 *
 * See docs/architecture.md, "The usage ledger".
 */

/** What a run, an activity or a task adds up. Cost in USD; tokens as the agent counts them. */
export interface Counters {
  turns: number;
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
}

/**
 * Counters plus the agent session they ended in: the session's id and its cumulative totals as the
 * agent last reported them (the base of the next run that resumes it). This is the shape of
 * `runAgent`'s result and heartbeat details, and of what its failures carry.
 */
export interface AgentUsage extends Counters {
  sessionId: string | null;
  sessionCostUsd: number;
  sessionInputTokens: number;
  sessionOutputTokens: number;
}

/** A task's usage: every activity it ran, and how many agent attempts (Temporal attempts) that took. */
export interface TaskUsage extends AgentUsage {
  attempts: number;
}

/** The session base a run that resumes a session needs; absent fields mean "a new session". */
export interface SessionBase {
  sessionCostUsd?: number;
  sessionInputTokens?: number;
  sessionOutputTokens?: number;
}

/** The usage an agent event reports (the runtimes' parsers fill it; see `AgentEvent`). */
export interface UsageEvent {
  sessionId?: string;
  /** A model turn finished (Claude `assistant` message, Codex `turn.completed`). */
  turn?: boolean;
  /** Tokens of this event (deltas). */
  inputTokens?: number;
  outputTokens?: number;
  /** Cost of the whole session so far, USD (Claude's `total_cost_usd`): includes earlier runs of a resumed session. */
  totalCostUsd?: number;
  /** Totals of this run (Claude's `result`), which replace the running counts. */
  totalTurns?: number;
  totalInputTokens?: number;
  totalOutputTokens?: number;
  /** Token totals of the whole session (Codex's `turn.completed` after a resume). */
  sessionInputTokens?: number;
  sessionOutputTokens?: number;
}

const ZERO: TaskUsage = {
  sessionId: null,
  sessionCostUsd: 0,
  sessionInputTokens: 0,
  sessionOutputTokens: 0,
  turns: 0,
  costUsd: 0,
  inputTokens: 0,
  outputTokens: 0,
  attempts: 0,
};

/**
 * A task's usage, copied field by field from `prior` (a carried ledger, a `TaskResult`, a signal)
 * or zero. Only the ledger's fields travel: a `TaskResult`'s status never rides along with a retry.
 */
export function taskUsage(prior?: Partial<TaskUsage> | null): TaskUsage {
  const u = { ...ZERO };
  if (!prior) return u;
  for (const k of Object.keys(ZERO) as Array<keyof TaskUsage>) {
    if (prior[k] !== undefined) (u as unknown as Record<string, unknown>)[k] = prior[k];
  }
  return u;
}

/** What `runAgent` needs to resume `resume`: the task's session totals when that is its session. */
export function sessionBaseFor(task: AgentUsage, resume: string | null): SessionBase {
  if (!resume || resume !== task.sessionId) return {};
  return {
    sessionCostUsd: task.sessionCostUsd,
    sessionInputTokens: task.sessionInputTokens,
    sessionOutputTokens: task.sessionOutputTokens,
  };
}

/**
 * Where an attempt of `runAgent` starts counting.
 *
 * The first attempt starts from zero counters in the session the workflow asked to resume, on the
 * base the workflow gave. A retried attempt (`prev`: the last heartbeat of the attempt before)
 * goes on from that attempt's counters *and* its session and session totals: the agent's reported
 * totals already include what the earlier attempt spent, so taking the workflow's older base with
 * the earlier attempt's counters would count that attempt twice.
 */
export function activityStart(
  input: { resumeSessionId?: string | null } & SessionBase,
  prev?: Partial<AgentUsage> | null,
): AgentUsage {
  if (prev) {
    const p = taskUsage(prev);
    return {
      sessionId: p.sessionId ?? input.resumeSessionId ?? null,
      sessionCostUsd: p.sessionCostUsd,
      sessionInputTokens: p.sessionInputTokens,
      sessionOutputTokens: p.sessionOutputTokens,
      turns: p.turns,
      costUsd: p.costUsd,
      inputTokens: p.inputTokens,
      outputTokens: p.outputTokens,
    };
  }
  const resumed = !!input.resumeSessionId;
  return {
    sessionId: input.resumeSessionId ?? null,
    sessionCostUsd: resumed ? (input.sessionCostUsd ?? 0) : 0,
    sessionInputTokens: resumed ? (input.sessionInputTokens ?? 0) : 0,
    sessionOutputTokens: resumed ? (input.sessionOutputTokens ?? 0) : 0,
    turns: 0,
    costUsd: 0,
    inputTokens: 0,
    outputTokens: 0,
  };
}

/**
 * Meters one run of an agent CLI from its events, updating `usage` (the activity's running
 * totals) in place after every event, so a heartbeat sent at any moment carries current figures.
 */
export class RunMeter {
  private readonly before: Counters;
  private sessionBase: { costUsd: number; inputTokens: number; outputTokens: number };
  private readonly run: Counters = { turns: 0, costUsd: 0, inputTokens: 0, outputTokens: 0 };

  /** `resumed`: the run continues `usage.sessionId`, whose totals so far are in `usage`. */
  constructor(
    readonly usage: AgentUsage,
    resumed: boolean,
  ) {
    this.before = {
      turns: usage.turns,
      costUsd: usage.costUsd,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
    };
    this.sessionBase = resumed
      ? {
          costUsd: usage.sessionCostUsd,
          inputTokens: usage.sessionInputTokens,
          outputTokens: usage.sessionOutputTokens,
        }
      : { costUsd: 0, inputTokens: 0, outputTokens: 0 };
  }

  /** Counts one event. Running counts add up; session totals and final totals replace them. */
  apply(ev: UsageEvent): void {
    const { usage, run, sessionBase } = this;
    if (ev.sessionId) usage.sessionId = ev.sessionId;
    if (ev.turn) run.turns++;
    run.inputTokens += ev.inputTokens ?? 0;
    run.outputTokens += ev.outputTokens ?? 0;
    if (ev.totalTurns !== undefined) run.turns = ev.totalTurns;
    if (ev.totalCostUsd !== undefined) {
      run.costUsd = Math.max(0, ev.totalCostUsd - sessionBase.costUsd);
      usage.sessionCostUsd = ev.totalCostUsd;
    }
    if (ev.sessionInputTokens !== undefined) {
      run.inputTokens = Math.max(0, ev.sessionInputTokens - sessionBase.inputTokens);
      usage.sessionInputTokens = ev.sessionInputTokens;
    }
    if (ev.sessionOutputTokens !== undefined) {
      run.outputTokens = Math.max(0, ev.sessionOutputTokens - sessionBase.outputTokens);
      usage.sessionOutputTokens = ev.sessionOutputTokens;
    }
    if (ev.totalInputTokens !== undefined) run.inputTokens = ev.totalInputTokens;
    if (ev.totalOutputTokens !== undefined) run.outputTokens = ev.totalOutputTokens;
    usage.turns = this.before.turns + run.turns;
    usage.costUsd = this.before.costUsd + run.costUsd;
    usage.inputTokens = this.before.inputTokens + run.inputTokens;
    usage.outputTokens = this.before.outputTokens + run.outputTokens;
  }
}

/**
 * Forgets the session (it could not be resumed: another host, a cleaned home): the next run
 * starts a new one, whose totals start at zero. Counters so far stay.
 */
export function forgetSession(usage: AgentUsage): void {
  usage.sessionId = null;
  usage.sessionCostUsd = 0;
  usage.sessionInputTokens = 0;
  usage.sessionOutputTokens = 0;
}

/**
 * Adds one `runAgent` activity's usage (its result, or the details of its failure or
 * cancellation) to a task's ledger, in place. `attempts`: the Temporal attempts it took. The
 * session totals are replaced, not added: they are the base of the next resume.
 */
export function addAgentRun(task: TaskUsage, run: AgentUsage, attempts: number): void {
  task.sessionId = run.sessionId ?? task.sessionId;
  task.sessionCostUsd = run.sessionCostUsd;
  task.sessionInputTokens = run.sessionInputTokens;
  task.sessionOutputTokens = run.sessionOutputTokens;
  task.turns += run.turns;
  task.costUsd += run.costUsd;
  task.inputTokens += run.inputTokens;
  task.outputTokens += run.outputTokens;
  task.attempts += attempts;
}

/** A mission's cost so far, USD: the sum of its tasks' (each already summed over its attempts). */
export function missionCost(tasks: ReadonlyArray<{ costUsd: number }>): number {
  return tasks.reduce((sum, t) => sum + t.costUsd, 0);
}

/** The counters a mission keeps per task (the `TaskState` fields of `status --json`). */
export interface TaskCounters extends Counters {
  id: string;
  sessionId: string | null;
  attempts: number;
}

/**
 * A mission's ledger: each task's latest `TaskUsage` (session totals included), which a retry, a
 * continue-as-new and a reopened mission carry so a resumed session is never paid twice.
 */
export class MissionLedger {
  private readonly byTask: Map<string, TaskUsage>;

  constructor(carried?: Record<string, TaskUsage>) {
    this.byTask = new Map(Object.entries(carried ?? {}));
  }

  /** Records a task's usage (a live report or its result) and shows it on the task's counters. */
  record(t: TaskCounters, u: Partial<TaskUsage>): void {
    const usage = taskUsage(u);
    this.byTask.set(t.id, usage);
    t.sessionId = usage.sessionId ?? t.sessionId;
    t.turns = usage.turns;
    t.costUsd = usage.costUsd;
    t.inputTokens = usage.inputTokens;
    t.outputTokens = usage.outputTokens;
    t.attempts = usage.attempts;
  }

  /**
   * The task's ledger: its latest record, or, for a mission that never kept one, its counters
   * without session totals (a resume then counts the session's earlier cost again).
   */
  of(t: TaskCounters): TaskUsage {
    return (
      this.byTask.get(t.id) ?? taskUsage({ ...t, sessionCostUsd: 0, sessionInputTokens: 0, sessionOutputTokens: 0 })
    );
  }

  /** What the next run carries (`CarriedState.lastUsage`). */
  carry(): Record<string, TaskUsage> {
    return Object.fromEntries(this.byTask);
  }
}
