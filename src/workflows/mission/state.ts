/**
 * A mission's state and its rules: what `retry`, `skip`, `pause`, `resume`, `cancel`, a budget, a
 * failed task, a conflict or a failed mission verify do to it. Pure and synchronous: the workflow
 * performs the effects (children, signals, search attributes); unit tests drive the rules directly
 * (test/unit/mission-state.test.ts). Why it is not going on is one object, `halt` (halt.ts);
 * usage goes through the ledger (src/mission/usage.ts); the invariants are in docs/architecture.md.
 */
import {
  budgetReached,
  endingRejection,
  recordOutcome,
  reopenDependents,
  reopenState,
  retryRejection,
  settle,
  skipDependents,
} from '../../mission/control';
import { byId } from '../../mission/by-id';
import { planWaves } from '../../mission/plan';
import { refreshWaves } from '../../mission/schedule';
import { deriveProgress, initialState, MissionProgress, MissionState, TaskState } from '../../mission/progress';
import { hostOfQueue } from '../../mission/types';
import type { MissionPhase, MissionSpec, TaskSpec } from '../../mission/types';
import { Halt } from './halt';
import type { Block, CarriedState, PendingRetry, TaskOutcome } from './types';
import { MissionLedger, TaskUsage } from '../../mission/usage';

export class Mission {
  readonly state: MissionState;
  /** Why the mission is not going on (cancel, stop, block). */
  readonly halt: Halt;
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
  /** The task whose branch the merge queue is merging right now (it can no longer be skipped). */
  merging: string | null = null;
  readonly ledger: MissionLedger;
  readonly retries: Map<string, PendingRetry>;
  readonly ownerRunId: string;
  /** How many notifications of each event were sent (`notify:`): the next one's sequence number. */
  readonly notified: Record<string, number>;

  constructor(
    readonly spec: MissionSpec,
    carried: CarriedState | undefined,
    firstRunId: string,
    nowIso: string,
  ) {
    this.state = carried?.state ?? initialState(spec, planWaves(spec.tasks), nowIso);
    this.halt = new Halt(this.state);
    this.resumes = carried?.resumes ?? 0;
    this.budgetTripped = carried?.budgetTripped ?? false;
    this.ledger = new MissionLedger(carried?.lastUsage);
    this.retries = new Map(Object.entries(carried?.retries ?? {}));
    this.ownerRunId = carried?.ownerRunId ?? firstRunId;
    this.notified = { ...carried?.notified };
  }

  task(id: string): TaskState {
    return byId(this.state.tasks, id)!;
  }

  specOf(id: string): TaskSpec {
    return byId(this.spec.tasks, id)!;
  }

  progress(): MissionProgress {
    return deriveProgress(this.spec.id, this.state);
  }

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
    this.halt.resumed();
    if (!this.state.blocked) this.state.reason = null;
    const ids = [...this.held];
    this.held.clear();
    return ids;
  }

  // --- updates (the handlers in handlers.ts validate with these rules and control.ts's) ------------------------------------

  /** Why `retry taskId` cannot run now, or null. */
  retryRejection(taskId: string): string | null {
    const ending = endingRejection(this.spec.id, this.halt.cancel !== null, this.state.endedAt, 'retry');
    if (ending) return ending;
    const why = retryRejection(this.spec, this.state, taskId, this.inFlight.has(taskId));
    if (why) return why;
    if (this.halt.stop && this.halt.stop.byTask !== taskId)
      return `mission ${this.spec.id} is stopping (${this.halt.stop.reason}); a retry cannot run`;
    return null;
  }

  /** Makes `taskId` pending again (with what it needs to continue); returns dependents reopened. */
  retry(taskId: string): string[] {
    const t = this.task(taskId);
    // A task that never ran (skipped as a dependent) simply runs; one that ran continues.
    if (t.attempts > 0 || t.startedAt !== null) this.retries.set(taskId, { usage: this.ledger.of(t), error: t.error });
    t.status = 'pending';
    t.error = null;
    t.endedAt = null;
    this.halt.retried(taskId);
    return reopenDependents(this.spec, this.state, taskId);
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
      this.halt.skipped(taskId);
    }
    const before = new Set(this.state.tasks.filter((x) => x.status === 'skipped').map((x) => x.id));
    this.skipDependents(taskId, 'skipped by user');
    const skipped = this.state.tasks.filter((x) => x.status === 'skipped' && !before.has(x.id)).map((x) => x.id);
    return { was, skipped, stopTask };
  }

  // --- usage and budget ----------------------------------------------------------------------------

  /** A task's live report (usage, a note for status, whether `pause --now` holds it). */
  taskUpdate(taskId: string, usage: TaskUsage, note: string | null, held: boolean | undefined, host?: string): void {
    const t = byId(this.state.tasks, taskId);
    if (!t || !this.inFlight.has(taskId)) return;
    if (host && host !== t.host) {
      if (t.host) t.previousHosts = [...(t.previousHosts ?? []), t.host];
      t.host = host;
    }
    this.ledger.record(t, usage);
    t.error = note;
    // A held task has no attempt in flight: status says `pending`, never a stale `running`.
    if (held !== undefined) t.status = held ? 'pending' : 'running';
    this.checkBudget();
  }

  /** Passing the budget pauses the mission once (soft: running tasks finish); `resume` goes on. */
  private checkBudget(): void {
    if (this.budgetTripped) return;
    const reason = budgetReached(this.spec, this.state);
    if (reason === null) return;
    this.budgetTripped = true;
    this.state.paused = true;
    if (!this.state.blocked) this.state.reason = reason;
  }

  // --- tasks ---------------------------------------------------------------------------------------

  /** Marks the task running; returns what a retry carries into its child, if it is one. */
  taskStarting(id: string, nowIso: string): PendingRetry | undefined {
    const t = this.task(id);
    t.status = 'running';
    // Its first start: a retry or a fix round goes on with the same task (durations are wall time).
    t.startedAt ??= nowIso;
    t.endedAt = null;
    // Without an origin every task runs on the mission's host; with one, the task says where it went.
    if (!this.spec.origin && this.state.hostQueue) t.host = hostOfQueue(this.state.hostQueue);
    this.inFlight.add(id);
    const retry = this.retries.get(id);
    this.retries.delete(id);
    return retry;
  }

  /** Records how the task's child ended; a failure applies `onTaskFailure`. */
  taskEnded(id: string, outcome: TaskOutcome, nowIso: string): void {
    const t = this.task(id);
    if (outcome.kind === 'result') this.ledger.record(t, outcome.result);
    recordOutcome(t, outcome, {
      skipped: this.skipping.has(id) && !this.halt.cancel,
      cancelReason: this.halt.cancel ? this.state.reason : (this.halt.stop?.reason ?? 'cancelled'),
    });
    if (outcome.kind === 'result') this.checkBudget();
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
    this.halt.stopFor(`task ${id} ${t.status} (onTaskFailure: ${policy})`, id);
    return policy === 'stop-all';
  }

  skipDependents(id: string, why: string): void {
    skipDependents(this.spec, this.state, id, why);
  }

  // --- the merge queue's verdicts ----------------------------------------------------------------

  /** The task's merge was published: the integration branch is at `sha`. */
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
    if (this.spec.policy.onMergeConflict === 'fail' || this.halt.cancel) {
      this.skipDependents(id, 'conflict');
      this.halt.stopFor(`task ${id}: ${message} (onMergeConflict: fail)`);
      return null;
    }
    return {
      kind: 'conflict',
      taskId: id,
      reason: `task ${id}: ${message}; make ${t.branch} merge cleanly into ${this.state.integrationBranch}, then \`flotilla resume ${this.spec.id}\``,
    };
  }

  /** The merge queue sends a culprit back to its agent (`onVerifyFailure: fix`): it runs again, continuing its session. */
  sendBack(id: string, note: string): void {
    const t = this.task(id);
    this.retries.set(id, { usage: this.ledger.of(t), error: note });
    t.status = 'pending';
    t.error = note;
    t.endedAt = null;
  }

  /** The merge queue's culprit is given up on (`revert`, `fail`, or fixes used up): failed, dependents skipped. */
  breaksVerify(id: string, note: string): void {
    const t = this.task(id);
    t.status = 'failed';
    t.error = note;
    this.skipDependents(id, 'breaks mission verify');
  }

  // --- ending, continuing, reopening -------------------------------------------------------------

  /** Settles every task and wave for the end; returns the phase the mission ends in. */
  finish(nowIso: string): MissionPhase {
    const phase = settle(this.state, nowIso, this.halt.cancel !== null, this.halt.stop?.reason ?? null);
    // The waves follow their tasks: once more, now that settling gave every task its final status.
    refreshWaves(this.state);
    return phase;
  }

  /** What the next run (continue-as-new, or a reopen) starts from. */
  carry(): CarriedState {
    return {
      state: this.state,
      resumes: this.resumes,
      budgetTripped: this.budgetTripped,
      retries: Object.fromEntries(this.retries),
      lastUsage: this.ledger.carry(),
      ownerRunId: this.ownerRunId,
      ...(Object.keys(this.notified).length ? { notified: this.notified } : {}),
    };
  }

  /**
   * `flotilla retry` on a mission that ended failed: it goes on from its final state. What
   * Flotilla skipped or cancelled because of the failure runs again; what the user skipped stays.
   */
  reopen(taskId: string): void {
    reopenState(this.state, taskId);
    this.retry(taskId);
    for (const w of this.state.waves)
      if (w.taskIds.some((id) => this.task(id).status === 'pending')) w.status = 'pending';
  }
}
