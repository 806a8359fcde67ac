/**
 * `npm test` in a fresh clone: the `pretest` script installs what is missing (npm packages, the
 * Temporal CLI) before the build needs `tsc` and the tests need `temporal`.
 */
import { copyFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { TEMPORAL_CLI_MODULE } from '../../src/client/server';
import { tempDir } from '../helpers/git';

const root = path.resolve(__dirname, '..', '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const ensureDeps = require('../../scripts/ensure-deps.js') as {
  plan(root: string, env?: NodeJS.ProcessEnv): { steps: string[][]; notes: string[] };
  TEMPORAL_CLI_MODULE: string;
};

test('npm test, test:faults and test:integration install what is missing first', () => {
  const scripts = (
    JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  ).scripts;
  for (const name of ['pretest', 'pretest:faults', 'pretest:integration'])
    expect({ name, script: scripts[name] }).toEqual({ name, script: 'node scripts/ensure-deps.js' });
});

test('a fresh clone (no node_modules) gets npm ci; an installed one does not', () => {
  const fresh = tempDir('flotilla-fresh-clone-');
  for (const f of ['package.json', 'package-lock.json']) copyFileSync(path.join(root, f), path.join(fresh, f));
  const env = { PATH: '', TEMPORAL_CLI_PATH: process.execPath };
  expect(ensureDeps.plan(fresh, env).steps).toEqual([['npm', 'ci', '--no-audit', '--no-fund', '--loglevel=error']]);
  expect(ensureDeps.plan(root, env).steps).toEqual([]);
});

test('no Temporal CLI: go install of the module Flotilla itself installs; without Go, a note says what to do', () => {
  const noGo = ensureDeps.plan(root, { PATH: '' });
  expect(noGo.steps).toEqual([]);
  expect(noGo.notes.join('\n')).toMatch(/TEMPORAL_CLI_PATH/);
  expect(ensureDeps.TEMPORAL_CLI_MODULE).toBe(TEMPORAL_CLI_MODULE);
});
