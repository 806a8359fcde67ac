/**
 * Two `flotilla retry`s of a task of a mission that ended failed, both looking before either
 * reopens it: one reopens the mission, the other notices and sends its retry to the reopened run
 * (which already runs the task), instead of an unhandled "already started" error.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { MissionContext, connect } from '../../src/client/commands/context';
import { retryTask } from '../../src/client/commands/retry';
import { loadConfig } from '../../src/client/config';
import type { MissionProgress } from '../../src/mission/progress';
import { names } from '../../src/mission/types';
import { spawnCli } from '../helpers/cli';
import { makeRepo, tempDir } from '../helpers/git';
import { mission, task } from '../helpers/missions';
import { startDevServer } from '../helpers/temporal';
import { startMission } from '../helpers/worker';

let env: TestWorkflowEnvironment;
const taskQueue = 'flotilla-retry-race';
const home = tempDir('flotilla-retry-race-home-');

beforeAll(async () => {
  env = await startDevServer();
}, 180_000);

afterAll(async () => {
  await env?.teardown();
});

test('two retries racing to reopen an ended mission: one reopens it, the other joins it; the mission completes', async () => {
  // A worker of its own process, as `flotilla worker` runs: the retries below rely on it.
  const worker = spawnCli(['worker'], {
    env: { TEMPORAL_ADDRESS: env.address, FLOTILLA_TASK_QUEUE: taskQueue, FLOTILLA_HOME: home },
  });
  const printed: string[] = [];
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    printed.push(String(chunk));
    return true;
  });
  const config = loadConfig({ TEMPORAL_ADDRESS: env.address, FLOTILLA_TASK_QUEUE: taskQueue, FLOTILLA_HOME: home });
  const connections = await Promise.all([connect(config), connect(config)]);
  try {
    await worker.waitFor(/flotilla worker: task queues/);
    const flag = path.join(tempDir('flotilla-retry-race-'), 'flag');
    const spec = mission('race', makeRepo(), [
      task('a', `test -f ${flag} || { echo "no flag yet" >&2; exit 1; }; echo a > a.txt`),
      task('b', 'cat a.txt > b.txt', { dependsOn: ['a'] }),
    ]);
    const first = await startMission(env, taskQueue, spec);
    // Ends failed: a Failed workflow, or (before that contract) a result saying so.
    await first.result().catch(() => undefined);
    writeFileSync(flag, '');

    // Both look at the ended mission before either reopens it.
    const [one, two] = connections.map((c) => new MissionContext(c, 'race'));
    await Promise.all([one.describe(), two.describe()]);
    const outcomes = await Promise.allSettled([retryTask(one, 'a'), retryTask(two, 'a')]);
    expect(outcomes.map((o) => (o.status === 'rejected' ? String(o.reason) : 'ok'))).toEqual(['ok', 'ok']);
    const out = printed.join('');
    expect(out.match(/reopened it: task a runs again/g)).toHaveLength(1);
    expect(out).toMatch(/was reopened meanwhile by another `flotilla retry`/);

    const result = (await env.client.workflow.getHandle(names.missionWorkflowId('race')).result()) as MissionProgress;
    expect(result.phase).toBe('completed');
    expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
      ['a', 'merged'],
      ['b', 'merged'],
    ]);
  } finally {
    write.mockRestore();
    await Promise.all(connections.map((c) => c.connection.close()));
    worker.kill('SIGTERM');
    await worker.result;
  }
});
