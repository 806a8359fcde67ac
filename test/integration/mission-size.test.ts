/**
 * The size check of src/client/mission-size.ts against a real dev server: the limit it checks is
 * the one the service enforces (a start input Flotilla accepts starts; one over the limit is
 * refused by both, Flotilla first and with the file and the fix), and its estimate of the projected
 * payloads agrees with the SDK's encoding.
 */
import { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import {
  BLOB_SIZE_LIMIT_BYTES,
  checkMissionSize,
  jsonPayloadBytes,
  MAX_PAYLOAD_BYTES,
  missionPayloadSizes,
  missionStartInput,
  payloadBytes,
} from '../../src/client/mission-size';
import { MissionFileError } from '../../src/mission/errors';
import { LoadedMission, loadMission } from '../../src/mission/load';
import { deriveProgress, initialState } from '../../src/mission/progress';
import { makeRepo } from '../helpers/git';
import { startDevServer } from '../helpers/temporal';

let env: TestWorkflowEnvironment;
let client: Client;

beforeAll(async () => {
  env = await startDevServer();
  client = env.client;
});

afterAll(async () => {
  await env?.teardown();
});

/** A mission of `count` tasks whose prompts are `promptChars` long. */
async function missionOf(id: string, count: number, promptChars: number): Promise<LoadedMission> {
  const dir = makeRepo();
  const file = path.join(dir, 'mission.yaml');
  const tasks = Array.from({ length: count }, (_, i) => ({ id: `t${i}`, prompt: 'x'.repeat(promptChars) }));
  writeFileSync(file, YAML.stringify({ id, agent: { runtime: 'command', command: ['true'] }, tasks }));
  return loadMission(file);
}

/** Starts `missionWorkflow` with the mission's start input on a queue no worker polls. */
async function start(loaded: LoadedMission): Promise<void> {
  const handle = await client.workflow.start('missionWorkflow', {
    workflowId: `size-${loaded.spec.id}`,
    taskQueue: 'nobody-polls-this',
    args: [missionStartInput(loaded)],
  });
  await handle.terminate('size test');
}

test('a mission the check accepts starts; one over the limit is refused by Flotilla and by Temporal', async () => {
  const fits = await missionOf('fits', 29, 63_000);
  const sizes = checkMissionSize(fits);
  expect(sizes.start).toBeGreaterThan(BLOB_SIZE_LIMIT_BYTES * 0.85);
  expect(sizes.start).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
  await start(fits);

  const over = await missionOf('over', 34, 63_000);
  expect(payloadBytes(missionStartInput(over))).toBeGreaterThan(BLOB_SIZE_LIMIT_BYTES);
  expect(() => checkMissionSize(over)).toThrow(MissionFileError);
  expect(() => checkMissionSize(over)).toThrow(/tasks: the mission is too large for Temporal[\s\S]*fix: split/);
  await expect(start(over)).rejects.toThrow();
  const err = await start(over).catch((e: Error) => e);
  expect(String((err as { cause?: Error }).cause?.message ?? err)).toMatch(/Blob data size exceeds limit/);
});

test('the estimate of a JSON payload is at least its encoded size, and at most 64 bytes more', async () => {
  const loaded = await missionOf('estimate', 300, 200);
  const progress = deriveProgress('estimate', initialState(loaded.spec, loaded.waves, new Date(0).toISOString()));
  for (const value of [progress, loaded.spec, { é: 'ünïcode ✓'.repeat(100) }]) {
    const exact = payloadBytes(value);
    expect(jsonPayloadBytes(value)).toBeGreaterThanOrEqual(exact);
    expect(jsonPayloadBytes(value)).toBeLessThanOrEqual(exact + 64);
  }
  // Many tasks with short prompts: the state they carry, not the start input, is the largest.
  const sizes = missionPayloadSizes(loaded);
  expect(sizes.continueAsNew).toBeGreaterThan(sizes.start);
  expect(sizes.failed).toBeGreaterThan(sizes.progress);
});
