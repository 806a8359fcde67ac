/**
 * A mission's state and its rules: what `retry`, `skip`, `pause`, `resume`, `cancel`, a budget, a
 * failed task, a conflict or a failed mission verify do to it. Pure and synchronous (no Temporal
 * calls, no I/O): `missionWorkflow` performs the effects (starting and cancelling children,
 * signalling them, upserting search attributes) and unit tests drive the rules directly.
 *
 * Invariants (docs/architecture.md, "Mission state"):
 * - `cancel`, `stop` and `block` are the only reasons the mission does not go on. `cancel` and
 *   `stop` are final for this run (a `retry` of the task that caused a stop lifts it); a `block` is
 *   lifted only by what it waits for: `resume`, or a `skip` of the very task whose conflict it is.
 * - A task is `running` exactly while its child workflow is in flight (`inFlight`), unless `pause
 *   --now` holds it (then `pending`, with no attempt running).
 * - Usage only grows, and only through the ledger (src/mission/usage.ts).
 */
import { retryRejection, skippedBySystem } from '../mission/control';
import { dependentsOf, planWaves } from '../mission/plan';
import { deriveProgress, initialState, MissionProgress, MissionState, TaskState } from '../mission/progress';
import type { MissionPhase, MissionSpec, TaskSpec } from '../mission/types';
import { missionCost, taskUsage, TaskUsage } from '../mission/usage';
import { MAX_STEER_MESSAGE_CHARS } from './messages';

/** A task `flotilla retry` made pending: what it spent so far and how it ended. */
export interface PendingRetry {
  usage: TaskUsage;
  error: string | null;
}

/** Mission state across continue-as-new and reopening: everything decided so far. */
export interface CarriedState {
  state: MissionState;
  resumes: number;
  budgetTripped: boolean;
  /** Tasks `flotilla retry` made pending that have not started yet. */
  retries?: Record<string, PendingRetry>;
  /** Each task's latest usage, session totals included (the base of a retry's resumed session). */
  lastUsage?: Record<string, TaskUsage>;
  /** The run before already took the `retry-reruns-earlier-waves` path. */
  rerunsEarlierWaves?: boolean;
  /**
   * The run id that owns the mission's branches and worktrees: the first run of the first
   * execution. Carried because a reopened mission is a new execution with a new first run id.
   */
  ownerRunId?: string;
  /** Reopen an ended (failed) mission by retrying this task: set by `flotilla retry` on it. */
  reopen?: string;
}

/** What a blocked mission waits for: a human to fix a conflict or the integration branch. */
export type Block = { kind: 'conflict'; taskId: string; reason: string } | { kind: 'verify'; reason: string };

/** How a task's child workflow ended, as `missionWorkflow` saw it. */
export type TaskOutcome =
  { kind: 'result'; result: TaskUsage & TaskEnd } | { kind: 'cancelled' } | { kind: 'error'; message: string };
/** The parts of a `TaskResult` the mission keeps besides usage. */
export interface TaskEnd {
  status: 'succeeded' | 'failed';
  headSha: string | null;
  diffstat: TaskState['diffstat'];
  iterations: number;
  error: string | null;
}

export class Mission {
  readonly state: MissionState;
  /** Set once by `cancel` (signal or a workflow cancellation request): the mission ends cancelled. */
  cancel: { reason: string } | null = null;
  /** Set by a task failure's policy, a merge that must fail, or a failed verify: no wave starts. */
  stop: { reason: string; byTask: string | null } | null = null;
  /** Set while the mission waits on a human; see {@link Block}. */
  block: Block | null = null;
  resumes: number;
  budgetTripped: boolean;
  /** Tasks whose child workflow is in flight. */
  readonly inFlight = new Set<string>();
  /** Of those, the ones whose child has started (signals can reach it). */
  readonly childStarted = new Set<string>();
  /** Tasks `pause --now` stopped, released by `resume`. */
  readonly held = new Set<string>();
  /** Running tasks `skip` is stopping. */
  readonly skipping = new Set<string>();
  /** The task whose branch is being merged right now (it can no longer be skipped). */
  merging: string | null = null;
  readonly lastUsage: Map<string, TaskUsage>;
  readonly retries: Map<string, PendingRetry>;
  /**
   * Whether the wave loop takes the first wave with pending tasks (so a retried task of an
   * earlier wave runs again), as decided by `patched('retry-reruns-earlier-waves')`; undefined
   * until this run has decided (it decides after setup, where its history put the marker).
   */
  rerunsEarlierWaves: boolean | undefined;
  readonly ownerRunId: string;

  constructor(
    readonly spec: MissionSpec,
    carried: CarriedState | undefined,
    firstRunId: string,
    nowIso: string,
  ) {
    this.state = carried?.state ?? initialState(spec, planWaves(spec.tasks), nowIso);
    this.resumes = carried?.resumes ?? 0;
    this.budgetTripped = carried?.budgetTripped ?? false;
    this.lastUsage = new Map(Object.entries(carried?.lastUsage ?? {}));
    this.retries = new Map(Object.entries(carried?.retries ?? {}));
    this.rerunsEarlierWaves = carried?.rerunsEarlierWaves;
    this.ownerRunId = carried?.ownerRunId ?? firstRunId;
  }

  task(id: string): TaskState {
    return this.state.tasks.find((t) => t.id === id)!;
  }

  specOf(id: string): TaskSpec {
    return this.spec.tasks.find((t) => t.id === id)!;
  }

  /** No new wave or task starts. */
  get halted(): boolean {
    return this.cancel !== null || this.stop !== null;
  }

  progress(): MissionProgress {
    return deriveProgress(this.spec.id, this.state);
  }

  // --- pause, resume, cancel ---------------------------------------------------------------------

  /** Pauses; with `now`, returns the running tasks to hold (their agents are stopped). */
  pause(reason: string | undefined, now: boolean): string[] {
    if (this.state.endedAt) return [];
    this.state.paused = true;
    if (!this.state.blocked) this.state.reason = reason ?? (now ? 'paused by user (--now)' : 'paused by user');
    if (!now) return [];
    const ids = [...this.inFlight].filter((id) => !this.held.has(id));
    ids.forEach((id) => this.held.add(id));
    return ids;
  }

  /** Ends a pause and lifts any block; returns the held tasks to release. */
  resume(): string[] {
    this.state.paused = false;
    this.resumes++;
    this.block = null;
    if (!this.state.blocked) this.state.reason = null;
    const ids = [...this.held];
    this.held.clear();
    return ids;
  }

  /** Records the cancellation; false when the mission is already cancelling or has ended. */
  requestCancel(reason: string): boolean {
    if (this.cancel || this.state.endedAt) return false;
    this.cancel = { reason };
    this.state.reason = reason;
    return true;
  }

  // --- updates: validators throw an Error whose message the user sees --------------------------

  private known(taskId: string): TaskState {
    const t = this.state.tasks.find((x) => x.id === taskId);
    if (!t)
      throw new Error(
        `mission ${this.spec.id} has no task "${taskId}"; its tasks: ${this.state.tasks.map((x) => x.id).join(', ')}`,
      );
    return t;
  }

  private notEnding(verb: string): void {
    if (this.cancel) throw new Error(`mission ${this.spec.id} is being cancelled; there is nothing to ${verb}`);
    if (this.state.endedAt) throw new Error(`mission ${this.spec.id} has ended; there is nothing to ${verb}`);
  }

  checkSteer(taskId: string, message: unknown): void {
    this.notEnding('steer');
    const t = this.known(taskId);
    if (!this.inFlight.has(taskId) || this.skipping.has(taskId))
      throw new Error(`task ${taskId} is ${t.status}, not running: only a running task's agent can be steered`);
    if (!this.childStarted.has(taskId)) throw new Error(`task ${taskId} is starting; try again in a moment`);
    if (typeof message !== 'string' || message.trim() === '') throw new Error('the message is empty');
    if (message.length > MAX_STEER_MESSAGE_CHARS)
      throw new Error(
        `the message has ${message.length} characters; at most ${MAX_STEER_MESSAGE_CHARS} (put long instructions in a file in the repository and point the agent to it)`,
      );
  }

  steerDelivery(taskId: string, queue: boolean): 'queued' | 'interrupt' {
    return queue || this.held.has(taskId) ? 'queued' : 'interrupt';
  }

  checkRetry(taskId: string): void {
    this.notEnding('retry');
    // Undecided means this run is still setting up; it will decide `true` (only a replayed old
    // history can decide `false`, and validators do not run on replay).
    if (this.rerunsEarlierWaves === false)
      throw new Error(`mission ${this.spec.id} was started by an older Flotilla that cannot retry tasks`);
    const why = retryRejection(this.spec, this.state, taskId, this.inFlight.has(taskId));
    if (why) throw new Error(why);
    if (this.stop && this.stop.byTask !== taskId)
      throw new Error(`mission ${this.spec.id} is stopping (${this.stop.reason}); a retry cannot run`);
  }

  /** Makes `taskId` pending again (with what it needs to continue); returns dependents reopened. */
  retry(taskId: string): string[] {
    const t = this.task(taskId);
    // A task that never ran (skipped as a dependent) simply runs; one that ran continues.
    if (t.attempts > 0 || t.startedAt !== null) this.retries.set(taskId, { usage: this.usageOf(t), error: t.error });
    t.status = 'pending';
    t.error = null;
    t.endedAt = null;
    if (this.stop?.byTask === taskId) this.stop = null;
    // Dependents skipped because of this task (not those a user skipped) can run again.
    const reopened = dependentsOf(this.spec.tasks, taskId).filter((d) => {
      const x = this.task(d);
      return x.status === 'skipped' && (x.error ?? '').startsWith('skipped: depends on');
    });
    for (const d of reopened) {
      this.task(d).status = 'pending';
      this.task(d).error = null;
    }
    return reopened;
  }

  checkSkip(taskId: string): void {
    this.notEnding('skip');
    const t = this.known(taskId);
    if (['merged', 'skipped', 'cancelled'].includes(t.status) || this.skipping.has(taskId))
      throw new Error(
        `task ${taskId} is ${this.skipping.has(taskId) ? 'being skipped' : t.status}; there is nothing to skip`,
      );
    if (this.merging === taskId)
      throw new Error(`task ${taskId} is being merged right now; it can no longer be skipped`);
  }

  /**
   * Gives up on `taskId` and skips its dependents. A running task is only marked as being skipped:
   * `stopTask` is true and the caller cancels its child, whose end then records the skip.
   */
  skip(taskId: string, nowIso: string): { was: string; skipped: string[]; stopTask: boolean } {
    const t = this.task(taskId);
    const was = t.status;
    const stopTask = this.inFlight.has(taskId);
    if (stopTask) this.skipping.add(taskId);
    else {
      t.status = 'skipped';
      t.error = `skipped by user (was ${was}${t.error ? `: ${t.error}` : ''})`;
      t.endedAt ??= nowIso;
      // Only the conflict the mission is blocked on is lifted by skipping its task.
      if (this.block?.kind === 'conflict' && this.block.taskId === taskId) this.block = null;
    }
    const before = new Set(this.state.tasks.filter((x) => x.status === 'skipped').map((x) => x.id));
    this.skipDependents(taskId, 'skipped by user');
    const skipped = this.state.tasks.filter((x) => x.status === 'skipped' && !before.has(x.id)).map((x) => x.id);
    return { was, skipped, stopTask };
  }

  // --- usage and budget ----------------------------------------------------------------------------

  /** A task's live report (usage, a note for status, whether `pause --now` holds it). */
  taskUpdate(taskId: string, usage: TaskUsage, note: string | null, held: boolean | undefined): void {
    const t = this.state.tasks.find((x) => x.id === taskId);
    if (!t || !this.inFlight.has(taskId)) return;
    this.applyUsage(t, usage);
    t.error = note;
    // A held task has no attempt in flight: status says `pending`, never a stale `running`.
    if (held !== undefined) t.status = held ? 'pending' : 'running';
    this.checkBudget();
  }

  private applyUsage(t: TaskState, u: Partial<TaskUsage>): void {
    const usage = taskUsage(u);
    this.lastUsage.set(t.id, usage);
    t.sessionId = usage.sessionId ?? t.sessionId;
    t.turns = usage.turns;
    t.costUsd = usage.costUsd;
    t.inputTokens = usage.inputTokens;
    t.outputTokens = usage.outputTokens;
    t.attempts = usage.attempts;
  }

  /** The task's ledger: its latest report, or (from a mission that never kept one) its counters. */
  private usageOf(t: TaskState): TaskUsage {
    return (
      this.lastUsage.get(t.id) ?? taskUsage({ ...t, sessionCostUsd: 0, sessionInputTokens: 0, sessionOutputTokens: 0 })
    );
  }

  /** Passing the budget pauses the mission once (soft: running tasks finish); `resume` goes on. */
  private checkBudget(): void {
    if (this.budgetTripped || this.spec.budgetUsd === undefined) return;
    const spent = missionCost(this.state.tasks);
    if (spent < this.spec.budgetUsd) return;
    this.budgetTripped = true;
    this.state.paused = true;
    if (!this.state.blocked)
      this.state.reason = `budget of $${this.spec.budgetUsd} reached ($${spent.toFixed(2)} spent); \`flotilla resume ${this.spec.id}\` to go on`;
  }

  // --- tasks ---------------------------------------------------------------------------------------

  /**
   * What the wave loop does with `id` now: start it, leave it (not pending, or a dependency a
   * retry made pending runs first), or nothing more because the dependency it needs failed (it is
   * marked skipped here).
   */
  startable(id: string): 'start' | 'leave' {
    const t = this.task(id);
    if (t.status !== 'pending') return 'leave';
    const deps = this.specOf(id).dependsOn.map((d) => this.task(d));
    if (deps.some((d) => ['pending', 'running', 'succeeded'].includes(d.status))) return 'leave';
    const blockedBy = deps.find((d) => d.status !== 'merged')?.id;
    if (blockedBy) {
      t.status = 'skipped';
      t.error = `skipped: depends on ${blockedBy} (${this.task(blockedBy).status})`;
      return 'leave';
    }
    return 'start';
  }

  /** Whether another task may start now (not paused, under `concurrency`), or the wave must stop. */
  mayStartTask(): boolean {
    return this.halted || (!this.state.paused && this.inFlight.size < this.spec.concurrency);
  }

  /** Marks the task running; returns what a retry carries into its child, if it is one. */
  taskStarting(id: string, nowIso: string): PendingRetry | undefined {
    const t = this.task(id);
    t.status = 'running';
    t.startedAt = nowIso;
    t.endedAt = null;
    this.inFlight.add(id);
    const retry = this.retries.get(id);
    this.retries.delete(id);
    return retry;
  }

  /** Records how the task's child ended; a failure applies `onTaskFailure`. */
  taskEnded(id: string, outcome: TaskOutcome, nowIso: string): void {
    const t = this.task(id);
    const skipped = this.skipping.has(id) && !this.cancel;
    if (outcome.kind === 'result') {
      const r = outcome.result;
      this.applyUsage(t, r);
      t.headSha = r.headSha;
      t.diffstat = r.diffstat;
      t.iterations = r.iterations;
      if (skipped) {
        // The task finished just as `skip` stopped it: the user's decision stands.
        t.status = 'skipped';
        t.error = `skipped by user (it had just ${r.status === 'failed' ? 'failed' : 'finished'}; its branch is not merged)`;
      } else {
        t.status = r.status;
        t.error = r.error;
      }
      this.checkBudget();
    } else if (outcome.kind === 'cancelled' && skipped) {
      t.status = 'skipped';
      t.error = 'skipped by user (its agent was stopped; the work is kept on its branch and worktree)';
    } else if (outcome.kind === 'cancelled') {
      t.status = 'cancelled';
      t.error = this.cancel ? this.state.reason : (this.stop?.reason ?? 'cancelled');
    } else {
      t.status = 'failed';
      t.error = outcome.message;
    }
    this.inFlight.delete(id);
    this.held.delete(id);
    this.skipping.delete(id);
    this.childStarted.delete(id);
    t.endedAt = nowIso;
  }

  /**
   * Applies `onTaskFailure` to a failed task; returns true when the running tasks must be
   * cancelled (`stop-all`).
   */
  taskFailed(id: string): boolean {
    const t = this.task(id);
    this.skipDependents(id, t.status);
    const policy = this.spec.policy.onTaskFailure;
    if (policy === 'skip-dependents') return false;
    this.stop ??= { reason: `task ${id} ${t.status} (onTaskFailure: ${policy})`, byTask: id };
    return policy === 'stop-all';
  }

  skipDependents(id: string, why: string): void {
    // dependentsOf is already transitive.
    for (const dep of dependentsOf(this.spec.tasks, id)) {
      const t = this.task(dep);
      if (t.status === 'pending') {
        t.status = 'skipped';
        t.error = `skipped: depends on ${id} (${why})`;
      }
    }
  }

  // --- waves, merges, verify -----------------------------------------------------------------------

  /** The wave to run next (first with pending tasks, or the next in order for old histories), or -1. */
  nextWave(inOrder: number): number {
    if (this.rerunsEarlierWaves)
      return this.state.waves.findIndex((w) => w.taskIds.some((id) => this.task(id).status === 'pending'));
    return inOrder < this.state.waves.length ? inOrder : -1;
  }

  merged(id: string, sha: string): void {
    const t = this.task(id);
    t.status = 'merged';
    t.error = null;
    this.state.integrationSha = sha;
  }

  /** A conflict: under `fail` (or while cancelling) the mission stops; otherwise it blocks. */
  conflict(id: string, message: string): Block | null {
    const t = this.task(id);
    t.status = 'conflict';
    t.error = message;
    if (this.spec.policy.onMergeConflict === 'fail' || this.cancel) {
      this.skipDependents(id, 'conflict');
      this.stop ??= { reason: `task ${id}: ${message} (onMergeConflict: fail)`, byTask: null };
      return null;
    }
    return {
      kind: 'conflict',
      taskId: id,
      reason: `task ${id}: ${message}; make ${t.branch} merge cleanly into ${this.state.integrationBranch}, then \`flotilla resume ${this.spec.id}\``,
    };
  }

  /** Starts waiting on a human. */
  blockOn(block: Block): void {
    this.block = block;
    this.state.blocked = true;
    this.state.reason = block.reason;
  }

  /** The wait is over (lifted or cancelled); returns false when cancelled. */
  unblocked(): boolean {
    this.block = null;
    this.state.blocked = false;
    if (!this.cancel) this.state.reason = this.state.paused ? 'paused by user' : null;
    return !this.cancel;
  }

  /** A failed verify under `revert`: what this pass merged is failed again, its dependents skipped. */
  reverted(ids: string[], preWaveSha: string, why: string): void {
    this.state.integrationSha = preWaveSha;
    for (const id of ids) {
      const t = this.task(id);
      t.status = 'failed';
      t.error = `${why}; the wave's merges were reverted`;
      this.skipDependents(id, 'reverted');
    }
  }

  verifyFailed(why: string): void {
    this.stop ??= { reason: `${why} (onVerifyFailure: fail)`, byTask: null };
  }

  /** A wave's status from its tasks, once it has been merged and verified. */
  waveDone(w: number): void {
    const ids = this.state.waves[w].taskIds;
    this.state.waves[w].status = ids.every((id) => this.task(id).status === 'merged')
      ? 'merged'
      : ids.every((id) => this.task(id).status === 'skipped')
        ? 'skipped'
        : 'failed';
  }

  // --- ending, continuing, reopening -------------------------------------------------------------

  /** Settles every task and wave for the end; returns the phase the mission ends in. */
  finish(nowIso: string): MissionPhase {
    const { state } = this;
    state.endedAt = nowIso;
    for (const t of state.tasks) {
      if (t.status === 'pending') {
        t.status = 'skipped';
        t.error ??= this.cancel ? 'skipped: mission cancelled' : `skipped: ${this.stop?.reason ?? 'mission stopped'}`;
      }
    }
    state.paused = false;
    state.blocked = false;
    // Waves never run because every task in them was skipped (or the mission stopped first).
    for (const wave of state.waves) if (wave.status === 'pending') wave.status = 'skipped';
    for (const t of state.tasks) {
      // Only reachable when the workflow itself was cancelled before its children reported back.
      if (t.status === 'running') {
        t.status = 'cancelled';
        t.error = state.reason;
        t.endedAt = state.endedAt;
      }
    }
    if (this.cancel) return 'cancelled';
    if (this.stop === null && state.tasks.every((t) => t.status === 'merged')) {
      state.reason = null;
      return 'completed';
    }
    const bad = state.tasks.filter((t) => t.status !== 'merged').map((t) => `${t.id} ${t.status}`);
    state.reason = this.stop?.reason ?? `not every task merged: ${bad.join(', ')}`;
    return 'failed';
  }

  /** What the next run (continue-as-new, or a reopen) starts from. */
  carry(): CarriedState {
    return {
      state: this.state,
      resumes: this.resumes,
      budgetTripped: this.budgetTripped,
      retries: Object.fromEntries(this.retries),
      lastUsage: Object.fromEntries(this.lastUsage),
      rerunsEarlierWaves: this.rerunsEarlierWaves,
      ownerRunId: this.ownerRunId,
    };
  }

  /**
   * `flotilla retry` on a mission that ended failed: it goes on from its final state. What
   * Flotilla skipped or cancelled because of the failure runs again; what the user skipped stays.
   */
  reopen(taskId: string): void {
    const { state } = this;
    state.endedAt = null;
    state.reason = null;
    // Not `failed` while it sets up again: status derives a terminal phase from it.
    state.phase = 'planning';
    for (const t of state.tasks) {
      if (t.id === taskId || !(skippedBySystem(t) || t.status === 'cancelled')) continue;
      t.status = 'pending';
      t.error = null;
      t.endedAt = null;
    }
    this.retry(taskId);
    for (const w of state.waves) if (w.taskIds.some((id) => this.task(id).status === 'pending')) w.status = 'pending';
  }
}
