/**
 * `flotilla worker --agents 1` as a user runs it: a mission of two tasks (concurrency 2) runs
 * their agents one after the other on that worker, and `flotilla workers` lists the worker with
 * its queues, its cap, one agent running and one waiting for a slot.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkerListing } from '../../src/client/fleet';
import { CliProcess, runCli, spawnCli } from '../helpers/cli';
import { makeRepo, tempDir } from '../helpers/git';
import { startDevServer } from '../helpers/temporal';

let env: TestWorkflowEnvironment;
const home = tempDir('flotilla-capacity-home-');
const dir = tempDir('flotilla-capacity-');
const queue = 'flotilla-capacity';
let worker: CliProcess | undefined;

beforeAll(async () => {
  env = await startDevServer();
}, 180_000);

afterAll(async () => {
  worker?.kill('SIGKILL');
  await worker?.result;
  await env?.teardown();
});

const cliEnv = (): NodeJS.ProcessEnv => ({
  TEMPORAL_ADDRESS: env.address,
  FLOTILLA_HOME: home,
  FLOTILLA_TASK_QUEUE: queue,
  FLOTILLA_HOST_ID: 'capacity-host',
});

async function until<T>(what: string, pred: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

test('--agents 1 runs one agent at a time; flotilla workers shows the cap, one running and one waiting', async () => {
  worker = spawnCli(['worker', '--agents', '1'], { env: cliEnv() });
  await until('the worker', async () => (/task queues/.test(worker!.stderr()) ? true : undefined));
  expect(worker.stderr()).toContain('up to 1 agents');

  const log = path.join(dir, 'agents.log');
  const go = path.join(dir, 'go');
  // Each agent logs its start, waits for the test's go (so the listing sees it running), logs its end.
  const script = `echo "start $FLOTILLA_TASK_ID" >> ${log}; while [ ! -e ${go} ]; do sleep 0.1; done; echo "end $FLOTILLA_TASK_ID" >> ${log}; echo done > out-$FLOTILLA_TASK_ID.txt`;
  const file = path.join(dir, 'mission.json');
  const repo = makeRepo();
  writeFileSync(
    file,
    JSON.stringify({
      id: 'capacity',
      repo,
      concurrency: 2,
      agent: { runtime: 'command', command: ['bash', '-c', script] },
      tasks: [
        { id: 'a', prompt: 'do a' },
        { id: 'b', prompt: 'do b' },
      ],
    }),
  );
  const start = await runCli(['start', file], { env: cliEnv() });
  expect(start.code).toBe(0);

  // Both attempts reached the worker; one runs, one waits for the slot.
  const listed = await until('one agent running and one waiting', async () => {
    const res = await runCli(['workers', '--json'], { env: cliEnv() });
    const mine = (JSON.parse(res.stdout) as WorkerListing[]).find((w) => w.kind === 'worker');
    return mine && mine.running === 1 && mine.waiting === 1 ? mine : undefined;
  });
  expect(listed).toMatchObject({ agentCap: 1, agents: 2, queues: [queue, `${queue}@capacity-host`] });
  expect(listed.identity).toMatch(/^\d+@\S+ worker queue=flotilla-capacity@capacity-host agents=1$/);
  expect(readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(1);
  const table = await runCli(['workers'], { env: cliEnv() });
  expect(table.stdout).toMatch(
    /worker\s+1\/1 \(\+1 waiting\)\s+flotilla-capacity, flotilla-capacity@capacity-host\s+-/,
  );

  writeFileSync(go, '');
  const watch = await runCli(['watch', 'capacity'], { env: cliEnv() });
  expect(watch.code).toBe(0);
  // One after the other: the second agent started after the first ended.
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  expect(lines).toHaveLength(4);
  expect(lines[1]).toBe(lines[0].replace('start', 'end'));
}, 120_000);
