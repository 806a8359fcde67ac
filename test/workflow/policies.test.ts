/**
 * The mission's policies, run by the real workflows on a dev server with fake activities: the
 * data flow of a plain mission through the merge queue, onTaskFailure (stop-all, stop-wave,
 * skip-dependents), onMergeConflict: pause (a block lifted by `skip` of that task, or by
 * `resume`), onVerifyFailure: pause and revert (applied to the culprit), and the budget.
 * Each test asserts the outcome and what the fakes were asked to do.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Activities } from '../../src/activities';
import type { RunAgentInput } from '../../src/activities/agent';
import type { QueueMergeInput } from '../../src/git/merge-queue-types';
import { resumeSignal, skipUpdate } from '../../src/workflows/messages';
import {
  agentResult,
  blockingAgent,
  callsFor,
  deferred,
  eventually,
  FAKE,
  fakeActivities,
  heartbeatUntil,
  fakeSha,
  inputsOf,
} from '../helpers/fake-activities';
import { fakeMission, fakeTask, taskOf, workflowSuite } from '../helpers/workflow-suite';
import { names } from '../../src/mission/types';

const suite = workflowSuite();
const branch = (missionId: string, taskId: string) => names.taskBranch(missionId, taskId);
/** The merge commit `queueMerge` makes for `taskId` of `missionId` onto `onto`. */
const merge = (onto: string, missionId: string, taskId: string) => FAKE.queueSha(onto, branch(missionId, taskId));
const merged = (input: QueueMergeInput) =>
  ({ status: 'merged', sha: FAKE.queueSha(input.onto, input.branch), alreadyMerged: false }) as const;
const never = new Promise<never>(() => undefined);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const failing = {
  ok: false,
  failed: { command: 'npm test', exitCode: 1, outputTail: '1 failing', timedOut: false },
} as const;

test('a mission: every activity on the host queue, a dependent starts from its dependencies merged', async () => {
  // b's agent ends once a's merge has begun, so a and b merge in that order, in two batches.
  const aMerging = deferred();
  const fakes = fakeActivities({
    async runAgent(input: RunAgentInput) {
      if (input.taskId === 'b') return blockingAgent(aMerging.promise)(input);
      return agentResult(input);
    },
    async queueMerge(input) {
      if (input.taskId === 'a') aMerging.resolve();
      return merged(input);
    },
  });
  const spec = fakeMission('flow', [fakeTask('a'), fakeTask('b'), fakeTask('c', ['a', 'b'])]);
  const { mission: m, ...result } = await suite.run(spec, fakes);

  expect(result.phase).toBe('completed');
  expect(await m.status()).toBe('COMPLETED');
  expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
    ['a', 'merged'],
    ['b', 'merged'],
    ['c', 'merged'],
  ]);
  expect(result.waves.map((w) => [w.taskIds, w.status])).toEqual([
    [['a', 'b'], 'merged'],
    [['c'], 'merged'],
  ]);
  // claimHost on the shared queue; everything else where claimHost sent it.
  expect(m.runs.filter((r) => r.activity === 'claimHost').map((r) => r.taskQueue)).toEqual([m.taskQueue]);
  const elsewhere = m.runs.filter((r) => r.activity !== 'claimHost');
  expect(elsewhere.length).toBeGreaterThan(0);
  expect(new Set(elsewhere.map((r) => r.taskQueue))).toEqual(new Set([FAKE.hostQueue]));

  expect(inputsOf(fakes.prepareIntegration)).toEqual([
    expect.objectContaining({ missionId: 'flow', repo: spec.repo, baseBranch: 'main', baseSha: null }),
  ]);
  const afterA = merge(FAKE.baseSha, 'flow', 'a');
  const afterB = merge(afterA, 'flow', 'b');
  const afterC = merge(afterB, 'flow', 'c');
  // a and b start from the base; c from the integration branch once both are merged.
  expect(Object.fromEntries(inputsOf(fakes.prepareWorktree).map((i) => [i.taskId, i.baseSha]))).toEqual({
    a: FAKE.baseSha,
    b: FAKE.baseSha,
    c: afterB,
  });
  // Each merge goes onto the candidate ref (compare-and-swap from its tip), no worktree involved.
  const candidate = 'refs/flotilla/candidates/flow';
  expect(inputsOf(fakes.queueMerge).map((i) => [i.taskId, i.branch, i.onto, i.ref, i.expected])).toEqual([
    ['a', branch('flow', 'a'), FAKE.baseSha, candidate, null],
    ['b', branch('flow', 'b'), afterA, candidate, afterA],
    ['c', branch('flow', 'c'), afterB, candidate, afterB],
  ]);
  // The integration branch moves to each merge in turn, compare-and-swap from where it was.
  const integration = `refs/heads/${names.integrationBranch('flow')}`;
  expect(inputsOf(fakes.publishRef).map((i) => [i.ref, i.sha, i.expected])).toEqual([
    [integration, afterA, FAKE.baseSha],
    [integration, afterB, afterA],
    [integration, afterC, afterB],
  ]);
  expect(inputsOf(fakes.removeTaskWorktree).map((i) => i.taskId)).toEqual(['a', 'b', 'c']);
  expect(inputsOf(fakes.runAgent).map((i) => [i.taskId, i.prompt, i.iteration, i.resumeSessionId])).toEqual(
    expect.arrayContaining(['a', 'b', 'c'].map((id) => [id, `do ${id}`, 1, null])),
  );
  expect(fakes.runAgent).toHaveBeenCalledTimes(3);
  // No mission verify and no gates: nothing is verified.
  expect(fakes.verifyAt).not.toHaveBeenCalled();
  expect(fakes.runChecks).not.toHaveBeenCalled();
  expect(fakes.snapshot).not.toHaveBeenCalled();

  expect(result.baseSha).toBe(FAKE.baseSha);
  expect(result.integrationSha).toBe(afterC);
  for (const id of ['a', 'b', 'c']) {
    const t = taskOf(result, id);
    expect([t.headSha, t.sessionId, t.attempts, t.diffstat]).toEqual([
      FAKE.headSha(branch('flow', id)),
      FAKE.sessionId(id),
      1,
      FAKE.diffstat,
    ]);
  }
  expect(result.costUsd).toBeCloseTo(3 * FAKE.costUsd, 6);
  expect(result.inputTokens).toBe(3 * FAKE.inputTokens);
});

test('onTaskFailure stop-all: a failure cancels the running sibling and nothing new starts', async () => {
  const slowStarted = deferred();
  const cancelled: string[] = [];
  const fakes = fakeActivities({
    async runAgent(input: RunAgentInput) {
      if (input.taskId === 'slow') {
        slowStarted.resolve();
        return blockingAgent(never, (i) => cancelled.push(i.taskId))(input);
      }
      await slowStarted.promise;
      throw ApplicationFailure.nonRetryable('the agent exploded', 'AgentFailed');
    },
  });
  // concurrency 2: `third` waits for the slot bad's failure frees, and must not take it.
  const spec = fakeMission(
    'stop-all',
    [fakeTask('bad'), fakeTask('slow'), fakeTask('third'), fakeTask('later', ['slow'])],
    { policy: { onTaskFailure: 'stop-all', onMergeConflict: 'pause', onVerifyFailure: 'fail' } },
  );
  const { mission: m, ...result } = await suite.run(spec, fakes);

  expect(result.phase).toBe('failed');
  expect(await m.status()).toBe('FAILED');
  expect(result.reason).toBe('task bad failed (onTaskFailure: stop-all)');
  expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
    ['bad', 'failed'],
    ['slow', 'cancelled'],
    ['third', 'skipped'],
    ['later', 'skipped'],
  ]);
  expect(taskOf(result, 'bad').error).toContain('the agent exploded');
  expect(taskOf(result, 'third').error).toBe('skipped: task bad failed (onTaskFailure: stop-all)');
  // Waves are computed from their tasks: the first holds the failure, the second never ran.
  expect(result.waves.map((w) => w.status)).toEqual(['failed', 'skipped']);
  // The running agent was stopped (the fake saw the cancellation) and its work snapshotted.
  expect(cancelled).toEqual(['slow']);
  expect(inputsOf(fakes.snapshot).map((i) => [i.taskId, i.note])).toEqual(
    expect.arrayContaining([
      ['bad', '[incomplete]'],
      ['slow', '[cancelled]'],
    ]),
  );
  // Nothing else started, and nothing was merged.
  for (const id of ['third', 'later']) {
    expect(callsFor(fakes.prepareWorktree, id)).toEqual([]);
    expect(callsFor(fakes.runAgent, id)).toEqual([]);
    expect(m.runs.some((r) => r.workflowId === names.taskWorkflowId('stop-all', id))).toBe(false);
  }
  expect(fakes.queueMerge).not.toHaveBeenCalled();
  expect(fakes.publishRef).not.toHaveBeenCalled();
  expect(result.integrationSha).toBe(FAKE.baseSha);
});

test('onTaskFailure stop-wave: running tasks finish and merge, nothing new starts', async () => {
  const okRelease = deferred();
  const okCancelled: string[] = [];
  const fakes = fakeActivities({
    async runAgent(input: RunAgentInput) {
      if (input.taskId === 'bad') throw ApplicationFailure.nonRetryable('the agent gave up', 'AgentFailed');
      if (input.taskId === 'ok') return blockingAgent(okRelease.promise, (i) => okCancelled.push(i.taskId))(input);
      return agentResult(input);
    },
  });
  // concurrency 2: `third` waits for a slot that bad's failure frees, and must not take it; `later`
  // must not start even once its dependency `ok` is merged.
  const spec = fakeMission(
    'stop-wave',
    [fakeTask('bad'), fakeTask('ok'), fakeTask('third'), fakeTask('later', ['ok'])],
    { policy: { onTaskFailure: 'stop-wave', onMergeConflict: 'pause', onVerifyFailure: 'fail' } },
  );
  const m = await suite.start(spec, fakes);
  await m.waitFor((p) => taskOf(p, 'bad').status === 'failed', 'bad to fail');
  await sleep(300);
  expect(callsFor(fakes.runAgent, 'third')).toEqual([]);
  okRelease.resolve();
  const result = await m.result();

  expect(result.phase).toBe('failed');
  expect(result.reason).toBe('task bad failed (onTaskFailure: stop-wave)');
  expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
    ['bad', 'failed'],
    ['ok', 'merged'],
    ['third', 'skipped'],
    ['later', 'skipped'],
  ]);
  expect(taskOf(result, 'third').error).toBe('skipped: task bad failed (onTaskFailure: stop-wave)');
  expect(taskOf(result, 'later').error).toBe('skipped: task bad failed (onTaskFailure: stop-wave)');
  expect(okCancelled).toEqual([]);
  const afterOk = merge(FAKE.baseSha, 'stop-wave', 'ok');
  expect(inputsOf(fakes.queueMerge).map((i) => [i.taskId, i.onto])).toEqual([['ok', FAKE.baseSha]]);
  expect(inputsOf(fakes.publishRef).map((i) => i.sha)).toEqual([afterOk]);
  expect(result.integrationSha).toBe(afterOk);
  for (const id of ['third', 'later']) {
    expect(callsFor(fakes.prepareWorktree, id)).toEqual([]);
    expect(callsFor(fakes.runAgent, id)).toEqual([]);
  }
});

/** Fakes whose `queueMerge` of `taskId` conflicts (in x.txt); `overrides` replace other defaults. */
const conflictOn = (taskId: string, overrides: Partial<Activities> = {}) =>
  fakeActivities({
    async queueMerge(input) {
      if (input.taskId === taskId) return { status: 'conflict', files: ['x.txt'], message: 'merge conflict in x.txt' };
      return merged(input);
    },
    ...overrides,
  });

/** A `runAgent` whose run of `taskId` waits for `release`; the others succeed at once. */
const holdAgent = (taskId: string, release: Promise<unknown>) =>
  async function runAgent(input: RunAgentInput) {
    if (input.taskId === taskId) return blockingAgent(release)(input);
    return agentResult(input);
  };

test('onMergeConflict pause: the mission blocks on the conflict; `skip` of that task unblocks it', async () => {
  // a runs until the mission is blocked, so it ends while the block holds.
  const aRelease = deferred();
  const fakes = conflictOn('b', { runAgent: holdAgent('a', aRelease.promise) });
  const spec = fakeMission(
    'conflict-skip',
    [fakeTask('a'), fakeTask('b'), fakeTask('c', ['b']), fakeTask('d', ['a'])],
    {
      policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'pause', onVerifyFailure: 'fail' },
    },
  );
  const m = await suite.start(spec, fakes);
  const blocked = await m.waitFor((p) => p.phase === 'blocked', 'the conflict to block the mission');
  expect(taskOf(blocked, 'b').status).toBe('conflict');
  expect(blocked.reason).toContain('merge conflict in x.txt');
  expect(blocked.reason).toContain('flotilla resume conflict-skip');
  expect(blocked.mergeQueue!.conflicts).toEqual([
    expect.objectContaining({ taskId: 'b', files: ['x.txt'], state: 'blocked' }),
  ]);
  // Blocked: a succeeds but waits in the queue, so d (which needs a merged) does not start.
  aRelease.resolve();
  await m.waitFor((p) => taskOf(p, 'a').status === 'succeeded', 'a to succeed');
  await sleep(300);
  const waiting = await m.progress();
  expect(waiting.phase).toBe('blocked');
  expect(taskOf(waiting, 'a').status).toBe('succeeded');
  expect(waiting.mergeQueue!.queue).toEqual(['a']);
  expect(callsFor(fakes.queueMerge, 'a')).toEqual([]);
  expect(callsFor(fakes.runAgent, 'd')).toEqual([]);

  const skipped = await m.handle.executeUpdate(skipUpdate, { args: [{ taskId: 'b' }] });
  expect(skipped).toEqual({ taskId: 'b', was: 'conflict', skipped: ['c'] });
  const result = await m.result();

  expect(result.phase).toBe('failed');
  expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
    ['a', 'merged'],
    ['b', 'skipped'],
    ['c', 'skipped'],
    ['d', 'merged'],
  ]);
  expect(taskOf(result, 'b').error).toContain('skipped by user (was conflict: merge conflict in x.txt)');
  // The skipped branch is not merged again; a merges onto the base, d starts from a's merge; c never runs.
  const afterA = merge(FAKE.baseSha, 'conflict-skip', 'a');
  expect(inputsOf(fakes.queueMerge).map((i) => [i.taskId, i.onto])).toEqual([
    ['b', FAKE.baseSha],
    ['a', FAKE.baseSha],
    ['d', afterA],
  ]);
  expect(callsFor(fakes.prepareWorktree, 'd').map((i) => i.baseSha)).toEqual([afterA]);
  expect(callsFor(fakes.runAgent, 'c')).toEqual([]);
  expect(result.integrationSha).toBe(merge(afterA, 'conflict-skip', 'd'));
});

test('without a mission verify, a task merged in the same batch before a conflict that blocks is merged at once, not after the block', async () => {
  // a and b run until z's merge has begun, and z's merge waits until both have succeeded: they
  // merge in the next batch together, a then b.
  const zMerging = deferred();
  const bothDone = deferred();
  const fakes = conflictOn('b', {
    async runAgent(input: RunAgentInput) {
      if (input.taskId !== 'z') await heartbeatUntil(zMerging.promise);
      return agentResult(input);
    },
  });
  const conflictFree = fakes.queueMerge.getMockImplementation()!;
  fakes.queueMerge.mockImplementation(async (input) => {
    if (input.taskId === 'z') {
      zMerging.resolve();
      await heartbeatUntil(bothDone.promise);
    }
    return conflictFree(input);
  });
  const spec = fakeMission('batch-block', [fakeTask('z'), fakeTask('a'), fakeTask('b')], {
    concurrency: 3,
    policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'pause', onVerifyFailure: 'fail' },
  });
  const m = await suite.start(spec, fakes);
  await m.waitFor((p) => ['a', 'b'].every((id) => taskOf(p, id).status === 'succeeded'), 'a and b to succeed');
  bothDone.resolve();
  const blocked = await m.waitFor((p) => p.phase === 'blocked', 'the conflict to block the mission');
  expect(inputsOf(fakes.queueMergeBatch).map((i) => i.tasks.map((t) => t.taskId))).toEqual([['z'], ['a', 'b']]);
  expect(taskOf(blocked, 'b').status).toBe('conflict');
  // a is on the integration branch already (the batch merge moved it): merged, its mergedAt set.
  expect(taskOf(blocked, 'a').status).toBe('merged');
  expect(blocked.integrationSha).toBe(merge(merge(FAKE.baseSha, 'batch-block', 'z'), 'batch-block', 'a'));
  await m.handle.executeUpdate(skipUpdate, { args: [{ taskId: 'b' }] });
  expect((await m.result()).tasks.map((t) => [t.id, t.status])).toEqual([
    ['z', 'merged'],
    ['a', 'merged'],
    ['b', 'skipped'],
  ]);
});

test('onMergeConflict pause: skipping an unrelated task does not unblock; `resume` merges again', async () => {
  // b runs until a is merged, so its merge goes onto a's.
  const bRelease = deferred();
  const fakes = conflictOn('b', { runAgent: holdAgent('b', bRelease.promise) });
  const spec = fakeMission('conflict-resume', [fakeTask('a'), fakeTask('b'), fakeTask('c', ['b'])], {
    policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'pause', onVerifyFailure: 'fail' },
  });
  const m = await suite.start(spec, fakes);
  await m.waitFor((p) => taskOf(p, 'a').status === 'merged', 'a to merge');
  bRelease.resolve();
  await m.waitFor((p) => p.phase === 'blocked', 'the conflict to block the mission');
  // c is pending (not what the block waits for): skipping it leaves the mission blocked.
  expect(await m.handle.executeUpdate(skipUpdate, { args: [{ taskId: 'c' }] })).toEqual({
    taskId: 'c',
    was: 'pending',
    skipped: [],
  });
  await sleep(300);
  expect((await m.progress()).phase).toBe('blocked');
  expect(callsFor(fakes.queueMerge, 'b')).toHaveLength(1);

  // The user fixed the branch: the next merge succeeds.
  fakes.queueMerge.mockImplementation(async (input) => merged(input));
  await m.handle.signal(resumeSignal);
  const result = await m.result();
  expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
    ['a', 'merged'],
    ['b', 'merged'],
    ['c', 'skipped'],
  ]);
  // The same merge again, onto a's merge.
  const afterA = merge(FAKE.baseSha, 'conflict-resume', 'a');
  expect(callsFor(fakes.queueMerge, 'b').map((i) => i.onto)).toEqual([afterA, afterA]);
  expect(result.integrationSha).toBe(merge(afterA, 'conflict-resume', 'b'));
  expect(result.phase).toBe('failed'); // c was skipped by the user
  // The conflict shows as resolved by hand once its merge went through.
  expect(result.mergeQueue!.conflicts).toEqual([
    expect.objectContaining({
      taskId: 'b',
      state: 'resolved',
      note: 'resolved by hand on the task branch, then resumed',
    }),
  ]);
});

// Issue 8: "Skipping any task in `conflict` lifts any block, even a failed mission verify": the
// skip handler bumped one counter every block waited on, so skipping a task left in `conflict`
// (onMergeConflict: fail) re-ran a mission verify blocked by onVerifyFailure: pause. Under the
// merge queue the block is the culprit's: only a skip of that task (or `resume`) lifts it.
test('a blocked mission verify is not lifted by skipping another task in conflict', async () => {
  const fakes = conflictOn('b', {
    // a ends once b's merge has conflicted: b's conflict stops the mission, then a's merge breaks verify.
    async runAgent(input: RunAgentInput) {
      if (input.taskId === 'a')
        await eventually(() => callsFor(fakes.queueMerge, 'b').length > 0, "b's merge to conflict");
      return agentResult(input);
    },
  });
  fakes.verifyAt.mockResolvedValue(failing);
  const spec = fakeMission('verify-block', [fakeTask('a'), fakeTask('b')], {
    verify: ['npm test'],
    policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'fail', onVerifyFailure: 'pause' },
  });
  const m = await suite.start(spec, fakes);
  const blocked = await m.waitFor((p) => p.phase === 'blocked', 'the failing verify to block the mission');
  expect(blocked.reason).toContain('mission verify `npm test` failed (exit 1) with a merged');
  expect(blocked.reason).toContain('flotilla skip verify-block a');
  expect(taskOf(blocked, 'b').status).toBe('conflict');
  expect(taskOf(blocked, 'a').error).toMatch(/^breaks mission verify: /);
  // The batch and its rerun, on a's merge.
  const afterA = merge(FAKE.baseSha, 'verify-block', 'a');
  expect(inputsOf(fakes.verifyAt).map((i) => i.sha)).toEqual([afterA, afterA]);

  expect(await m.handle.executeUpdate(skipUpdate, { args: [{ taskId: 'b' }] })).toEqual({
    taskId: 'b',
    was: 'conflict',
    skipped: [],
  });
  await sleep(600);
  // Still blocked on the verify, which has not run again.
  expect(fakes.verifyAt).toHaveBeenCalledTimes(2);
  expect((await m.progress()).phase).toBe('blocked');

  // Skipping the culprit lifts it: nothing is merged, and the mission ends with b's conflict.
  await m.handle.executeUpdate(skipUpdate, { args: [{ taskId: 'a' }] });
  const result = await m.result();
  expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
    ['a', 'skipped'],
    ['b', 'skipped'],
  ]);
  expect(result.phase).toBe('failed');
  expect(result.reason).toBe('task b: merge conflict in x.txt (onMergeConflict: fail)');
  expect(fakes.verifyAt).toHaveBeenCalledTimes(2);
  expect(fakes.publishRef).not.toHaveBeenCalled();
  expect(result.integrationSha).toBe(FAKE.baseSha);
});

test('onVerifyFailure revert: the culprit is failed and never published, its dependents skipped; the rest merges', async () => {
  // Verify fails on any candidate holding b's merge; d ends once b has been dealt with.
  const holds = new Map<string, string[]>([[FAKE.baseSha, []]]);
  const dRelease = deferred();
  const fakes = fakeActivities({
    async queueMerge(input) {
      const r = merged(input);
      holds.set(r.sha, [...(holds.get(input.onto) ?? []), input.taskId]);
      return r;
    },
    async verifyAt(input) {
      return holds.get(input.sha)?.includes('b') ? failing : { ok: true, failed: null };
    },
    runAgent: holdAgent('d', dRelease.promise),
  });
  const spec = fakeMission(
    'revert',
    [fakeTask('a'), fakeTask('b', ['a']), fakeTask('c', ['b']), fakeTask('d', ['a'])],
    {
      verify: ['npm test'],
      policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'pause', onVerifyFailure: 'revert' },
    },
  );
  const m = await suite.start(spec, fakes);
  await m.waitFor((p) => taskOf(p, 'b').status === 'failed', 'b to be failed');
  dRelease.resolve();
  const result = await m.result();

  const afterA = merge(FAKE.baseSha, 'revert', 'a');
  const withB = merge(afterA, 'revert', 'b');
  const afterD = merge(afterA, 'revert', 'd');
  expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
    ['a', 'merged'],
    ['b', 'failed'],
    ['c', 'skipped'],
    ['d', 'merged'],
  ]);
  expect(taskOf(result, 'b').error).toBe(
    'breaks mission verify: mission verify `npm test` failed (exit 1) with b merged',
  );
  expect(taskOf(result, 'c').error).toBe('skipped: depends on b (breaks mission verify)');
  expect(result.phase).toBe('failed');
  expect(result.reason).toBe('not every task merged: b failed, c skipped');
  // Verified on the candidate in the integration worktree: a; b (and its rerun); d onto a.
  expect(inputsOf(fakes.verifyAt).map((i) => [i.worktree, i.sha, i.commands])).toEqual(
    [afterA, withB, withB, afterD].map((sha) => [FAKE.integrationWorktree('revert'), sha, ['npm test']]),
  );
  expect(result.mergeQueue!.verifyRuns.map((r) => [r.kind, r.taskIds.join('+'), r.ok])).toEqual([
    ['batch', 'a', true],
    ['batch', 'b', false],
    ['rerun', 'b', false],
    ['batch', 'd', true],
  ]);
  // The integration branch never held b: nothing to reset, b's worktree is kept.
  expect(inputsOf(fakes.publishRef).map((i) => i.sha)).toEqual([afterA, afterD]);
  expect(result.integrationSha).toBe(afterD);
  expect(inputsOf(fakes.removeTaskWorktree).map((i) => i.taskId)).toEqual(['a', 'd']);
  expect(fakes.runChecks).not.toHaveBeenCalled();
  expect(callsFor(fakes.runAgent, 'c')).toEqual([]);
});

test('budget: passing budget.usd pauses the mission once with the reason; resume goes on', async () => {
  // Merges wait until the budget has paused the mission, so c (which needs a merged) cannot start
  // before b's cost is counted.
  const overBudget = deferred();
  const fakes = fakeActivities({
    async runAgent(input: RunAgentInput) {
      return agentResult(input, { costUsd: 0.02, sessionCostUsd: 0.02 });
    },
    async queueMerge(input) {
      await overBudget.promise;
      return merged(input);
    },
  });
  const spec = fakeMission('budget', [fakeTask('a'), fakeTask('b'), fakeTask('c', ['a']), fakeTask('d', ['c'])], {
    budgetUsd: 0.03,
  });
  const m = await suite.start(spec, fakes);
  await m.waitFor((p) => p.phase === 'paused', 'the budget to pause the mission');
  overBudget.resolve();
  const paused = await m.waitFor(
    (p) => p.phase === 'paused' && p.counts.merged === 2,
    'a and b to merge while the mission is paused',
  );
  expect(paused.reason).toBe('budget of $0.03 reached ($0.04 spent); `flotilla resume budget` to go on');
  expect(paused.costUsd).toBeCloseTo(0.04, 6);
  await sleep(300);
  expect(callsFor(fakes.runAgent, 'c')).toEqual([]);
  expect((await m.progress()).phase).toBe('paused');

  await m.handle.signal(resumeSignal);
  const result = await m.result();
  // Tripped once: c and d ran past the budget without a second pause.
  expect(result.phase).toBe('completed');
  expect(result.costUsd).toBeCloseTo(0.08, 6);
  expect(callsFor(fakes.runAgent, 'd')).toHaveLength(1);
});

test('onTaskFailure skip-dependents: the failed task and its dependents are left out, the rest goes on', async () => {
  const fakes = fakeActivities({
    async runAgent(input: RunAgentInput) {
      if (input.taskId === 'x') throw ApplicationFailure.nonRetryable('no', 'AgentFailed');
      return agentResult(input);
    },
  });
  const spec = fakeMission('skip-deps', [fakeTask('x'), fakeTask('y'), fakeTask('x2', ['x']), fakeTask('y2', ['y'])]);
  const result = await suite.run(spec, fakes);
  expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
    ['x', 'failed'],
    ['y', 'merged'],
    ['x2', 'skipped'],
    ['y2', 'merged'],
  ]);
  expect(taskOf(result, 'x2').error).toBe('skipped: depends on x (failed)');
  // y merges onto the base, y2 starts from y's merge and merges onto it; x never reaches the queue.
  const afterY = merge(FAKE.baseSha, 'skip-deps', 'y');
  expect(inputsOf(fakes.queueMerge).map((i) => [i.taskId, i.onto])).toEqual([
    ['y', FAKE.baseSha],
    ['y2', afterY],
  ]);
  expect(callsFor(fakes.prepareWorktree, 'y2').map((i) => i.baseSha)).toEqual([afterY]);
  expect(result.integrationSha).toBe(merge(afterY, 'skip-deps', 'y2'));
  expect(callsFor(fakes.runAgent, 'x2')).toEqual([]);
  expect(result.phase).toBe('failed');
  expect(result.reason).toBe('not every task merged: x failed, x2 skipped');
});

test('task gate: a failing verify goes back to the same session as the next iteration, then passes', async () => {
  let commits = 0;
  const fakes = fakeActivities({
    // Each iteration commits something new (the gate stops early when the head does not move).
    async checkpoint(input) {
      return { headSha: fakeSha(input.branch, String(++commits)), committed: true, diffstat: FAKE.diffstat };
    },
  });
  fakes.runChecks.mockResolvedValueOnce({
    ok: false,
    failed: { command: 'npm test -- gate', exitCode: 2, outputTail: 'expected 42, got 41', timedOut: false },
  });
  const spec = fakeMission('gate', [fakeTask('g', [], { verify: ['npm test -- gate'], maxIterations: 3 })]);
  const result = await suite.run(spec, fakes);

  expect(result.phase).toBe('completed');
  const runs = callsFor(fakes.runAgent, 'g');
  expect(runs.map((i) => [i.iteration, i.resumeSessionId])).toEqual([
    [1, null],
    [2, FAKE.sessionId('g')],
  ]);
  expect(runs[1].prompt).toContain('Command: npm test -- gate');
  expect(runs[1].prompt).toContain('Exit code: 2');
  expect(runs[1].prompt).toContain('expected 42, got 41');
  expect(runs[1].prompt).toContain('iteration 2 of 3');
  expect(inputsOf(fakes.runChecks).map((i) => [i.cwd, i.commands])).toEqual([
    [FAKE.taskWorktree('gate', 'g'), ['npm test -- gate']],
    [FAKE.taskWorktree('gate', 'g'), ['npm test -- gate']],
  ]);
  const t = taskOf(result, 'g');
  expect([t.iterations, t.attempts, t.headSha]).toEqual([2, 2, fakeSha(branch('gate', 'g'), '2')]);
});

test('task gate: an iteration that changes nothing stops the gate early; the task fails', async () => {
  const fakes = fakeActivities();
  fakes.runChecks.mockResolvedValue({
    ok: false,
    failed: { command: 'make check', exitCode: 1, outputTail: 'nope', timedOut: false },
  });
  const spec = fakeMission('gate-stuck', [fakeTask('g', [], { verify: ['make check'], maxIterations: 5 })]);
  const result = await suite.run(spec, fakes);

  expect(taskOf(result, 'g').status).toBe('failed');
  expect(taskOf(result, 'g').error).toBe(
    'verify `make check` failed (exit 1); iteration 2 changed nothing, so the gate stopped early',
  );
  expect(callsFor(fakes.runAgent, 'g')).toHaveLength(2);
  expect(fakes.queueMerge).not.toHaveBeenCalled();
});
