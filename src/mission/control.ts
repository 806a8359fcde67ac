/**
 * Pure rules of a mission's state: what `retry`, `skip` and `steer` accept, how a failure spreads
 * to dependents, how a mission settles at its end and reopens. Shared by the mission workflow
 * (`Mission` in src/workflows/mission-state.ts delegates here) and the client (which checks before
 * it reopens a mission). Imported by workflow code: no Node APIs. Every `...Rejection` returns the
 * reason the user reads, or null when the request makes sense.
 */
import { byId } from './by-id';
import { dependentsOf } from './plan';
import type { MissionState, TaskState } from './progress';
import { missionCost } from './usage';
import type { MissionPhase, MissionSpec } from './types';

/** The longest steering message accepted, in characters (it enters history). */
export const MAX_STEER_MESSAGE_CHARS = 16_384;

/** Task statuses `retry` accepts. */
export const RETRYABLE = ['failed', 'skipped', 'cancelled'] as const;

/**
 * Why `retry taskId` makes no sense for this state, or null when it does.
 * @param running whether the task's workflow is in flight (a `failed` status may be stale for a moment)
 */
export function retryRejection(
  spec: MissionSpec,
  state: Pick<MissionState, 'tasks'>,
  taskId: string,
  running = false,
): string | null {
  const t = byId(state.tasks, taskId);
  if (!t) return unknownTask(spec.id, state, taskId);
  if (!(RETRYABLE as readonly string[]).includes(t.status) || running)
    return `task ${taskId} is ${t.status}; only a failed, skipped or cancelled task can be retried${t.status === 'conflict' ? ` (a conflict is retried by \`flotilla resume ${spec.id}\` once the branch merges cleanly)` : ''}`;
  const deps = byId(spec.tasks, taskId)?.dependsOn ?? [];
  const blocker = deps
    .map((d) => byId(state.tasks, d)!)
    .find((d) => !['merged', 'pending', 'running', 'succeeded'].includes(d.status));
  if (blocker) return `task ${taskId} depends on ${blocker.id}, which is ${blocker.status}: retry ${blocker.id} first`;
  return null;
}

/** Whether a task was skipped by Flotilla (a dependency, a stop), not by the user. */
export function skippedBySystem(t: { status: string; error: string | null }): boolean {
  return t.status === 'skipped' && (t.error ?? '').startsWith('skipped: ');
}

/** A request that comes too late: the mission is being cancelled or has ended. */
export function endingRejection(
  missionId: string,
  cancelling: boolean,
  endedAt: string | null,
  verb: string,
): string | null {
  if (cancelling) return `mission ${missionId} is being cancelled; there is nothing to ${verb}`;
  if (endedAt) return `mission ${missionId} has ended; there is nothing to ${verb}`;
  return null;
}

function unknownTask(missionId: string, state: Pick<MissionState, 'tasks'>, taskId: string): string | null {
  if (state.tasks.some((x) => x.id === taskId)) return null;
  return `mission ${missionId} has no task "${taskId}"; its tasks: ${state.tasks.map((x) => x.id).join(', ')}`;
}

/** Why `steer taskId message` cannot be delivered now. */
export function steerRejection(
  missionId: string,
  state: MissionState,
  taskId: string,
  message: unknown,
  tasks: { inFlight: ReadonlySet<string>; childStarted: ReadonlySet<string>; skipping: ReadonlySet<string> },
): string | null {
  const unknown = unknownTask(missionId, state, taskId);
  if (unknown) return unknown;
  const t = byId(state.tasks, taskId)!;
  if (!tasks.inFlight.has(taskId) || tasks.skipping.has(taskId))
    return `task ${taskId} is ${t.status}, not running: only a running task's agent can be steered`;
  if (!tasks.childStarted.has(taskId)) return `task ${taskId} is starting; try again in a moment`;
  if (typeof message !== 'string' || message.trim() === '') return 'the message is empty';
  if (message.length > MAX_STEER_MESSAGE_CHARS)
    return `the message has ${message.length} characters; at most ${MAX_STEER_MESSAGE_CHARS} (put long instructions in a file in the repository and point the agent to it)`;
  return null;
}

/** Why `skip taskId` makes no sense now. */
export function skipRejection(
  missionId: string,
  state: MissionState,
  taskId: string,
  tasks: { skipping: ReadonlySet<string>; merging: string | null },
): string | null {
  const unknown = unknownTask(missionId, state, taskId);
  if (unknown) return unknown;
  const t = byId(state.tasks, taskId)!;
  if (['merged', 'skipped', 'cancelled'].includes(t.status) || tasks.skipping.has(taskId))
    return `task ${taskId} is ${tasks.skipping.has(taskId) ? 'being skipped' : t.status}; there is nothing to skip`;
  // A task of the batch in flight may be on the candidate already; one blocked on its conflict may go.
  if (tasks.merging === taskId || (state.batch?.taskIds.includes(taskId) && t.status === 'succeeded'))
    return `task ${taskId} is being merged right now; it can no longer be skipped`;
  return null;
}

/** Marks the pending dependents of `id` skipped because of it (`dependentsOf` is already transitive). */
export function skipDependents(spec: MissionSpec, state: MissionState, id: string, why: string): void {
  for (const dep of dependentsOf(spec.tasks, id)) {
    const t = byId(state.tasks, dep)!;
    if (t.status === 'pending') {
      t.status = 'skipped';
      t.error = `skipped: depends on ${id} (${why})`;
    }
  }
}

/** Dependents skipped because of `id` (not those a user skipped) become pending; returns them. */
export function reopenDependents(spec: MissionSpec, state: MissionState, id: string): string[] {
  const reopened = dependentsOf(spec.tasks, id).filter((d) => {
    const x = byId(state.tasks, d)!;
    return x.status === 'skipped' && (x.error ?? '').startsWith('skipped: depends on');
  });
  for (const d of reopened) {
    const x = byId(state.tasks, d)!;
    x.status = 'pending';
    x.error = null;
  }
  return reopened;
}

/**
 * Settles every task and wave for the mission's end and returns its phase: `cancelled`, else
 * `completed` when every task merged and nothing stopped it, else `failed` with the reason.
 */
export function settle(
  state: MissionState,
  nowIso: string,
  cancelled: boolean,
  stopReason: string | null,
): MissionPhase {
  state.endedAt = nowIso;
  for (const t of state.tasks) {
    if (t.status === 'pending') {
      t.status = 'skipped';
      t.error ??= cancelled ? 'skipped: mission cancelled' : `skipped: ${stopReason ?? 'mission stopped'}`;
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
  if (cancelled) return 'cancelled';
  if (stopReason === null && state.tasks.every((t) => t.status === 'merged')) {
    state.reason = null;
    return 'completed';
  }
  const bad = state.tasks.filter((t) => t.status !== 'merged').map((t) => `${t.id} ${t.status}`);
  state.reason = stopReason ?? `not every task merged: ${bad.join(', ')}`;
  return 'failed';
}

/**
 * An ended (failed) mission made to go on, before `taskId` is retried: what Flotilla skipped or
 * cancelled because of the failure is pending again; what the user skipped stays.
 */
export function reopenState(state: MissionState, taskId: string): void {
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
}

/** The reason to pause when the mission's cost has reached `budget.usd`, or null. */
export function budgetReached(spec: MissionSpec, state: MissionState): string | null {
  if (spec.budgetUsd === undefined) return null;
  const spent = missionCost(state.tasks);
  if (spent < spec.budgetUsd) return null;
  return `budget of $${spec.budgetUsd} reached ($${spent.toFixed(2)} spent); \`flotilla resume ${spec.id}\` to go on`;
}

/**
 * Records how a task's child workflow ended on its state (usage is the ledger's business).
 * `skipped`: `flotilla skip` stopped it, and the user's decision stands whatever it returned.
 */
export function recordOutcome(
  t: TaskState,
  outcome:
    | {
        kind: 'result';
        result: Pick<TaskState, 'headSha' | 'diffstat' | 'iterations' | 'error'> & { status: 'succeeded' | 'failed' };
      }
    | { kind: 'cancelled' }
    | { kind: 'error'; message: string },
  how: { skipped: boolean; cancelReason: string | null },
): void {
  if (outcome.kind === 'result') {
    const r = outcome.result;
    t.headSha = r.headSha;
    t.diffstat = r.diffstat;
    t.iterations = r.iterations;
    if (how.skipped) {
      t.status = 'skipped';
      t.error = `skipped by user (it had just ${r.status === 'failed' ? 'failed' : 'finished'}; its branch is not merged)`;
    } else {
      t.status = r.status;
      t.error = r.error;
    }
  } else if (outcome.kind === 'cancelled' && how.skipped) {
    t.status = 'skipped';
    t.error = 'skipped by user (its agent was stopped; the work is kept on its branch and worktree)';
  } else if (outcome.kind === 'cancelled') {
    t.status = 'cancelled';
    t.error = how.cancelReason;
  } else {
    t.status = 'failed';
    t.error = outcome.message;
  }
}
