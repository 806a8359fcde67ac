import { deriveProgress, effectivePhase, initialState } from '../../src/mission/progress';
import { mission, task, wavesOf } from '../helpers/missions';

const spec = mission('p', '/repo', [
  task('a', 'true'),
  task('b', 'true'),
  task('c', 'true', { dependsOn: ['a'] }),
  task('d', 'true', { dependsOn: ['c'] }),
]);

test('a fresh state: everything pending, waves from the plan, the names of DESIGN.md', () => {
  const p = deriveProgress('p', initialState(spec, wavesOf(spec), '2026-01-01T00:00:00.000Z'));
  expect(p).toMatchObject({
    missionId: 'p',
    workflowId: 'mission-p',
    phase: 'planning',
    percent: 0,
    integrationBranch: 'flotilla/p/integration',
    repo: '/repo',
  });
  expect(p.waves.map((w) => w.taskIds)).toEqual([['a', 'b'], ['c'], ['d']]);
  expect(p.tasks.map((t) => [t.id, t.wave, t.branch])).toEqual([
    ['a', 0, 'flotilla/p/tasks/a'],
    ['b', 0, 'flotilla/p/tasks/b'],
    ['c', 1, 'flotilla/p/tasks/c'],
    ['d', 2, 'flotilla/p/tasks/d'],
  ]);
  expect(p.counts).toEqual({
    total: 4,
    pending: 4,
    running: 0,
    succeeded: 0,
    merged: 0,
    failed: 0,
    skipped: 0,
    conflict: 0,
    cancelled: 0,
  });
});

test('counts, percent (finished share, rounded down) and cost', () => {
  const s = initialState(spec, wavesOf(spec), 'now');
  s.phase = 'running';
  s.tasks[0].status = 'merged';
  s.tasks[0].costUsd = 0.25;
  s.tasks[1].status = 'running';
  s.tasks[1].costUsd = 0.125;
  s.tasks[2].status = 'succeeded';
  const p = deriveProgress('p', s);
  expect(p.counts).toMatchObject({ merged: 1, running: 1, succeeded: 1, pending: 1 });
  expect(p.percent).toBe(25);
  expect(p.costUsd).toBe(0.375);
  s.tasks[1].status = 'failed';
  s.tasks[2].status = 'merged';
  s.tasks[3].status = 'skipped';
  expect(deriveProgress('p', s).percent).toBe(100);
});

test('the phase users see: terminal wins, then blocked, then paused', () => {
  const s = initialState(spec, wavesOf(spec), 'now');
  s.phase = 'running';
  expect(effectivePhase(s)).toBe('running');
  s.paused = true;
  expect(effectivePhase(s)).toBe('paused');
  s.blocked = true;
  expect(effectivePhase(s)).toBe('blocked');
  s.phase = 'cancelled';
  expect(effectivePhase(s)).toBe('cancelled');
});
