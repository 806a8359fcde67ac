/**
 * examples/ports as a new user runs it (the real CLI, its own worker, a real dev server): six
 * tasks, four at once, whose gates each start an HTTP server on `$FLOTILLA_PORT` and hold it for
 * three seconds all pass; the same mission with one fixed port fails (the gates that run at the
 * same time find the port in use).
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MissionProgress } from '../../src/mission/progress';
import { reservations } from '../../src/agents/namespace';
import { runCli } from '../helpers/cli';
import { git, tempDir } from '../helpers/git';
import { freePort } from '../helpers/net';
import { startDevServer } from '../helpers/temporal';

let env: TestWorkflowEnvironment;
const home = tempDir('flotilla-ports-home-');

beforeAll(async () => {
  env = await startDevServer();
}, 180_000);

afterAll(async () => {
  await env?.teardown();
});

const flotilla = (args: string[]) =>
  runCli(args, {
    env: { TEMPORAL_ADDRESS: env.address, FLOTILLA_HOME: home, FLOTILLA_TASK_QUEUE: 'flotilla-ports' },
    timeoutMs: 240_000,
  });

test('six gates serving on $FLOTILLA_PORT, four at once, all pass; each task had its own slot and port', async () => {
  const run = await flotilla(['run', 'examples/ports/mission.yaml']);
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  expect(run.stdout).toMatch(/mission ports completed in .*: 6\/6 tasks merged/);
  const p = JSON.parse((await flotilla(['status', 'ports', '--json'])).stdout) as MissionProgress;
  const repo = path.join(home, 'repos', 'ports');
  const seen = p.tasks.map((t) => {
    const [slot, port, compose] = git(repo, 'show', `${p.integrationBranch}:ns/${t.id}.txt`).split(' ');
    return { id: t.id, slot: Number(slot), port: Number(port), compose };
  });
  for (const s of seen) {
    expect(s.compose).toBe(`flotilla-ports-${s.id}`);
    // Four tasks at once plus the mission verify: never more than five slots.
    expect(s.slot >= 0 && s.slot < 5).toBe(true);
    expect(s.port >= 20000 && s.port <= 29999).toBe(true);
  }
  // The first four started together: their namespaces were all reserved before any gate (each
  // 3 s) ended, so they never share a port or a slot.
  const first = p.tasks.map((t) => t.startedAt!).sort()[0];
  const wave = seen.filter((s) => p.tasks.find((t) => t.id === s.id)!.startedAt === first);
  expect(wave).toHaveLength(4);
  expect(new Set(wave.map((s) => s.port)).size).toBe(4);
  expect(new Set(wave.map((s) => s.slot)).size).toBe(4);
  // Every reservation was released when its task (or the verify) ended.
  expect(reservations(home)).toEqual([]);
}, 300_000);

test('the same mission with one fixed port fails: the gates that run at once collide', async () => {
  const dir = tempDir('flotilla-ports-fixed-');
  cpSync('examples/ports', dir, { recursive: true });
  const port = await freePort();
  const file = path.join(dir, 'mission.yaml');
  writeFileSync(
    file,
    readFileSync(file, 'utf8')
      .replace('id: ports', 'id: ports-fixed')
      .replaceAll('PORT=$FLOTILLA_PORT', `PORT=${port}`)
      // Each gate holds the port long enough that four starting together must meet.
      .replaceAll('node serve.js', 'HOLD_MS=6000 node serve.js'),
  );
  const run = await flotilla(['run', file]);
  expect(run.code).not.toBe(0);
  const p = JSON.parse((await flotilla(['status', 'ports-fixed', '--json'])).stdout) as MissionProgress;
  const failed = p.tasks.filter((t) => t.status === 'failed');
  expect(failed.length).toBeGreaterThan(0);
  expect(failed.map((t) => t.error).join('\n')).toContain('node serve.js');
}, 300_000);
