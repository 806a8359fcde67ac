/** Flotilla workers and mission starts against a test dev server. */
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { MissionSpec } from '../../src/mission/types';
import { names } from '../../src/mission/types';
import { missionStartAttributes } from '../../src/mission/search';
import { createWorkers } from '../../src/worker';
import { missionWorkflow, type MissionInput, type MissionResult } from '../../src/workflows/mission';
import { workflowBundle } from './bundle';
import { tempDir } from './git';
import { missionResult } from './outcome';

/**
 * Flotilla's workers (shared, placement and host queue) in this process, with the workflow bundle
 * cached across test files (test/helpers/bundle.ts) instead of one webpack run each; `stop()`
 * shuts them down.
 */
export async function startTestWorkers(
  env: TestWorkflowEnvironment,
  taskQueue: string,
  hostId: string,
  home = tempDir('flotilla-home-'),
) {
  const workers = await createWorkers({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    home,
    hostId,
    workflowBundle: await workflowBundle(),
  });
  const running = workers.run();
  return {
    home,
    async stop(): Promise<void> {
      workers.shutdown();
      await running;
    },
  };
}

/**
 * Starts `missionWorkflow` for `spec` on `taskQueue` as the CLI would (`startMission` in
 * src/client/start.ts), with Flotilla's search attributes: the service must have them registered
 * (`startDevServer` does, as `flotilla run` does for its dev server).
 */
export function startMissionOn(client: Client, taskQueue: string, spec: MissionSpec): Promise<WorkflowHandle> {
  const input: MissionInput = { spec };
  return client.workflow.start(missionWorkflow, {
    workflowId: names.missionWorkflowId(spec.id),
    taskQueue,
    args: [input],
    typedSearchAttributes: missionStartAttributes(spec, 'planning'),
  });
}

/** {@link startMissionOn} with the test environment's client. */
export function startMission(
  env: TestWorkflowEnvironment,
  taskQueue: string,
  spec: MissionSpec,
): Promise<WorkflowHandle> {
  return startMissionOn(env.client, taskQueue, spec);
}

/** Starts the mission and waits for its result (the final progress). */
export async function runMission(
  env: TestWorkflowEnvironment,
  taskQueue: string,
  spec: MissionSpec,
): Promise<MissionResult> {
  return await missionResult(await startMission(env, taskQueue, spec));
}
