/**
 * The scheduler's incremental start decisions (StartDecisions, src/mission/schedule.ts) against
 * the plain rule (startDecision): the same first ready task and the same skips, pass after pass,
 * while statuses move as a mission moves them (merged stays merged); and the work per pass does
 * not grow with the dependencies already merged.
 */
import { initialState, MissionState } from '../../src/mission/progress';
import { startDecision, StartDecisions } from '../../src/mission/schedule';
import type { MissionSpec, TaskStatus } from '../../src/mission/types';
import { mission, task, wavesOf } from '../helpers/missions';

/** `waves` waves of `width` tasks, each depending on every task of the wave before. */
function layered(waves: number, width: number): MissionSpec {
  const id = (w: number, i: number) => `w${w}t${i}`;
  const tasks = [];
  for (let w = 0; w < waves; w++)
    for (let i = 0; i < width; i++)
      tasks.push(
        task(id(w, i), 'true', w > 0 ? { dependsOn: Array.from({ length: width }, (_, j) => id(w - 1, j)) } : {}),
      );
  return mission('layers', '/repo', tasks);
}

/** A deterministic pseudo-random sequence (no Math.random in a test that must replay its story). */
function rng(seed: number): () => number {
  let x = seed;
  return () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

function plain(spec: MissionSpec, s: MissionState, inFlight: Set<string>) {
  const decisions = s.tasks.filter((t) => !inFlight.has(t.id)).map((t) => [t, startDecision(spec, s, t.id)] as const);
  return {
    ready: decisions.find(([, d]) => d.kind === 'start')?.[0].id,
    skips: decisions.flatMap(([t, d]) => (d.kind === 'skip' ? [[t.id, d.because.id]] : [])),
  };
}

test.each([1, 2, 3, 4])('gives startDecision’s answers pass after pass (story %i)', (seed) => {
  const spec = layered(4, 5);
  const s = initialState(spec, wavesOf(spec), '2026-01-01T00:00:00.000Z');
  const next = rng(seed);
  const decisions = new StartDecisions(spec, s);
  const inFlight = new Set<string>();
  for (let pass = 0; pass < 200; pass++) {
    const want = plain(spec, s, inFlight);
    expect(decisions.firstReady(inFlight)).toBe(want.ready);
    expect(decisions.skips(inFlight).map((x) => [x.task.id, x.because.id])).toEqual(want.skips);
    // Move one task the way a mission does; merged is final.
    const t = s.tasks[Math.floor(next() * s.tasks.length)];
    const moves: Record<string, TaskStatus[]> = {
      pending: ['running'],
      running: ['succeeded', 'succeeded', 'failed', 'pending'],
      succeeded: ['merged', 'merged', 'conflict'],
      failed: ['pending'],
      conflict: ['succeeded', 'skipped'],
      skipped: ['pending'],
    };
    const to = moves[t.status];
    if (to) t.status = to[Math.floor(next() * to.length)];
    if (next() < 0.1) {
      if (inFlight.has(t.id)) inFlight.delete(t.id);
      else inFlight.add(t.id);
    }
  }
});

test('a dependency known merged is not looked at again: a pass costs about one lookup per task', () => {
  const spec = layered(2, 100);
  const s = initialState(spec, wavesOf(spec), '2026-01-01T00:00:00.000Z');
  for (const t of s.tasks) if (t.id.startsWith('w0')) t.status = 'merged';
  s.tasks.find((t) => t.id === 'w0t99')!.status = 'running';
  const decisions = new StartDecisions(spec, s);
  // The first pass walks the dependencies once (100 tasks x 100 dependencies): all wait for w0t99.
  expect(decisions.firstReady(new Set())).toBeUndefined();
  let reads = 0;
  const tasks = s.tasks;
  const counted = new Proxy(tasks, {
    get(target, key, receiver) {
      if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
      return Reflect.get(target, key, receiver);
    },
  });
  s.tasks = counted;
  // The next pass looks at each task and at the one dependency it waits for, not at all 100 again
  // (startDecision per task reads 100 x 100).
  expect(decisions.firstReady(new Set())).toBeUndefined();
  expect(reads).toBeLessThan(4 * s.tasks.length);
  // w0t99 merges: w1t0 is ready.
  s.tasks.find((t) => t.id === 'w0t99')!.status = 'merged';
  expect(decisions.firstReady(new Set())).toBe('w1t0');
});
