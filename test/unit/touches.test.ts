/** Glob overlap for `touches:` (src/mission-file/touches.ts). */
import { globsOverlap, serializeOverlaps } from '../../src/mission-file/touches';
import type { TaskSpec } from '../../src/mission/types';

test.each([
  ['src/greet/**', 'src/greet/hello.ts', true],
  ['src/greet/**', 'src/**', true],
  ['src/greet', 'src/greet/hello.ts', true],
  ['./src/a.ts', 'src/a.ts', true],
  ['src/*.ts', 'src/a.ts', true],
  ['src/*.ts', 'docs/a.md', false],
  ['src/greet/**', 'src/farewell/**', false],
  ['src/a.ts', 'src/b.ts', false],
  ['docs/**', 'src/**', false],
  ['**/*.md', 'src/a.ts', false],
  ['**/*.md', 'src', true], // a folder: something under it may match
  ['src/*.ts', 'src/lib', true], // conservative
  ['**/*.md', 'docs/**', true], // two globs: conservative, by their literal folders
])('%s and %s overlap: %s', (a, b, expected) => {
  expect(globsOverlap(a, b)).toBe(expected);
  expect(globsOverlap(b, a)).toBe(expected);
});

test('serializeOverlaps walks a 10,000-task dependency chain without recursion', () => {
  const size = 10_000;
  const tasks = Array.from({ length: size }, (_, i) => ({
    id: `t${i}`,
    dependsOn: i > 0 ? [`t${i - 1}`] : [],
    touches: i === 0 || i === size - 1 || i === 5 ? ['src/**'] : [],
  })) as unknown as TaskSpec[];
  // Unordered siblings that overlap: the later one goes after the earlier one.
  tasks.push({ id: 'x', dependsOn: [], touches: ['src/a.ts'] } as unknown as TaskSpec);
  const out = serializeOverlaps(tasks);
  // Already ordered by the chain, transitively: nothing added.
  expect(out[size - 1].after).toEqual([]);
  expect(out[5].after).toEqual([]);
  expect(out[size].after).toEqual(['t0', 't5', `t${size - 1}`]);
});
