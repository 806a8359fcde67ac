/**
 * The CLI's own lifecycle as users meet it, on a real dev server with the real CLI (its own
 * in-process workers, real agent processes): Ctrl-C on `run`, two `run`s at once, and `cancel`
 * on an ended mission.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MissionProgress } from '../../src/mission/progress';
import { cliSuite } from '../helpers/cli-suite';
import { makeRepo } from '../helpers/git';
import { processAlive } from '../helpers/missions';
import { until } from '../helpers/poll';

const suite = cliSuite('lifecycle');
const { dir, flotilla, spawnFlotilla } = suite;

/** A mission file of `command` agents (bash scripts: test code, not user input). */
function missionFile(id: string, tasks: Array<{ id: string; script: string; dependsOn?: string[] }>, retries = 3) {
  const repo = makeRepo();
  const file = path.join(dir, `${id}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      id,
      repo,
      agent: { runtime: 'command', retries },
      tasks: tasks.map((t) => ({
        id: t.id,
        prompt: `do ${t.id}`,
        dependsOn: t.dependsOn ?? [],
        agent: { command: ['bash', '-c', t.script] },
      })),
    }),
  );
  return file;
}

const marker = (name: string): string => path.join(dir, name);

test('Ctrl-C on run says the mission goes on and how to come back, stops its agent, exits 130 in seconds; watch finishes it', async () => {
  const pidFile = marker('sigint.pid');
  // The first attempt runs until killed; the next one (on the next worker) finishes.
  const file = missionFile('sigint', [
    {
      id: 'long',
      script: `echo $$ > ${pidFile}; if [ -f ${marker('sigint.tried')} ]; then echo done > done.txt; exit 0; fi; touch ${marker('sigint.tried')}; sleep 600`,
    },
  ]);
  const run = spawnFlotilla(['run', file]);
  await run.waitFor(/▶ long running/, 90_000);
  await until('the agent to start', () => existsSync(pidFile));
  const agent = Number(readFileSync(pidFile, 'utf8'));
  const interruptedAt = Date.now();
  run.kill('SIGINT');
  await run.waitFor(/mission sigint keeps running/, 2_000);
  const r = await run.result;
  const tookMs = Date.now() - interruptedAt;
  expect({ code: r.code, signal: r.signal }).toEqual({ code: 130, signal: null });
  expect(tookMs).toBeLessThan(10_000);
  expect(r.stderr).toMatch(/`flotilla watch sigint`/);
  expect(r.stderr).toContain(`flotilla run ${file}`);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  // No orphan: the agent's process (and its group) went with the worker.
  await until('the agent to be gone', () => !processAlive(agent), 5_000);

  const watch = await flotilla(['watch', 'sigint']);
  expect(watch.stdout).toMatch(/mission sigint completed/);
  expect(watch.code).toBe(0);
});

test('a second run brings its own worker: when the first run leaves, the second mission still finishes', async () => {
  const fileA = missionFile('first', [
    { id: 'a', script: `while [ ! -f ${marker('first.go')} ]; do sleep 0.2; done; echo a > a.txt` },
  ]);
  const fileB = missionFile('second', [
    { id: 'b', script: `while [ ! -f ${marker('second.go')} ]; do sleep 0.2; done; echo b > b.txt` },
  ]);
  const runA = spawnFlotilla(['run', fileA]);
  await runA.waitFor(/▶ a running/, 90_000);
  const runB = spawnFlotilla(['run', fileB]);
  // Its own worker, though the first run's worker polls the same queues.
  await runB.waitFor(/worker: in-process/, 30_000);
  await runB.waitFor(/▶ b running/, 90_000);

  writeFileSync(marker('first.go'), '');
  const a = await runA.result;
  expect(a.code).toBe(0);
  expect(a.stdout).toMatch(/mission first completed/);

  writeFileSync(marker('second.go'), '');
  const b = await runB.result;
  expect(b.stdout).toMatch(/mission second completed/);
  expect(b.code).toBe(0);
});

test('cancel on an ended mission says how it ended: failed, or cancelled', async () => {
  const failing = missionFile('ends-failed', [{ id: 'x', script: 'echo broken >&2; exit 1' }], 0);
  const run = await flotilla(['run', failing]);
  expect(run.code).toBe(1);
  expect(run.stdout).toMatch(/mission ends-failed failed/);
  const cancelFailed = await flotilla(['cancel', 'ends-failed']);
  expect(cancelFailed.code).toBe(1);
  expect(cancelFailed.stderr).toMatch(/mission "ends-failed" has ended \(failed: .+\); there is nothing to cancel/);

  const waiting = missionFile('ends-cancelled', [{ id: 'w', script: 'sleep 600' }]);
  const start = await flotilla(['start', waiting]);
  expect(start.code).toBe(0);
  const watch = spawnFlotilla(['watch', 'ends-cancelled']);
  await watch.waitFor(/▶ w running/, 90_000);
  const cancel = await flotilla(['cancel', 'ends-cancelled', '--reason', 'wrong base branch']);
  expect(cancel.code).toBe(0);
  const watched = await watch.result;
  expect(watched.stdout).toMatch(/mission ends-cancelled cancelled/);
  expect(watched.code).toBe(1);
  const status = await flotilla(['status', 'ends-cancelled', '--json']);
  expect(status.code).toBe(0);
  const final = JSON.parse(status.stdout) as MissionProgress;
  expect(final.phase).toBe('cancelled');
  // The reason travels with the cancel signal: status shows it, and the task's error says it.
  expect(final.reason).toBe('wrong base branch');
  expect(final.tasks[0]).toMatchObject({ status: 'cancelled', error: 'wrong base branch' });
  const again = await flotilla(['cancel', 'ends-cancelled']);
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(
    /mission "ends-cancelled" has ended \(cancelled: wrong base branch\); there is nothing to cancel/,
  );
});
