/**
 * A running mission under control, with the real workflows and fake activities: a rate-limited
 * agent waits on a durable timer and resumes its session, `pause --now` stops the agent and
 * `resume` restarts its session (nothing new starts meanwhile), `steer` interrupts it with a
 * message, `retry` runs a failed task again at once, `cancel` stops everything. Each test asserts
 * the outcome and the fakes' calls.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { RunAgentInput } from '../../src/activities/agent';
import { WorkflowFailedError } from '@temporalio/client';
import type { CarriedState, MissionResult } from '../../src/workflows/mission';
import { buildReport } from '../../src/client/report/build';
import { names } from '../../src/mission/types';
import { cancelSignal, pauseSignal, resumeSignal, retryUpdate, steerUpdate } from '../../src/workflows/messages';
import {
  agentFailureDetails,
  agentResult,
  blockingAgent,
  callsFor,
  deferred,
  eventually,
  FAKE,
  fakeActivities,
  heartbeatUntil,
  inputsOf,
} from '../helpers/fake-activities';
import { fakeMission, fakeTask, taskOf, workflowSuite } from '../helpers/workflow-suite';

const suite = workflowSuite();
const never = new Promise<never>(() => undefined);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A runAgent fake whose first call blocks until cancelled (recorded) and whose later calls succeed. */
function firstRunBlocks(taskId: string) {
  const cancelled: RunAgentInput[] = [];
  let runs = 0;
  const fakes = fakeActivities({
    async runAgent(input: RunAgentInput) {
      if (input.taskId === taskId && ++runs === 1) return blockingAgent(never, (i) => cancelled.push(i))(input);
      return agentResult(input);
    },
  });
  return { fakes, cancelled };
}

test('a rate-limited agent waits on a durable timer, then resumes the same session', async () => {
  const startedAt: number[] = [];
  const fakes = fakeActivities({
    async runAgent(input: RunAgentInput) {
      startedAt.push(Date.now());
      if (startedAt.length === 1)
        throw ApplicationFailure.create({
          type: 'AgentRateLimited',
          message: 'rate limited (429)',
          nonRetryable: true,
          details: [agentFailureDetails(input, { sessionId: 'session-limited', retryAfterMs: 1000 })],
        });
      return agentResult(input);
    },
  });
  const m = await suite.start(fakeMission('rate-limit', [fakeTask('rl')]), fakes);
  const waiting = await m.waitFor((p) => taskOf(p, 'rl').error !== null, 'the rate-limit note');
  expect(taskOf(waiting, 'rl').error).toBe('rate limited (429); resuming in 1s');
  expect(taskOf(waiting, 'rl').status).toBe('running');
  const result = await m.result();

  expect(result.phase).toBe('completed');
  const [first, second] = inputsOf(fakes.runAgent);
  expect(inputsOf(fakes.runAgent)).toHaveLength(2);
  expect(first.resumeSessionId).toBeNull();
  expect(second.resumeSessionId).toBe('session-limited');
  expect(second.prompt).toContain('rate limit');
  // The resumed session's totals so far travel with it (the agent counts only the difference).
  expect(second.sessionCostUsd).toBeCloseTo(FAKE.costUsd, 6);
  expect(startedAt[1] - startedAt[0]).toBeGreaterThanOrEqual(950);
  // The wait is a workflow timer of retryAfterMs in the task's history, not an activity retry.
  const history = await suite.env().client.workflow.getHandle(names.taskWorkflowId('rate-limit', 'rl')).fetchHistory();
  const timers = (history.events ?? []).flatMap((e) =>
    e.timerStartedEventAttributes ? [e.timerStartedEventAttributes.startToFireTimeout] : [],
  );
  expect(timers.map((d) => Number(d?.seconds ?? 0) * 1000 + Math.round((d?.nanos ?? 0) / 1e6))).toEqual([1000]);
  // `flotilla report` draws that timer as a rate-limit wait after the limited attempt, which it lists.
  const missionHistory = await suite
    .env()
    .client.workflow.getHandle(names.missionWorkflowId('rate-limit'))
    .fetchHistory();
  const report = buildReport({
    progress: await m.result(),
    missionRuns: [{ workflowId: names.missionWorkflowId('rate-limit'), runId: 'run', history: missionHistory }],
    taskRuns: [{ workflowId: names.taskWorkflowId('rate-limit', 'rl'), runId: 'run', history }],
    now: Date.now(),
  });
  const rl = report.segments.filter((s) => s.row === 'rl' && ['agent', 'rate-limit'].includes(s.kind));
  expect(rl.map((s) => [s.kind, s.outcome])).toEqual([
    ['agent', 'failed'],
    ['rate-limit', 'ok'],
    ['agent', 'ok'],
  ]);
  expect(rl[1].end - rl[1].start).toBeGreaterThanOrEqual(950);
  expect(rl[1].summary).toMatch(/^rate-limit wait until \d\d:\d\d:\d\d UTC · rl$/);
  expect(rl[2].label).toMatch(/resumes its session/);
  expect(report.failures.map((f) => f.message)).toContain(
    'rl: agent attempt 1 failed (AgentRateLimited): rate limited (429)',
  );
  // Both rounds are counted: the limited attempt's usage came with its failure.
  const t = taskOf(result, 'rl');
  expect([t.attempts, t.status, t.error, t.sessionId]).toEqual([2, 'merged', null, 'session-limited']);
  expect(t.costUsd).toBeCloseTo(2 * FAKE.costUsd, 6);
});

test('pause --now stops the running agent; resume restarts its session; dependents wait while paused', async () => {
  const { fakes, cancelled } = firstRunBlocks('h');
  // q's merge waits until the mission is paused: later, which needs q, becomes ready during the pause.
  const pausedNow = deferred();
  fakes.queueMerge.mockImplementation(async (input) => {
    if (input.taskId === 'q') await pausedNow.promise;
    return { status: 'merged', sha: FAKE.queueSha(input.onto, input.branch), alreadyMerged: false };
  });
  const spec = fakeMission('hold', [fakeTask('h'), fakeTask('q'), fakeTask('later', ['q']), fakeTask('next', ['h'])]);
  const m = await suite.start(spec, fakes);
  await eventually(() => callsFor(fakes.runAgent, 'h').length === 1, "h's agent to start");
  await m.waitFor((p) => taskOf(p, 'q').status === 'succeeded', 'q to succeed');
  await m.handle.signal(pauseSignal, { now: true });
  const held = await m.waitFor((p) => taskOf(p, 'h').status === 'pending', 'h to be held');
  expect(held.phase).toBe('paused');
  expect(held.reason).toBe('paused by user (--now)');
  expect(taskOf(held, 'h').error).toContain('paused (--now)');
  expect(cancelled.map((i) => i.taskId)).toEqual(['h']);
  // The merge queue goes on while paused: q merges, but its dependent does not start.
  pausedNow.resolve();
  await m.waitFor((p) => taskOf(p, 'q').status === 'merged', 'q to merge');
  // Held: no new attempt until resume, and nothing new starts.
  await sleep(300);
  expect(callsFor(fakes.runAgent, 'h')).toHaveLength(1);
  expect(callsFor(fakes.prepareWorktree, 'later')).toEqual([]);
  expect((await m.progress()).phase).toBe('paused');

  await m.handle.signal(resumeSignal);
  const result = await m.result();
  expect(result.phase).toBe('completed');
  const runs = callsFor(fakes.runAgent, 'h');
  expect(runs).toHaveLength(2);
  expect(runs[1].resumeSessionId).toBe(FAKE.sessionId('h'));
  expect(runs[1].prompt).toContain('You were paused by the user');
  expect(runs[1].iteration).toBe(1);
  // The same child went on: h was never started a second time (nor failed meanwhile, which would
  // have skipped its dependent).
  expect(callsFor(fakes.prepareWorktree, 'h')).toHaveLength(1);
  expect(taskOf(result, 'next').status).toBe('merged');
  expect(callsFor(fakes.runAgent, 'next')).toHaveLength(1);
  // The stopped attempt's usage counted once, the resumed one's too.
  expect(taskOf(result, 'h').attempts).toBe(2);
  expect(taskOf(result, 'h').costUsd).toBeCloseTo(2 * FAKE.costUsd, 6);
  // later started on resume, from the integration branch with q merged.
  expect(callsFor(fakes.runAgent, 'later')).toHaveLength(1);
  expect(callsFor(fakes.prepareWorktree, 'later').map((i) => i.baseSha)).toEqual([
    FAKE.queueSha(FAKE.baseSha, names.taskBranch('hold', 'q')),
  ]);
  // The held agent's work went through its own attempt's checkpoint, not a `[cancelled]` snapshot.
  expect(fakes.snapshot).not.toHaveBeenCalled();
});

test('steer interrupts the agent and resumes its session with the message', async () => {
  const { fakes, cancelled } = firstRunBlocks('s');
  const m = await suite.start(fakeMission('steer', [fakeTask('s'), fakeTask('idle')]), fakes);
  await eventually(() => callsFor(fakes.runAgent, 's').length === 1, "s's agent to start");
  // Validators reject what cannot be steered before anything enters history.
  await expect(
    m.handle.executeUpdate(steerUpdate, { args: [{ taskId: 'nope', message: 'hi' }] }),
  ).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
  await expect(m.handle.executeUpdate(steerUpdate, { args: [{ taskId: 's', message: '  ' }] })).rejects.toThrow();

  const answer = await m.handle.executeUpdate(steerUpdate, {
    args: [{ taskId: 's', message: 'use tabs, not spaces' }],
  });
  expect(answer).toEqual({ taskId: 's', delivery: 'interrupt' });
  const result = await m.result();

  expect(result.phase).toBe('completed');
  expect(cancelled.map((i) => i.taskId)).toEqual(['s']);
  const runs = callsFor(fakes.runAgent, 's');
  expect(runs).toHaveLength(2);
  expect(runs[1].prompt).toContain('use tabs, not spaces');
  expect(runs[1].resumeSessionId).toBe(FAKE.sessionId('s'));
  // A message is not a gate iteration.
  expect(runs[1].iteration).toBe(1);
  expect(taskOf(result, 's').iterations).toBe(1);
});

test("a queued message's run that fails after the first run released the namespace still ends with releaseNamespace", async () => {
  const release = deferred();
  let runs = 0;
  const fakes = fakeActivities({
    async runAgent(input: RunAgentInput) {
      if (input.taskId !== 's') return agentResult(input);
      if (++runs === 1) {
        await heartbeatUntil(release.promise);
        // The attempt committed and, the task having no gate, released its namespace.
        return { ...agentResult(input), namespaceReleased: true };
      }
      // The message's run reserved the namespace again, then failed.
      throw ApplicationFailure.create({
        type: 'AgentFailed',
        message: 'the agent gave up',
        nonRetryable: true,
        details: [agentFailureDetails(input)],
      });
    },
  });
  const m = await suite.start(fakeMission('ns-steer', [fakeTask('s')]), fakes);
  await eventually(() => callsFor(fakes.runAgent, 's').length === 1, "s's agent to start");
  const answer = await m.handle.executeUpdate(steerUpdate, {
    args: [{ taskId: 's', message: 'one more thing', queue: true }],
  });
  expect(answer).toEqual({ taskId: 's', delivery: 'queued' });
  release.resolve();
  const result = await m.result().catch((err: unknown) => err);
  expect(callsFor(fakes.runAgent, 's')).toHaveLength(2);
  expect(result).toBeDefined();
  // The second run's reservation is ended, not left held by a failed task.
  expect(inputsOf(fakes.releaseNamespace).map((r) => r.taskId)).toEqual(['s']);
});

test('retry runs a failed task again at once, from the integration branch as it is, continuing its session; its dependents follow', async () => {
  const slowRelease = deferred();
  const quickMerged = deferred();
  let badRuns = 0;
  const fakes = fakeActivities({
    async runAgent(input: RunAgentInput) {
      if (input.taskId === 'slow') return blockingAgent(slowRelease.promise)(input);
      if (input.taskId === 'bad' && ++badRuns === 1) {
        // bad fails once quick is merged, so its retry starts from quick's merge.
        await heartbeatUntil(quickMerged.promise);
        throw ApplicationFailure.create({
          type: 'AgentFailed',
          message: 'tests still fail',
          nonRetryable: true,
          details: [agentFailureDetails(input)],
        });
      }
      return agentResult(input);
    },
  });
  const spec = fakeMission('retry', [fakeTask('bad'), fakeTask('slow'), fakeTask('quick'), fakeTask('dep', ['bad'])], {
    concurrency: 3,
  });
  const m = await suite.start(spec, fakes);
  await m.waitFor((p) => taskOf(p, 'quick').status === 'merged', 'quick to merge');
  quickMerged.resolve();
  const failed = await m.waitFor((p) => taskOf(p, 'dep').status === 'skipped', 'bad to fail and dep to be skipped');
  expect(taskOf(failed, 'bad').status).toBe('failed');
  // Only a failed, skipped or cancelled task can be retried.
  await expect(m.handle.executeUpdate(retryUpdate, { args: [{ taskId: 'slow' }] })).rejects.toBeInstanceOf(
    WorkflowUpdateFailedError,
  );

  expect(await m.handle.executeUpdate(retryUpdate, { args: [{ taskId: 'bad' }] })).toEqual({
    taskId: 'bad',
    reopened: ['dep'],
  });
  // No wave to wait for: bad runs again, merges, and dep runs and merges while slow still runs.
  const bothMerged = await m.waitFor(
    (p) => taskOf(p, 'bad').status === 'merged' && taskOf(p, 'dep').status === 'merged',
    'bad and dep to merge',
  );
  expect(taskOf(bothMerged, 'slow').status).toBe('running');
  slowRelease.resolve();
  const result = await m.result();

  expect(result.phase).toBe('completed');
  expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
    ['bad', 'merged'],
    ['slow', 'merged'],
    ['quick', 'merged'],
    ['dep', 'merged'],
  ]);
  const runs = callsFor(fakes.runAgent, 'bad');
  expect(runs).toHaveLength(2);
  expect(runs[1].resumeSessionId).toBe(FAKE.sessionId('bad'));
  expect(runs[1].prompt).toContain('This task ran before and ended without success: tests still fail');
  expect(taskOf(result, 'bad').attempts).toBe(2);
  // The retried task starts from the integration branch as it is now (quick merged), dep after it.
  const merge = (onto: string, id: string) => FAKE.queueSha(onto, names.taskBranch('retry', id));
  const afterQuick = merge(FAKE.baseSha, 'quick');
  const afterBad = merge(afterQuick, 'bad');
  const afterDep = merge(afterBad, 'dep');
  expect(callsFor(fakes.prepareWorktree, 'bad').map((i) => i.baseSha)).toEqual([FAKE.baseSha, afterQuick]);
  expect(callsFor(fakes.prepareWorktree, 'dep').map((i) => i.baseSha)).toEqual([afterBad]);
  expect(inputsOf(fakes.queueMerge).map((i) => [i.taskId, i.onto])).toEqual([
    ['quick', FAKE.baseSha],
    ['bad', afterQuick],
    ['dep', afterBad],
    ['slow', afterDep],
  ]);
  expect(result.integrationSha).toBe(merge(afterDep, 'slow'));
});

// `flotilla cancel`: the `cancel` signal with the reason, then Temporal's cancellation request.
test('cancel stops the running agents, keeps their work, and ends the mission Canceled with its reason', async () => {
  const { fakes, cancelled } = firstRunBlocks('long');
  const m = await suite.start(fakeMission('cancel', [fakeTask('long'), fakeTask('after', ['long'])]), fakes);
  await eventually(() => callsFor(fakes.runAgent, 'long').length === 1, "long's agent to start");
  await m.handle.signal(cancelSignal, { reason: 'changed my mind' });
  // The signal alone only gives the reason (a query sees the state after it): nothing stops yet.
  expect(await m.progress()).toMatchObject({ phase: 'running', reason: null });
  expect(taskOf(await m.progress(), 'long').status).toBe('running');
  await m.handle.cancel();
  const result = await m.result();

  expect(await m.status()).toBe('CANCELLED');
  expect(result.phase).toBe('cancelled');
  expect(result.reason).toBe('changed my mind');
  expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
    ['long', 'cancelled'],
    ['after', 'skipped'],
  ]);
  expect(cancelled.map((i) => i.taskId)).toEqual(['long']);
  expect(result.waves.map((w) => w.status)).toEqual(['cancelled', 'skipped']);
  expect(inputsOf(fakes.snapshot).map((i) => [i.taskId, i.note])).toEqual([['long', '[cancelled]']]);
  expect(fakes.queueMerge).not.toHaveBeenCalled();
  expect(callsFor(fakes.runAgent, 'after')).toEqual([]);
});

// Issue 8: cancelling the mission workflow itself (Web UI, `temporal workflow cancel`) ended it
// Completed; it must end Canceled, after its children stopped their agents.
test('cancelling the workflow itself ends it Canceled after its agents stopped', async () => {
  const { fakes, cancelled } = firstRunBlocks('long');
  const m = await suite.start(fakeMission('wf-cancel', [fakeTask('long')]), fakes);
  await eventually(() => callsFor(fakes.runAgent, 'long').length === 1, "long's agent to start");
  await m.handle.cancel();
  const result = await m.result();
  expect(cancelled.map((i) => i.taskId)).toEqual(['long']);
  expect(await m.status()).toBe('CANCELLED');
  expect(result.phase).toBe('cancelled');
  expect(taskOf(result, 'long').status).toBe('cancelled');
});

// Issue 8: a task whose child workflow fails showed "Child Workflow execution failed" instead of
// its cause (`failureMessage` unwrapped only activity failures).
test("a task whose workflow fails shows the cause, not the child workflow's wrapper", async () => {
  const fakes = fakeActivities({
    async prepareWorktree() {
      throw ApplicationFailure.nonRetryable('no space left on device', 'DiskFull');
    },
  });
  const result = await suite.run(fakeMission('child-fails', [fakeTask('x')]), fakes);
  expect(taskOf(result, 'x').status).toBe('failed');
  expect(taskOf(result, 'x').error).toContain('no space left on device');
});

/**
 * A mission whose x and y fail on their first run (z depends on x): it ends Failed, with the
 * state to reopen it from in its failure's details (what `flotilla retry` reads).
 */
async function endedFailed(missionId: string) {
  const runs = new Map<string, number>();
  const fakes = fakeActivities({
    async runAgent(input: RunAgentInput) {
      const n = (runs.get(input.taskId) ?? 0) + 1;
      runs.set(input.taskId, n);
      if (input.taskId !== 'z' && n === 1)
        throw ApplicationFailure.create({
          type: 'AgentFailed',
          message: `${input.taskId} broke`,
          nonRetryable: true,
          details: [agentFailureDetails(input)],
        });
      return agentResult(input);
    },
  });
  const spec = fakeMission(missionId, [fakeTask('x'), fakeTask('y'), fakeTask('z', ['x'])]);
  const m = await suite.start(spec, fakes);
  const failure = await m.handle.result().then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(failure).toBeInstanceOf(WorkflowFailedError);
  const cause = (failure as WorkflowFailedError).cause as ApplicationFailure;
  expect(cause.type).toBe('MissionFailed');
  const [first, carried] = cause.details as [MissionResult, CarriedState];
  expect(first.tasks.map((t) => [t.id, t.status])).toEqual([
    ['x', 'failed'],
    ['y', 'failed'],
    ['z', 'skipped'],
  ]);
  /** Starts the reopened run, as `flotilla retry <taskId>` does, with the same fakes. */
  const reopen = (taskId: string) => suite.start(spec, fakes, { carried: { ...carried, reopen: taskId } });
  return { fakes, first, reopen };
}

test('retry of a mission that ended failed reopens it: the task and what its failure skipped run again', async () => {
  const { fakes, first, reopen } = await endedFailed('reopen');
  const m = await reopen('x');
  const result = await m.result();

  expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
    ['x', 'merged'],
    ['y', 'failed'],
    ['z', 'merged'],
  ]);
  expect(result.phase).toBe('failed');
  expect(await m.status()).toBe('FAILED');
  expect(result.reason).toBe('not every task merged: y failed');
  const xs = callsFor(fakes.runAgent, 'x');
  expect(xs).toHaveLength(2);
  expect(xs[1].resumeSessionId).toBe(FAKE.sessionId('x'));
  expect(xs[1].prompt).toContain('This task ran before and ended without success: x broke');
  expect(callsFor(fakes.runAgent, 'y')).toHaveLength(1);
  // The reopened run keeps the recorded base and the first run's branches.
  const integrations = inputsOf(fakes.prepareIntegration);
  expect(integrations).toHaveLength(2);
  expect(integrations[1].baseSha).toBe(first.baseSha);
  expect(integrations[1].runId).toBe(integrations[0].runId);
  expect(result.startedAt).toBe(first.startedAt);
});

// Issue 8: "a mission reopened by `retry` counts the whole agent session's cost again (no usage
// carried)": the reopened task must resume its session with the session's totals as its base.
test("a reopened task resumes its session with the session's totals so far", async () => {
  const { fakes, reopen } = await endedFailed('reopen-cost');
  const result = await (await reopen('x')).result();
  const xs = callsFor(fakes.runAgent, 'x');
  expect(xs[1].resumeSessionId).toBe(FAKE.sessionId('x'));
  expect(xs[1].sessionCostUsd ?? 0).toBeCloseTo(FAKE.costUsd, 6);
  // Two agent runs of x, each counted once.
  expect(taskOf(result, 'x').costUsd).toBeCloseTo(2 * FAKE.costUsd, 6);
});

// Issue 8: "a `retry` arriving while a new run is still setting up is rejected": the validator
// must accept it before the reopened run has set up.
test('a retry sent while a reopened mission sets up is accepted', async () => {
  const { fakes, reopen } = await endedFailed('reopen-setup');
  const setup = deferred();
  const prepare = fakes.prepareIntegration.getMockImplementation()!;
  fakes.prepareIntegration.mockImplementationOnce(async (input) => {
    await heartbeatUntil(setup.promise);
    return prepare(input);
  });
  const m = await reopen('x');
  await eventually(() => fakes.prepareIntegration.mock.calls.length === 2, 'the reopened run to set up');
  try {
    expect(await m.handle.executeUpdate(retryUpdate, { args: [{ taskId: 'y' }] })).toEqual({
      taskId: 'y',
      reopened: [],
    });
  } finally {
    setup.resolve();
  }
  const result = await m.result();
  expect(result.tasks.map((t) => t.status)).toEqual(['merged', 'merged', 'merged']);
  expect(await m.status()).toBe('COMPLETED');
});
