import { initialState, MissionState } from '../../src/mission/progress';
import { liveWaveStatus, refreshWaves } from '../../src/mission/schedule';
import type { TaskStatus } from '../../src/mission/types';
import { mission, task, wavesOf } from '../helpers/missions';

const spec = mission('w', '/repo', [task('a', 'true'), task('b', 'true'), task('c', 'true', { dependsOn: ['a'] })]);

function stateWith(statuses: Record<string, TaskStatus>, ended = false): MissionState {
  const s = initialState(spec, wavesOf(spec), '2026-01-01T00:00:00.000Z');
  for (const t of s.tasks) t.status = statuses[t.id] ?? 'pending';
  if (ended) s.endedAt = '2026-01-01T01:00:00.000Z';
  return s;
}

test('while the mission runs, a wave with a task not ended yet is running (or pending)', () => {
  expect(liveWaveStatus(stateWith({ a: 'merged', b: 'running' }), 0)).toBe('running');
  expect(liveWaveStatus(stateWith({ a: 'failed', b: 'conflict' }), 0)).toBe('running');
  expect(liveWaveStatus(stateWith({ a: 'merged', b: 'running' }), 1)).toBe('pending');
});

test('once every task of a wave ended, or the mission did, the wave has its final status', () => {
  const final = (statuses: Record<string, TaskStatus>) => {
    const s = stateWith(statuses, true);
    refreshWaves(s);
    return s.waves.map((w) => w.status);
  };
  expect(final({ a: 'merged', b: 'merged', c: 'merged' })).toEqual(['merged', 'merged']);
  // Stopped: what never ran is skipped, a wave holding a failure or a conflict failed.
  expect(final({ a: 'failed', b: 'cancelled', c: 'skipped' })).toEqual(['failed', 'skipped']);
  expect(final({ a: 'merged', b: 'conflict', c: 'merged' })).toEqual(['failed', 'merged']);
  expect(final({ a: 'merged', b: 'skipped', c: 'skipped' })).toEqual(['failed', 'skipped']);
  // Cancelled: a wave cut short (a task cancelled, or succeeded and left unmerged) is cancelled.
  expect(final({ a: 'cancelled', b: 'succeeded', c: 'skipped' })).toEqual(['cancelled', 'skipped']);
  expect(final({ a: 'merged', b: 'cancelled', c: 'skipped' })).toEqual(['cancelled', 'skipped']);
});
