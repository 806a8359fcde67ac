/**
 * Crash matrix, case 3: the Temporal dev server is SIGKILLed in the middle of a mission, while an
 * agent runs, and started again on the same SQLite database (what a supervisor restarting a
 * crashed service does). The worker, a separate process that is not restarted, reconnects by
 * itself (its gRPC calls retry while the server is down), and the mission goes on through its
 * next wave to the end.
 *  - a short outage (less than the agent's 20 s heartbeat timeout) costs nothing: the agent runs on
 *    and its one attempt finishes the task;
 *  - a long one (more than the heartbeat timeout) makes Temporal retry the agent when the server
 *    is back: the worker learns its attempt is stale, kills the agent's group, and the next
 *    attempt continues in the same worktree with the work of the first.
 */
import type { Client, Connection } from '@temporalio/client';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { names } from '../../src/mission/types';
import { makeRepo, tempDir } from '../helpers/git';
import { mission, progress, task } from '../helpers/missions';
import {
  agentPidFile,
  agentStarts,
  clientFor,
  devServerPort,
  expectOneMergePerTask,
  faultAgentArgv,
  fileAt,
  flotillaEnv,
  Harness,
  liveGroupMembers,
  processesIn,
  Proc,
  readPgid,
  reportFault,
  sleep,
  startMissionOn,
  until,
} from './harness';
import { missionResult } from '../helpers/outcome';

const h = new Harness();
const home = tempDir('flotilla-faults-server-home-');
const queue = 'faults-server';
const db = path.join(h.dir, 'temporal.db');
let address = '';
let server: Proc | undefined;
let connection: Connection | undefined;
let client: Client | undefined;

beforeAll(async () => {
  const port = await devServerPort();
  address = `127.0.0.1:${port}`;
  server = await h.temporal('server-1', port, db);
  ({ connection, client } = await clientFor(address));
  h.onCleanup(() => connection?.close());
  h.watch(path.join(home, 'worktrees'));
  await h.worker('worker', flotillaEnv({ address, home, queue }));
}, 120_000);

afterAll(() => h.cleanup());

/**
 * Runs a two-wave mission whose first agent waits for a go file; kills the server while it waits,
 * keeps it down `downMs`, restarts it on the same database, lets the agent finish once
 * `readyToGo` holds, and checks the mission's end.
 */
async function outage(name: string, downMs: number, readyToGo: (startsFile: string) => boolean) {
  const repo = makeRepo();
  const go = path.join(h.dir, `${name}.go`);
  const starts = path.join(h.dir, `${name}.starts`);
  const missionId = `fault-server-${name}`;
  const agent = {
    runtime: 'command' as const,
    command: faultAgentArgv(starts, go),
    args: [],
    env: [],
    timeoutMs: 180_000,
    idleTimeoutMs: 150_000,
    retries: 2,
  };
  const spec = mission(missionId, repo, [
    task('steady', '', { agent }),
    task('after', 'echo after > after.txt', { dependsOn: ['steady'] }),
  ]);
  const handle = await startMissionOn(client!, queue, spec);
  await until('the agent to run', () => agentStarts(starts).length === 1, 60_000);
  const pidFile = agentPidFile(home, missionId, 'steady');
  const pgid = await until('the PID file', () => readPgid(pidFile));

  const port = Number(address.split(':')[1]);
  const killedAt = Date.now();
  server!.crash();
  await server!.exit;
  await sleep(downMs);
  server = await h.temporal(`${name}-server-2`, port, db);
  const restartedMs = Date.now() - killedAt;
  // Recovered: the worker polls again (a query is answered by its workflow worker).
  await until('the worker to answer a query after the restart', () => progress(client!, missionId), 120_000);
  const recoveredMs = Date.now() - killedAt;
  await until('the agent to be ready to finish', () => readyToGo(starts), 120_000);
  const resumedMs = Date.now() - killedAt;
  writeFileSync(go, 'go\n');
  const result = await missionResult(handle);
  const completedMs = Date.now() - killedAt;
  reportFault(`server-kill (${name} outage)`, recoveredMs, {
    downMs,
    restartedMs,
    workerBackAfterRestartMs: recoveredMs - restartedMs,
    resumedMs,
    completedMs,
  });

  expect(result.phase).toBe('completed');
  expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
    ['steady', 'merged'],
    ['after', 'merged'],
  ]);
  const branch = names.taskBranch(missionId, 'steady');
  expect(fileAt(repo, branch, 'part1.txt')).toBe('written before the fault');
  expect(fileAt(repo, branch, 'part2.txt')).toBe('written after the fault');
  const integration = names.integrationBranch(missionId);
  expect(fileAt(repo, integration, 'part2.txt')).toBe('written after the fault');
  expect(fileAt(repo, integration, 'after.txt')).toBe('after');
  expectOneMergePerTask(repo, missionId, ['steady', 'after']);
  expect(liveGroupMembers(pgid)).toEqual([]);
  expect(existsSync(pidFile)).toBe(false);
  expect(processesIn(path.join(home, 'worktrees', missionId))).toEqual([]);
  return { result, starts: agentStarts(starts) };
}

test('a short outage: the worker reconnects and the running agent finishes in its one attempt', async () => {
  const { result, starts } = await outage('short', 3000, () => true);
  expect(result.tasks[0].attempts).toBe(1);
  expect(starts).toHaveLength(1);
}, 240_000);

test('an outage longer than the heartbeat timeout: the stale attempt is killed and the next one keeps its work', async () => {
  const { result, starts } = await outage('long', 30_000, (f) => agentStarts(f).length >= 2);
  expect(result.tasks[0].attempts).toBe(2);
  // The second attempt started after the first one's process was gone.
  expect(starts).toEqual([expect.objectContaining({ earlierAlive: 0 }), expect.objectContaining({ earlierAlive: 0 })]);
}, 240_000);
