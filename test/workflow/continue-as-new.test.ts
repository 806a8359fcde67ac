/**
 * Continue-as-new with fake activities. The mission continues as new at a quiet point (nothing
 * running, nothing waiting to merge) once `workflowInfo().continueAsNewSuggested` is set; the dev server suggests it after a number of
 * history events (`limit.historyCount.suggestContinueAsNew`), so this file's server suggests it
 * after 40 and a five-wave chain crosses it at least once.
 */
import { names } from '../../src/mission/types';
import { progressQuery } from '../../src/workflows/messages';
import { FAKE, fakeActivities, inputsOf } from '../helpers/fake-activities';
import { fakeMission, fakeTask, workflowSuite } from '../helpers/workflow-suite';

const suite = workflowSuite({
  serverArgs: ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=40'],
});

test('a long mission continues as new at quiet points, carrying its state and its branches', async () => {
  const ids = ['w0', 'w1', 'w2', 'w3', 'w4'];
  const spec = fakeMission(
    'can',
    ids.map((id, i) => fakeTask(id, i > 0 ? [ids[i - 1]] : [])),
  );
  const fakes = fakeActivities();
  const m = await suite.start(spec, fakes);
  const result = await m.result();

  expect(result.phase).toBe('completed');
  expect(result.tasks.map((t) => t.status)).toEqual(ids.map(() => 'merged'));
  const executions: Array<{ status: string; runId: string; startTime: Date }> = [];
  for await (const wf of suite
    .env()
    .client.workflow.list({ query: `WorkflowId = '${names.missionWorkflowId('can')}'` }))
    executions.push({ status: wf.status.name, runId: wf.runId, startTime: wf.startTime });
  executions.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
  const runs = executions.map((e) => e.status);
  const continued = runs.filter((s) => s === 'CONTINUED_AS_NEW').length;
  expect(continued).toBeGreaterThanOrEqual(1);
  expect(runs).toHaveLength(continued + 1);

  // Each run claims the host and prepares the integration again, with the base recorded by the
  // first run and the first run's id (owner of the branches and worktrees).
  const integrations = inputsOf(fakes.prepareIntegration);
  expect(integrations).toHaveLength(runs.length);
  expect(fakes.claimHost).toHaveBeenCalledTimes(runs.length);
  expect(integrations.map((i) => i.baseSha)).toEqual([null, ...integrations.slice(1).map(() => FAKE.baseSha)]);
  expect(new Set(integrations.map((i) => i.runId)).size).toBe(1);
  const firstRunId = executions[0].runId;
  expect(integrations[0].runId).toBe(firstRunId);

  // Every task ran and merged once, in order, each from the merge before it (state carried over:
  // the merge queue's candidate and integration SHAs too).
  expect(inputsOf(fakes.runAgent).map((i) => i.taskId)).toEqual(ids);
  expect(inputsOf(fakes.queueMerge).map((i) => i.taskId)).toEqual(ids);
  const heads = [FAKE.baseSha];
  for (const id of ids) heads.push(FAKE.queueSha(heads[heads.length - 1], names.taskBranch('can', id)));
  expect(inputsOf(fakes.prepareWorktree).map((i) => [i.taskId, i.baseSha, i.runId])).toEqual(
    ids.map((id, i) => [id, heads[i], firstRunId]),
  );
  // Each merge goes onto the one before and moves the candidate ref from where the last run left it.
  expect(inputsOf(fakes.queueMerge).map((i) => [i.onto, i.expected])).toEqual(
    ids.map((_, i) => [heads[i], i === 0 ? null : heads[i]]),
  );
  expect(result.integrationSha).toBe(heads[ids.length]);
  expect(result.costUsd).toBeCloseTo(ids.length * FAKE.costUsd, 6);
  // The last run answers the progress query with the whole mission.
  const last = await suite.env().client.workflow.getHandle(names.missionWorkflowId('can')).query(progressQuery);
  expect(last.counts.merged).toBe(ids.length);
});
