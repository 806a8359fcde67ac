/**
 * The mission's scheduling rules, pure: when a task may start (its dependencies merged, the tasks
 * it is serialized after ended, no running task it is predicted to collide with), what the waves
 * of the plan look like while tasks run across them, and where the merge queue's bisection of a
 * failed batch goes next. Imported by workflow code (the main loop, the merge queue).
 */
import { byId } from './by-id';
import type { MissionState, TaskState, WaveStatus } from './progress';
import type { MissionSpec, TaskStatus } from './types';

/** Statuses a task does not leave on its own. */
export const ENDED: readonly TaskStatus[] = ['merged', 'failed', 'skipped', 'cancelled'];

/**
 * What the main loop does with a pending task now: `start` it, `wait` (a dependency is not
 * merged yet, a task it is serialized after has not ended, or a running task it is predicted to
 * collide with still runs), or `skip` it because a dependency ended unmerged (the caller marks it).
 * Tasks that are not pending are `wait`.
 */
export function startDecision(
  spec: MissionSpec,
  state: MissionState,
  id: string,
): { kind: 'start' } | { kind: 'wait' } | { kind: 'skip'; because: TaskState } {
  const taskOf = (x: string): TaskState => byId(state.tasks, x)!;
  if (taskOf(id).status !== 'pending') return WAIT;
  const taskSpec = byId(spec.tasks, id)!;
  const deps = taskSpec.dependsOn.map(taskOf);
  const gone = deps.find(isGone);
  if (gone) return { kind: 'skip', because: gone };
  if (deps.some((d) => d.status !== 'merged')) return WAIT;
  return startOnceMerged(spec, state, id);
}

const WAIT = { kind: 'wait' } as const;
const START = { kind: 'start' } as const;

/** Whether a task ended without being merged (its dependents can never start). */
const isGone = (t: TaskState): boolean => ENDED.includes(t.status) && t.status !== 'merged';

/** {@link startDecision} of a pending task whose dependencies are all merged: `after:` and predicted collisions. */
function startOnceMerged(spec: MissionSpec, state: MissionState, id: string): { kind: 'start' } | { kind: 'wait' } {
  const taskOf = (x: string): TaskState => byId(state.tasks, x)!;
  if ((byId(spec.tasks, id)!.after ?? []).some((x) => !ENDED.includes(taskOf(x).status))) return WAIT;
  const waits = state.waitingFor?.[id] ?? [];
  if (waits.some((x) => taskOf(x).status === 'running')) return WAIT;
  return START;
}

/**
 * {@link startDecision} for every task, pass after pass, in time linear in the tasks per pass
 * rather than in their dependencies (a 500-task mission whose waves each depend on the wave
 * before has 40,000 dependency edges; the main loop asks after every workflow activation). Two
 * facts make it exact: a `merged` task stays merged for the run (control.ts retries only failed,
 * skipped and cancelled tasks), so each task's dependencies known merged are remembered and not
 * asked again; and a task can only be skipped while some task ended unmerged, so while none has,
 * nothing is skipped without looking. Kept in workflow memory, rebuilt from the state after a
 * replay or continue-as-new. Pure and deterministic.
 */
export class StartDecisions {
  /** Per pending task: how many of its dependencies (in `dependsOn` order) are known merged. */
  private readonly mergedDeps = new Map<string, number>();

  constructor(
    private readonly spec: MissionSpec,
    private readonly state: MissionState,
  ) {}

  /** Whether some task ended unmerged, so that a pending task may have to be skipped. */
  anyGone(): boolean {
    return this.state.tasks.some(isGone);
  }

  /** The first task (mission-file order) not in `inFlight` that {@link startDecision} would start. */
  firstReady(inFlight: ReadonlySet<string>): string | undefined {
    const gone = this.anyGone();
    return this.state.tasks.find((t) => !inFlight.has(t.id) && this.decide(t, gone).kind === 'start')?.id;
  }

  /** Every task not in `inFlight` that {@link startDecision} would skip, with the dependency why. */
  skips(inFlight: ReadonlySet<string>): Array<{ task: TaskState; because: TaskState }> {
    if (!this.anyGone()) return [];
    const out: Array<{ task: TaskState; because: TaskState }> = [];
    for (const t of this.state.tasks) {
      if (inFlight.has(t.id)) continue;
      const d = startDecision(this.spec, this.state, t.id);
      if (d.kind === 'skip') out.push({ task: t, because: d.because });
    }
    return out;
  }

  /** {@link startDecision} of `t`; `gone`: {@link anyGone}'s answer now. */
  private decide(t: TaskState, gone: boolean): { kind: 'start' | 'wait' | 'skip' } {
    if (t.status !== 'pending') return WAIT;
    if (gone) return startDecision(this.spec, this.state, t.id);
    const deps = byId(this.spec.tasks, t.id)!.dependsOn;
    let i = this.mergedDeps.get(t.id) ?? 0;
    while (i < deps.length && byId(this.state.tasks, deps[i])!.status === 'merged') i++;
    this.mergedDeps.set(t.id, i);
    return i < deps.length ? WAIT : startOnceMerged(this.spec, this.state, t.id);
  }
}

/**
 * A wave's status while the mission runs its tasks whenever they are ready (waves are only the plan).
 * Once the mission has ended (`endedAt`), every task's status is final (a `conflict` or an unmerged
 * `succeeded` included): the wave is `merged`, `skipped`, `cancelled` (a task cancelled or left
 * unmerged by a cancel, none failed) or `failed`, never `running`.
 */
export function liveWaveStatus(state: MissionState, w: number): WaveStatus {
  const tasks = state.waves[w].taskIds.map((id) => byId(state.tasks, id)!);
  const inBatch = new Set(state.batch?.taskIds ?? []);
  if (state.endedAt !== null || tasks.every((t) => ENDED.includes(t.status))) {
    if (tasks.every((t) => t.status === 'merged')) return 'merged';
    if (tasks.every((t) => t.status === 'skipped')) return 'skipped';
    const broken = tasks.some((t) => t.status === 'failed' || t.status === 'conflict');
    const cutShort = tasks.some((t) => t.status === 'cancelled' || t.status === 'succeeded');
    return !broken && cutShort ? 'cancelled' : 'failed';
  }
  if (tasks.some((t) => inBatch.has(t.id))) return state.batch?.step === 'merging' ? 'merging' : 'verifying';
  if (tasks.every((t) => t.status === 'pending')) return 'pending';
  return 'running';
}

/** Updates every wave's status and `currentWave` (the first wave with a task that has not ended). */
export function refreshWaves(state: MissionState): void {
  state.waves.forEach((w, i) => (w.status = liveWaveStatus(state, i)));
  const open = state.waves.findIndex((w) => !['merged', 'failed', 'skipped', 'cancelled'].includes(w.status));
  state.currentWave = open < 0 ? Math.max(0, state.waves.length - 1) : open;
}

/**
 * One step of the bisection of a failed batch over its prefixes (the prefix ending at merge i is
 * `chain[i]`): the culprit is the first merge whose prefix fails. `lo..hi` is the range still in
 * question, and the prefix ending at `hi` is known to fail.
 * @returns the next index to verify, or null when `lo === hi` (the culprit is `lo`)
 */
export function bisectNext(lo: number, hi: number): number | null {
  return lo < hi ? Math.floor((lo + hi) / 2) : null;
}
