import { carryAnnotations } from '../../src/client/live-tasks';
import { deriveProgress, initialState, MissionProgress } from '../../src/mission/progress';
import { mission, task, wavesOf } from '../helpers/missions';

const spec = mission('p', '/repo', [task('a', 'true'), task('b', 'true'), task('c', 'true')]);

/** A progress whose tasks have the given statuses (and errors), counts left as derived. */
function progress(
  statuses: Record<string, ['running' | 'pending' | 'succeeded', string | null, number]>,
): MissionProgress {
  const p = deriveProgress('p', initialState(spec, wavesOf(spec), '2026-01-01T00:00:00.000Z'));
  for (const t of p.tasks) {
    const [status, error, attempts] = statuses[t.id];
    Object.assign(t, { status, error, attempts });
  }
  return p;
}

test('a task the last description found pending (its worker gone) stays pending with its reason until the next description; others are left as the query says', () => {
  const before = progress({
    a: ['pending', 'its worker pid 12@h has exited', 2],
    b: ['running', 'attempt 2, retrying after: boom', 2],
    c: ['running', null, 1],
  });
  const now = progress({ a: ['running', null, 1], b: ['running', null, 1], c: ['succeeded', null, 1] });
  carryAnnotations(before, new Set(['a', 'b', 'c']), now);
  expect(now.tasks.map((t) => [t.id, t.status, t.error, t.attempts])).toEqual([
    ['a', 'pending', 'its worker pid 12@h has exited', 2],
    ['b', 'running', 'attempt 2, retrying after: boom', 2],
    ['c', 'succeeded', null, 1],
  ]);
  expect(now.counts).toMatchObject({ pending: 1, running: 1, succeeded: 1 });
});

test('a task not described last time (it was pending by the query: not started) is left as the query says', () => {
  const before = progress({
    a: ['pending', 'waits for its worker', 0],
    b: ['pending', null, 0],
    c: ['running', null, 1],
  });
  const now = progress({ a: ['running', null, 1], b: ['running', null, 1], c: ['running', null, 1] });
  carryAnnotations(before, new Set(['c']), now);
  expect(now.tasks.map((t) => [t.id, t.status, t.error])).toEqual([
    ['a', 'running', null],
    ['b', 'running', null],
    ['c', 'running', null],
  ]);
  expect(now.counts).toMatchObject({ running: 3, pending: 0 });
});
