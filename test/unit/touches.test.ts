/** Glob overlap for `touches:` (src/mission/touches.ts). */
import { globsOverlap } from '../../src/mission/touches';

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
