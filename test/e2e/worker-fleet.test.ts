/**
 * The worker lifecycle as a user runs it, on one real dev server:
 * - `flotilla worker --agents 1`: a mission of two tasks (concurrency 2) runs their agents one
 *   after the other, and `flotilla workers` lists the worker with its queues, its cap, one agent
 *   running and one waiting for a slot;
 * - Worker Versioning: two `flotilla worker --deployment` processes of the same host with
 *   different build ids. A mission started while build `a` is current stays pinned to `a` (its
 *   workflow and its activities) after `b` becomes current; a new mission goes to `b`; both
 *   complete. Bad flags: a clear error, exit 2.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkerListing } from '../../src/client/fleet';
import { names } from '../../src/mission/types';
import { CliProcess, runCli, spawnCli } from '../helpers/cli';
import { makeRepo, tempDir } from '../helpers/git';
import { startDevServer } from '../helpers/temporal';
import { until } from '../helpers/poll';

let env: TestWorkflowEnvironment;
const home = tempDir('flotilla-fleet-home-');
const dir = tempDir('flotilla-fleet-');
const queue = 'flotilla-versions';
const workers: CliProcess[] = [];

beforeAll(async () => {
  env = await startDevServer();
}, 180_000);

afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.result));
  await env?.teardown();
});

const capEnv = (): NodeJS.ProcessEnv => ({
  TEMPORAL_ADDRESS: env.address,
  FLOTILLA_HOME: home,
  FLOTILLA_TASK_QUEUE: 'flotilla-capacity',
  FLOTILLA_HOST_ID: 'capacity-host',
});

const cliEnv = (): NodeJS.ProcessEnv => ({
  TEMPORAL_ADDRESS: env.address,
  FLOTILLA_HOME: home,
  FLOTILLA_TASK_QUEUE: queue,
  FLOTILLA_HOST_ID: 'versions-host',
});

async function startWorker(buildId: string): Promise<CliProcess> {
  const w = spawnCli(['worker', '--deployment', 'fleet', '--build-id', buildId, '--set-current'], { env: cliEnv() });
  workers.push(w);
  await until(`worker ${buildId} to be current`, () => {
    if (/is the current version/.test(w.stderr())) return true;
    if (w.child.exitCode !== null) throw new Error(`worker ${buildId} exited:\n${w.stderr()}`);
    return undefined;
  });
  return w;
}

const go = path.join(dir, 'go');
const log = path.join(dir, 'agents.log');

/** Starts a one-task mission whose agent logs its start, then waits for the test's go. */
async function startMission(id: string): Promise<void> {
  const file = path.join(dir, `${id}.json`);
  const script = `echo "start ${id}" >> ${log}; while [ ! -e ${go} ]; do sleep 0.1; done; echo ${id} > ${id}.txt`;
  writeFileSync(
    file,
    JSON.stringify({
      id,
      repo: makeRepo(),
      agent: { runtime: 'command', command: ['bash', '-c', script] },
      tasks: [{ id: 't', prompt: `do ${id}` }],
    }),
  );
  expect((await runCli(['start', file], { env: cliEnv() })).code).toBe(0);
  await until(`${id}'s agent`, () => existsSync(log) && readFileSync(log, 'utf8').includes(`start ${id}`));
}

/** The build id a workflow is pinned to, and the identity of the worker running its agent. */
async function pinned(workflowId: string): Promise<{ behavior: string | undefined; buildId: string | undefined }> {
  const d = await env.client.workflow.getHandle(workflowId).describe();
  const info = d.raw.workflowExecutionInfo?.versioningInfo;
  return {
    behavior: info?.behavior === 1 ? 'PINNED' : String(info?.behavior),
    buildId: info?.deploymentVersion?.buildId ?? undefined,
  };
}

async function agentWorker(missionId: string): Promise<string> {
  const d = await env.client.workflow.getHandle(names.taskWorkflowId(missionId, 't')).describe();
  return d.raw.pendingActivities?.find((a) => a.activityType?.name === 'runAgent')?.lastWorkerIdentity ?? '';
}

test('--agents 1 runs one agent at a time; flotilla workers shows the cap, one running and one waiting', async () => {
  const worker = spawnCli(['worker', '--agents', '1'], { env: capEnv() });
  workers.push(worker);
  await until('the worker', () => (/task queues/.test(worker.stderr()) ? true : undefined));
  expect(worker.stderr()).toContain('up to 1 agents');

  const log = path.join(dir, 'capacity.log');
  const go = path.join(dir, 'capacity-go');
  // Each agent logs its start, waits for the test's go (so the listing sees it running), logs its end.
  const script = `echo "start $FLOTILLA_TASK_ID" >> ${log}; while [ ! -e ${go} ]; do sleep 0.1; done; echo "end $FLOTILLA_TASK_ID" >> ${log}; echo done > out-$FLOTILLA_TASK_ID.txt`;
  const file = path.join(dir, 'capacity.json');
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
  const start = await runCli(['start', file], { env: capEnv() });
  expect(start.code).toBe(0);

  // Both attempts reached the worker; one runs, one waits for the slot.
  const listed = await until('one agent running and one waiting', async () => {
    const res = await runCli(['workers', '--json'], { env: capEnv() });
    const mine = (JSON.parse(res.stdout) as WorkerListing[]).find((w) => w.kind === 'worker');
    return mine && mine.running === 1 && mine.waiting === 1 ? mine : undefined;
  });
  expect(listed).toMatchObject({
    agentCap: 1,
    agents: 2,
    queues: ['flotilla-capacity', 'flotilla-capacity@capacity-host'],
  });
  expect(listed.identity).toMatch(/^\d+@\S+ worker queue=flotilla-capacity@capacity-host agents=1$/);
  expect(readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(1);
  const table = await runCli(['workers'], { env: capEnv() });
  expect(table.stdout).toMatch(
    /worker\s+1\/1 \(\+1 waiting\)\s+flotilla-capacity, flotilla-capacity@capacity-host\s+-/,
  );

  writeFileSync(go, '');
  const watch = await runCli(['watch', 'capacity'], { env: capEnv() });
  expect(watch.code).toBe(0);
  // One after the other: the second agent started after the first ended.
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  expect(lines).toHaveLength(4);
  expect(lines[1]).toBe(lines[0].replace('start', 'end'));
}, 120_000);

test('a worker that stops (SIGTERM) logs no ERROR: its placement poller ends as the SDK expects', async () => {
  const worker = spawnCli(['worker'], { env: { ...capEnv(), FLOTILLA_TASK_QUEUE: 'flotilla-stop' } });
  workers.push(worker);
  await until('the worker', () => (/task queues/.test(worker.stderr()) ? true : undefined));
  // Long enough for every poller to wait for its slot (the placement queue's slot supplier among them).
  await new Promise((r) => setTimeout(r, 2000));
  worker.kill('SIGTERM');
  const res = await worker.result;
  expect(res.code).toBe(0);
  expect(res.stderr).toMatch(/taskQueue: 'flotilla-stop\.placement', state: 'STOPPED'/);
  expect(res.stderr).toContain('flotilla worker: drained, stopped');
  expect(res.stderr.split('\n').filter((l) => /\bERROR\b/.test(l))).toEqual([]);
}, 60_000);

test('bad versioning flags: a clear error, exit 2', async () => {
  const res = await runCli(['worker', '--build-id', 'x'], { env: cliEnv() });
  expect(res.code).toBe(2);
  expect(res.stderr).toContain('--build-id needs --deployment NAME');
  expect(res.stderr).not.toMatch(/\n\s+at /);
  const dots = await runCli(['worker', '--deployment', 'a.b'], { env: cliEnv() });
  expect(dots.code).toBe(2);
  expect(dots.stderr).toContain('no dots');
});

test('a mission started on build a stays pinned to a after b becomes current; a new mission runs on b', async () => {
  await startWorker('a');
  await startMission('on-a');
  expect(await pinned(names.missionWorkflowId('on-a'))).toEqual({ behavior: 'PINNED', buildId: 'a' });

  await startWorker('b');
  await startMission('on-b');
  expect(await pinned(names.missionWorkflowId('on-b'))).toEqual({ behavior: 'PINNED', buildId: 'b' });
  // The first mission, its task and its agent stay on a.
  expect(await pinned(names.missionWorkflowId('on-a'))).toEqual({ behavior: 'PINNED', buildId: 'a' });
  expect(await pinned(names.taskWorkflowId('on-a', 't'))).toEqual({ behavior: 'PINNED', buildId: 'a' });
  expect(await agentWorker('on-a')).toContain('version=fleet/a');
  expect(await agentWorker('on-b')).toContain('version=fleet/b');

  const listed = JSON.parse((await runCli(['workers', '--json'], { env: cliEnv() })).stdout) as WorkerListing[];
  expect(listed.map((w) => [w.version, w.agents]).sort()).toEqual([
    ['fleet/a', 1],
    ['fleet/b', 1],
  ]);

  writeFileSync(go, '');
  for (const id of ['on-a', 'on-b']) expect((await runCli(['watch', id], { env: cliEnv() })).code).toBe(0);
  expect(await pinned(names.missionWorkflowId('on-a'))).toEqual({ behavior: 'PINNED', buildId: 'a' });
}, 120_000);
