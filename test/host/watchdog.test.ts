/**
 * Processes that leave their group (`setsid`, a double fork) still go when the group goes: by
 * `terminateGroup`, and by the worker's watchdog when the worker is SIGKILLed. Real processes,
 * found in /proc by a marker in their command line.
 */
import execa from 'execa';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { spawnGroup, terminateGroup } from '../../src/agents/process';
import { tempDir } from '../helpers/git';
import { until } from '../helpers/poll';

const ROOT = path.resolve(__dirname, '..', '..');

/** PIDs whose command line holds `marker`. */
function withMarker(marker: string): number[] {
  const found: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(marker)) found.push(Number(e));
    } catch {
      // gone
    }
  }
  return found;
}

/** The parent of process `pid` (field 4 of /proc/<pid>/stat); undefined once it is gone. */
function parentOf(pid: number): number | undefined {
  try {
    return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** A command whose group leader starts a daemon in a session of its own, then idles. */
const escaping = (marker: string): string[] => [
  'sh',
  '-c',
  `setsid sh -c 'sleep 600; echo ${marker}' </dev/null >/dev/null 2>&1 & sleep 600; echo ${marker}-leader`,
];

test('terminateGroup also stops what left the group with setsid', async () => {
  const marker = `escaped-${process.pid}-${Date.now()}`;
  const { pgid } = spawnGroup(escaping(marker), { cwd: tempDir(), env: { PATH: process.env.PATH } });
  await until('both processes', () => withMarker(marker).length >= 2, 10_000, 50);
  await terminateGroup(pgid, 500);
  expect(withMarker(marker)).toEqual([]);
});

test("a SIGKILLed worker's watchdog stops its groups and what left them", async () => {
  const marker = `orphan-${process.pid}-${Date.now()}`;
  // A "worker": the built process module, one watched group, then it idles until killed.
  const program = `
    const { spawnGroup } = require(${JSON.stringify(path.join(ROOT, 'lib/agents/process.js'))});
    spawnGroup(${JSON.stringify(escaping(marker))}, { cwd: ${JSON.stringify(tempDir())}, env: { PATH: process.env.PATH }, watchdog: true });
    setInterval(() => {}, 1000);`;
  const worker = execa(process.execPath, ['-e', program], { reject: false });
  await until('both processes', () => withMarker(marker).length >= 2, 10_000, 50);
  worker.kill('SIGKILL');
  await worker;
  await until('no process left', () => withMarker(marker).length === 0, 8_000, 50);
});

test('a worker that exits in order takes its watchdog with it: nothing of it is left once it is gone', async () => {
  const marker = `orderly-${process.pid}-${Date.now()}`;
  const program = `
    const { spawnGroup } = require(${JSON.stringify(path.join(ROOT, 'lib/agents/process.js'))});
    spawnGroup(${JSON.stringify(escaping(marker))}, { cwd: ${JSON.stringify(tempDir())}, env: { PATH: process.env.PATH }, watchdog: true });
    setTimeout(() => process.exit(0), 1000);`;
  const worker = execa(process.execPath, ['-e', program], { reject: false });
  // The watchdog is `node -e <program> <worker tag>`, found by its program's text; this worker's
  // is its child (workers of test files running beside this one have watchdogs of their own).
  const dogs = await until(
    'both processes and one watchdog',
    () => {
      const mine = withMarker('FLOTILLA_GROUP').filter((pid) => parentOf(pid) === worker.pid);
      return withMarker(marker).length >= 2 && mine.length === 1 ? mine : null;
    },
    10_000,
    50,
  );
  expect((await worker).exitCode).toBe(0);
  // At once, not after the watchdog's own poll: a scan right after the worker's exit finds nothing.
  const alive = (pid: number): boolean => {
    try {
      return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0] !== 'Z';
    } catch {
      return false;
    }
  };
  expect(dogs.filter(alive)).toEqual([]);
  expect(withMarker(marker).filter(alive)).toEqual([]);
});
