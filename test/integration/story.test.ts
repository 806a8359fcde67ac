/**
 * What the Web UI reads about missions and tasks, read back through the Temporal API on a real dev
 * server: current details (the `__temporal_workflow_metadata` query), static summaries
 * (`describe`), activity summaries (history), and the typed search attributes (`list` with a
 * query), for a running, a blocked and a finished mission.
 */
import { Client, WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { names, SEARCH_ATTRIBUTES } from '../../src/mission/types';
import { makeRepo, tempDir } from '../helpers/git';
import { mission, progress, task, waitFor } from '../helpers/missions';
import { missionResult } from '../helpers/outcome';
import { startDevServer } from '../helpers/temporal';
import { startMission, startTestWorkers } from '../helpers/worker';
import { until } from '../helpers/poll';

let env: TestWorkflowEnvironment;
let workers: Awaited<ReturnType<typeof startTestWorkers>> | undefined;
const taskQueue = 'flotilla-story-it';

beforeAll(async () => {
  env = await startDevServer();
  workers = await startTestWorkers(env, taskQueue, 'story-it', tempDir('flotilla-home-'));
}, 180_000);

afterAll(async () => {
  await workers?.stop();
  await env?.teardown();
});

/** The workflow's current details, as the Web UI gets them (the SDK's built-in metadata query). */
async function currentDetails(handle: WorkflowHandle): Promise<string> {
  const meta = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  return meta.currentDetails ?? '';
}

/** Workflow ids the visibility store gives for `query` (it is eventually consistent: waits up to 20 s for `want`). */
async function listIds(client: Client, query: string, want: (ids: string[]) => boolean): Promise<string[]> {
  let ids: string[] = [];
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    ids = [];
    for await (const wf of client.workflow.list({ query })) ids.push(wf.workflowId);
    if (want(ids)) break;
    await new Promise((r) => setTimeout(r, 300));
  }
  return ids.sort();
}

/** Polls `pred` until it holds (at most 20 s). */

/** The summaries of the activities a workflow scheduled, in order (user metadata in history). */
async function activitySummaries(client: Client, workflowId: string): Promise<string[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const converter = client.options.loadedDataConverter.payloadConverter;
  return (history.events ?? [])
    .filter((e) => e.activityTaskScheduledEventAttributes || e.timerStartedEventAttributes)
    .map((e) => (e.userMetadata?.summary ? String(converter.fromPayload(e.userMetadata.summary)) : ''));
}

test('a running, then finished mission: details, summaries and search attributes follow it', async () => {
  const repo = makeRepo();
  const release = path.join(tempDir('flotilla-story-'), 'release');
  const spec = mission(
    'story-run',
    repo,
    [
      task('quick', 'echo quick > quick.txt'),
      task('slow', `while [ ! -f '${release}' ]; do sleep 0.2; done; echo slow > slow.txt`, {
        title: 'A slow | task',
        verify: ['test -f slow.txt'],
      }),
    ],
    { verify: ['true'] },
  );
  const handle = await startMission(env, taskQueue, spec);
  await waitFor(env.client, spec.id, (p) => p.tasks[0].status === 'merged');
  const p = await progress(env.client, spec.id);
  expect(p.tasks[1].status).toBe('running');

  const running = await currentDetails(handle);
  expect(running).toMatch(/^\*\*running\*\* · 1 of 2 merged \(50%\) · 1 running/);
  expect(running).toMatch(/\| `quick` \| ✔ merged \| 1 \| \d+(ms|s) \| {2}\| {2}\| `[0-9a-f]{8}` \| {2}\|/);
  expect(running).toMatch(/\| `slow` \| ▶ running \| {2}\| since \d\d:\d\d:\d\d \|/);
  expect(running).toContain('**Merge queue**');
  const slow = env.client.workflow.getHandle(names.taskWorkflowId(spec.id, 'slow'));
  await until(
    'the agent running in the details',
    async () => (await currentDetails(slow)).startsWith('**agent running (command)**'),
    20_000,
  );
  expect(await currentDetails(slow)).toMatch(/ · iteration 1 of 1 · agent run 1\n/);
  expect(await slow.describe().then((d) => d.staticSummary())).toBe('A slow | task · command');

  // Visibility: the mission at 50 %, its two task workflows with their runtime.
  const mid = `${SEARCH_ATTRIBUTES.missionId} = '${spec.id}' AND WorkflowType = 'missionWorkflow'`;
  expect(await listIds(env.client, `${mid} AND ${SEARCH_ATTRIBUTES.progress} = 50`, (x) => x.length === 1)).toEqual([
    handle.workflowId,
  ]);
  const tasksQuery = `${SEARCH_ATTRIBUTES.missionId} = '${spec.id}' AND ${SEARCH_ATTRIBUTES.taskId} IS NOT NULL AND ${SEARCH_ATTRIBUTES.runtime} = 'command' AND ${SEARCH_ATTRIBUTES.repo} = '${repo}'`;
  expect(await listIds(env.client, tasksQuery, (x) => x.length === 2)).toEqual([
    names.taskWorkflowId(spec.id, 'quick'),
    names.taskWorkflowId(spec.id, 'slow'),
  ]);

  writeFileSync(release, '');
  const result = await missionResult(handle);
  expect(result.phase).toBe('completed');
  const done = await currentDetails(handle);
  expect(done).toMatch(/^\*\*completed\*\* · 2 of 2 merged \(100%\)/);
  expect(done).toContain('> **Next**: `flotilla land story-run`');
  expect(await currentDetails(slow)).toMatch(/^\*\*succeeded\*\* · iteration 1 of 1/);
  expect(await currentDetails(slow)).toContain('**Gate**: passed at iteration 1');
  const finished = `${mid} AND ${SEARCH_ATTRIBUTES.progress} = 100 AND ${SEARCH_ATTRIBUTES.phase} = 'completed'`;
  expect(await listIds(env.client, finished, (x) => x.length === 1)).toEqual([handle.workflowId]);

  // The event histories read as a log.
  const missionLog = await activitySummaries(env.client, handle.workflowId);
  expect(missionLog).toEqual(
    expect.arrayContaining([
      `claim the host of ${repo}`,
      'flotilla/story-run/integration from main',
      expect.stringMatching(/^merge 1 onto [0-9a-f]{8} \(batch 1\): quick$/),
      expect.stringMatching(/^verify `true` on batch 1 at [0-9a-f]{8}$/),
      expect.stringMatching(/^publish [0-9a-f]{8} to flotilla\/story-run\/integration: quick$/),
    ]),
  );
  expect(missionLog.filter((s) => s === '')).toEqual([]);
  const taskLog = await activitySummaries(env.client, slow.workflowId);
  expect(taskLog).toEqual([
    expect.stringMatching(/^worktree for slow from [0-9a-f]{8}$/),
    // The agent's attempt commits the work (no commit activity after it).
    'command · slow · iteration 1, run 1',
    'gate `test -f slow.txt` · slow · iteration 1',
    "release slow's slot and ports",
  ]);
}, 90_000);

test('a blocked mission says why and what unblocks it, and is found by its phase', async () => {
  const repo = makeRepo();
  const spec = mission('story-blocked', repo, [task('one', 'echo one > one.txt')], {
    verify: ['false'],
    policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'fail', onVerifyFailure: 'pause' },
  });
  const handle = await startMission(env, taskQueue, spec);
  await waitFor(env.client, spec.id, (p) => p.phase === 'blocked');
  const details = await currentDetails(handle);
  expect(details).toMatch(/^\*\*blocked\*\*/);
  expect(details).toMatch(/> \*\*Blocked\*\*: mission verify `false` failed/);
  expect(details).toContain('> **Next**: `flotilla resume story-blocked` · `flotilla skip story-blocked one`');
  const blocked = `${SEARCH_ATTRIBUTES.phase} = 'blocked' AND ${SEARCH_ATTRIBUTES.repo} = '${repo}'`;
  expect(await listIds(env.client, blocked, (x) => x.length === 1)).toEqual([handle.workflowId]);
  await handle.terminate('test over');
}, 60_000);
