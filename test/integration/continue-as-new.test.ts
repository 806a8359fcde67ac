/**
 * A long mission continues-as-new at wave boundaries when Temporal suggests it (here the dev
 * server suggests it after a few events), carrying its state: queries and signals keep working,
 * every task merges once, and the integration branch is the same across runs.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { names } from '../../src/mission/types';
import { pauseSignal, resumeSignal } from '../../src/workflows/messages';
import { git, makeRepo } from '../helpers/git';
import { mission, task, waitFor } from '../helpers/missions';
import { startDevServer } from '../helpers/temporal';
import { startMission, startTestWorkers } from '../helpers/worker';
import { missionResult } from '../helpers/outcome';

let env: TestWorkflowEnvironment;
let workers: Awaited<ReturnType<typeof startTestWorkers>> | undefined;
const taskQueue = 'flotilla-can';

beforeAll(async () => {
  env = await startDevServer(undefined, ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=40']);
  workers = await startTestWorkers(env, taskQueue, 'can-it');
}, 180_000);

afterAll(async () => {
  await workers?.stop();
  await env?.teardown();
});

test('a 5-wave mission continues as new at wave boundaries; state, queries and signals carry over', async () => {
  const repo = makeRepo();
  const ids = ['w0', 'w1', 'w2', 'w3', 'w4'];
  const spec = mission(
    'can',
    repo,
    ids.map((id, i) =>
      task(id, `echo ${id} > ${id}.txt${i > 0 ? ` && test -f ${ids[i - 1]}.txt` : ''}`, {
        dependsOn: i > 0 ? [ids[i - 1]] : [],
      }),
    ),
  );
  const handle = await startMission(env, taskQueue, spec);
  // After at least one continue-as-new, pause through the latest run, then resume.
  await waitFor(env.client, 'can', (p) => p.tasks[2].status === 'running' || p.tasks[2].status === 'merged', 60_000);
  await handle.signal(pauseSignal, { reason: 'checking' });
  const paused = await waitFor(
    env.client,
    'can',
    (p) =>
      p.phase === 'paused' &&
      p.counts.running === 0 &&
      p.counts.succeeded === 0 &&
      p.waves.every((w) => w.status !== 'merging' && w.status !== 'verifying'),
    60_000,
  );
  expect(paused.reason).toBe('checking');
  const mergedWhilePaused = paused.counts.merged;
  await new Promise((r) => setTimeout(r, 2000));
  expect((await waitFor(env.client, 'can', () => true)).counts.merged).toBe(mergedWhilePaused);
  await handle.signal(resumeSignal);
  const result = await missionResult(handle);

  expect(result.phase).toBe('completed');
  expect(result.tasks.map((t) => t.status)).toEqual(ids.map(() => 'merged'));
  const runs: string[] = [];
  for await (const wf of env.client.workflow.list({ query: `WorkflowId = 'mission-can'` })) runs.push(wf.status.name);
  expect(runs.filter((s) => s === 'CONTINUED_AS_NEW').length).toBeGreaterThanOrEqual(1);
  // One merge per task, once, on the one integration branch; the base recorded at start kept.
  const integration = names.integrationBranch('can');
  expect(git(repo, 'log', '--merges', '--format=%s', integration).split('\n')).toHaveLength(ids.length);
  expect(result.baseSha).toBe(git(repo, 'rev-parse', 'main'));
  console.log(`continue-as-new: ${runs.length} runs of mission-can`);
});
