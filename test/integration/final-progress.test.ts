/**
 * How the client reads an ended mission (`finalProgress`), for every way its workflow can end:
 * Completed with the progress as result, Failed with a `MissionFailed` failure (the progress and
 * the state a reopen continues from), Canceled (the progress query of the closed workflow), and
 * anything else (outside Flotilla's control: exit 1).
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { loadConfig } from '../../src/client/config';
import { CliError } from '../../src/client/errors';
import { describeMission, finalProgress, getProgress } from '../../src/client/missions';
import type { MissionProgress } from '../../src/mission/progress';
import { initialState, deriveProgress } from '../../src/mission/progress';
import { names } from '../../src/mission/types';
import { mission, task } from '../helpers/missions';
import { startDevServer } from '../helpers/temporal';

let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
const taskQueue = 'flotilla-endings';

beforeAll(async () => {
  env = await startDevServer();
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath: require.resolve('../fixtures/workflows/endings'),
  });
  running = worker.run();
}, 180_000);

afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
});

function progressOf(missionId: string, phase: MissionProgress['phase']): MissionProgress {
  const spec = mission(missionId, '/nowhere', [task('a', 'true')]);
  return { ...deriveProgress(missionId, initialState(spec, [['a']], new Date().toISOString())), phase };
}

async function ended(missionId: string, workflow: string, args: unknown[], cancel = false) {
  const handle = await env.client.workflow.start(workflow, {
    workflowId: names.missionWorkflowId(missionId),
    taskQueue,
    args,
  });
  if (cancel) {
    // Once it answers its query, it runs: cancel it then.
    await handle.query('progress');
    await handle.cancel();
  }
  await handle.result().catch(() => undefined);
  const config = loadConfig({ TEMPORAL_ADDRESS: env.address, FLOTILLA_TASK_QUEUE: taskQueue });
  const { description } = await describeMission(env.client, config, missionId);
  return { handle, description, config };
}

test('completed: the result', async () => {
  const { handle, description, config } = await ended('done', 'endsCompleted', [progressOf('done', 'completed')]);
  expect(description.status.name).toBe('COMPLETED');
  const out = await finalProgress(handle, description, config);
  expect(out.progress.phase).toBe('completed');
  expect(out.carried).toBeUndefined();
});

test('failed with MissionFailed: the progress from details[0], the carried state from details[1]', async () => {
  const carried = { state: { marker: 'carried' }, resumes: 2, budgetTripped: false };
  const { handle, description, config } = await ended('new-failed', 'endsMissionFailed', [
    progressOf('new-failed', 'failed'),
    carried,
  ]);
  expect(description.status.name).toBe('FAILED');
  const out = await finalProgress(handle, description, config);
  expect(out.progress.phase).toBe('failed');
  expect(out.carried).toEqual(carried);
  expect((await getProgress(env.client, config, 'new-failed')).phase).toBe('failed');
});

test('cancelled: the progress query of the closed workflow says cancelled', async () => {
  const { handle, description, config } = await ended(
    'new-cancelled',
    'endsCancelled',
    [progressOf('new-cancelled', 'running')],
    true,
  );
  expect(description.status.name).toBe('CANCELLED');
  const out = await finalProgress(handle, description, config);
  expect(out.progress.phase).toBe('cancelled');
  expect((await getProgress(env.client, config, 'new-cancelled')).phase).toBe('cancelled');
});

test("failed otherwise, or terminated: outside Flotilla's control, exit 1", async () => {
  const failed = await ended('broke', 'endsFailedOtherwise', []);
  const err = await finalProgress(failed.handle, failed.description, failed.config).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(CliError);
  expect((err as CliError).exitCode).toBe(1);
  expect((err as CliError).message).toMatch(/failed \(something else broke\) outside Flotilla's control/);

  const handle = await env.client.workflow.start('endsCancelled', {
    workflowId: names.missionWorkflowId('terminated'),
    taskQueue,
    args: [progressOf('terminated', 'running')],
  });
  await handle.terminate('by hand');
  const config = failed.config;
  const { description } = await describeMission(env.client, config, 'terminated');
  await expect(finalProgress(handle, description, config)).rejects.toThrow(
    /ended as terminated outside Flotilla's control/,
  );
});
