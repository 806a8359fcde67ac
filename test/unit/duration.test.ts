import { formatDuration, parseDuration, wallTimeMs } from '../../src/mission/duration';

test('parses mission-file durations to milliseconds', () => {
  expect(parseDuration('500ms')).toBe(500);
  expect(parseDuration('30s')).toBe(30_000);
  expect(parseDuration('10m')).toBe(600_000);
  expect(parseDuration('2h')).toBe(7_200_000);
  expect(parseDuration('1h30m')).toBe(5_400_000);
  expect(parseDuration('1.5s')).toBe(1500);
  for (const bad of ['', '10', 'm', '10 minutes', '-5s', '1x']) expect(parseDuration(bad)).toBeUndefined();
});

test('formats durations for people', () => {
  expect(formatDuration(850)).toBe('850ms');
  expect(formatDuration(45_000)).toBe('45s');
  expect(formatDuration(125_000)).toBe('2m 5s');
  expect(formatDuration(3_780_000)).toBe('1h 3m');
});

test('wall time: from the first start to the end, or to now while it goes on; none before it started', () => {
  const start = '2026-12-01T09:30:00.000Z';
  expect(wallTimeMs(start, '2026-12-01T09:33:01.000Z', 0)).toBe(181_000);
  expect(wallTimeMs(start, null, Date.parse('2026-12-01T09:30:37.000Z'))).toBe(37_000);
  expect(wallTimeMs(null, null, 0)).toBeNull();
  // A clock that went backwards never gives a negative time.
  expect(wallTimeMs(start, '2026-12-01T09:29:00.000Z', 0)).toBe(0);
});
