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
  if (taskOf(id).status !== 'pending') return { kind: 'wait' };
  const taskSpec = byId(spec.tasks, id)!;
  const deps = taskSpec.dependsOn.map(taskOf);
  const gone = deps.find((d) => ENDED.includes(d.status) && d.status !== 'merged');
  if (gone) return { kind: 'skip', because: gone };
  if (deps.some((d) => d.status !== 'merged')) return { kind: 'wait' };
  if ((taskSpec.after ?? []).some((x) => !ENDED.includes(taskOf(x).status))) return { kind: 'wait' };
  const waits = state.waitingFor?.[id] ?? [];
  if (waits.some((x) => taskOf(x).status === 'running')) return { kind: 'wait' };
  return { kind: 'start' };
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
