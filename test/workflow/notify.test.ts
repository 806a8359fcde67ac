/**
 * `notify:` and the runtime namespaces in the real workflows on a dev server with fake activities:
 * which events a mission sends (budget, completed, landed, failed), with which keys, on which task
 * queue; a mission without `notify:` schedules no `notify` at all; every task releases its
 * namespace when it ends, whatever the outcome.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { RunAgentInput } from '../../src/activities/agent';
import type { NotifySpec } from '../../src/mission/types';
import { resumeSignal } from '../../src/workflows/messages';
import { agentResult, FAKE, fakeActivities, inputsOf } from '../helpers/fake-activities';
import { fakeMission, fakeTask, workflowSuite } from '../helpers/workflow-suite';

const suite = workflowSuite();

const notify: NotifySpec = {
  targets: [
    { on: ['budget', 'completed', 'failed', 'landed'], webhook: { env: 'HOOK_URL' } },
    { on: ['completed'], command: ['true'] },
  ],
  webUi: 'http://ui/m',
  report: 'file:///r.html',
};

test('budget, then completed, then landed: one notify each, keyed by event and count, on the host queue', async () => {
  const fakes = fakeActivities({
    async runAgent(input: RunAgentInput) {
      return agentResult(input, { costUsd: 0.02, sessionCostUsd: 0.02 });
    },
  });
  const spec = fakeMission('told', [fakeTask('a'), fakeTask('b', ['a'])], { budgetUsd: 0.01, notify, land: 'ff' });
  const m = await suite.start(spec, fakes);
  await m.waitFor((p) => p.phase === 'paused', 'the budget to pause the mission');
  await m.handle.signal(resumeSignal);
  const result = await m.result();
  expect(result.phase).toBe('completed');
  // `completed` and `landed` are scheduled in the same workflow task: the worker may start either first.
  const sent = inputsOf(fakes.notify);
  const [budget, ...atEnd] = sent;
  expect([budget.event, budget.key, budget.targets.length]).toEqual(['budget', 'mission-told/budget/1', 1]);
  expect(atEnd.map((n) => [n.event, n.key, n.targets.length]).sort()).toEqual([
    ['completed', 'mission-told/completed/1', 2],
    ['landed', 'mission-told/landed/1', 1],
  ]);
  expect(budget.reason).toMatch(/^budget of \$0.01 reached/);
  expect(atEnd.find((n) => n.event === 'completed')).toMatchObject({
    missionId: 'told',
    webUi: 'http://ui/m',
    report: 'file:///r.html',
  });
  // The webhook's variable is a secret name the worker's redaction learns; never a value.
  expect(budget.redact).toContain('HOOK_URL');
  expect(m.runs.filter((r) => r.activity === 'notify').every((r) => r.taskQueue === FAKE.hostQueue)).toBe(true);
  // Each task released its namespace as it ended, with the mission's run.
  expect(inputsOf(fakes.releaseNamespace).map((r) => r.taskId)).toEqual(['a', 'b']);
});

test('failed: the mission that ends failed says so once; a task that failed released its namespace too', async () => {
  const fakes = fakeActivities({
    async runAgent(input: RunAgentInput) {
      if (input.taskId === 'x') throw ApplicationFailure.nonRetryable('no', 'AgentFailed');
      return agentResult(input);
    },
  });
  const spec = fakeMission('told-fail', [fakeTask('x')], { notify });
  const result = await suite.run(spec, fakes);
  expect(result.phase).toBe('failed');
  expect(inputsOf(fakes.notify).map((n) => [n.event, n.key])).toEqual([['failed', 'mission-told-fail/failed/1']]);
  expect(inputsOf(fakes.releaseNamespace)).toEqual([
    { missionId: 'told-fail', taskId: 'x', runId: expect.any(String) },
  ]);
});

test('a mission without notify schedules no notify; tasks and the verify ask for their namespace', async () => {
  const fakes = fakeActivities();
  const spec = fakeMission('quiet', [fakeTask('a', [], { ports: 2 })], { verify: ['true'], ports: 1 });
  const result = await suite.run(spec, fakes);
  expect(result.phase).toBe('completed');
  expect(fakes.notify).not.toHaveBeenCalled();
  const ns = { missionId: 'quiet', taskId: 'a', runId: expect.any(String), ports: 2 };
  expect(inputsOf(fakes.prepareWorktree)[0].namespace).toEqual(ns);
  expect(inputsOf(fakes.runAgent)[0].namespace).toEqual(ns);
  expect(inputsOf(fakes.verifyAt)[0].namespace).toEqual({ missionId: 'quiet', runId: expect.any(String), ports: 1 });
});
