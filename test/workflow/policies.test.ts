/**
 * The mission's policies, run by the real workflows on a dev server with fake activities: the
 * data flow of a plain mission, onTaskFailure (stop-all, stop-wave), onMergeConflict: pause (a
 * block lifted by `skip` of that task, or by `resume`), onVerifyFailure: revert, and the budget.
 * Each test asserts the outcome and what the fakes were asked to do.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { RunAgentInput } from '../../src/activities/agent';
import { resumeSignal, skipUpdate } from '../../src/workflows/messages';
import {
  agentResult,
  blockingAgent,
  callsFor,
  deferred,
  FAKE,
  fakeActivities,
  fakeSha,
  inputsOf,
} from '../helpers/fake-activities';
import { fakeMission, fakeTask, taskOf, workflowSuite } from '../helpers/workflow-suite';
import { names } from '../../src/mission/types';

const suite = workflowSuite();
const branch = (missionId: string, taskId: string) => names.taskBranch(missionId, taskId);
const never = new Promise<never>(() => undefined);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a two-wave mission: every activity on the host queue, each wave starts from the merges before it', async () => {
  const spec = fakeMission('flow', [fakeTask('a'), fakeTask('b'), fakeTask('c', ['a', 'b'])]);
  const fakes = fakeActivities();
  const { mission: m, ...result } = await suite.run(spec, fakes);

  expect(result.phase).toBe('completed');
  expect(await m.status()).toBe('COMPLETED');
  expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
    ['a', 'merged'],
    ['b', 'merged'],
    ['c', 'merged'],
  ]);
  // claimHost on the shared queue; everything else where claimHost sent it.
  expect(m.runs.filter((r) => r.activity === 'claimHost').map((r) => r.taskQueue)).toEqual([m.taskQueue]);
  const elsewhere = m.runs.filter((r) => r.activity !== 'claimHost');
  expect(elsewhere.length).toBeGreaterThan(0);
  expect(new Set(elsewhere.map((r) => r.taskQueue))).toEqual(new Set([FAKE.hostQueue]));

  expect(inputsOf(fakes.prepareIntegration)).toEqual([
    expect.objectContaining({ missionId: 'flow', repo: spec.repo, baseBranch: 'main', baseSha: null }),
  ]);
  // Wave 0 starts from the base; wave 1 from the integration branch after a and b merged.
  expect(Object.fromEntries(inputsOf(fakes.prepareWorktree).map((i) => [i.taskId, i.baseSha]))).toEqual({
    a: FAKE.baseSha,
    b: FAKE.baseSha,
    c: FAKE.mergeSha(branch('flow', 'b')),
  });
  expect(inputsOf(fakes.mergeBranch).map((i) => [i.taskId, i.branch, i.worktree])).toEqual(
    ['a', 'b', 'c'].map((id) => [id, branch('flow', id), FAKE.integrationWorktree('flow')]),
  );
  expect(inputsOf(fakes.runAgent).map((i) => [i.taskId, i.prompt, i.iteration, i.resumeSessionId])).toEqual(
    expect.arrayContaining(['a', 'b', 'c'].map((id) => [id, `do ${id}`, 1, null])),
  );
  expect(fakes.runAgent).toHaveBeenCalledTimes(3);
  expect(fakes.runChecks).not.toHaveBeenCalled();
  expect(fakes.snapshot).not.toHaveBeenCalled();
  expect(fakes.resetIntegration).not.toHaveBeenCalled();

  expect(result.baseSha).toBe(FAKE.baseSha);
  expect(result.integrationSha).toBe(FAKE.mergeSha(branch('flow', 'c')));
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

test('onTaskFailure stop-all: a failure cancels the running sibling and no later wave starts', async () => {
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
  const spec = fakeMission('stop-all', [fakeTask('bad'), fakeTask('slow'), fakeTask('later', ['slow'])], {
    policy: { onTaskFailure: 'stop-all', onMergeConflict: 'pause', onVerifyFailure: 'fail' },
  });
  const { mission: m, ...result } = await suite.run(spec, fakes);

  expect(result.phase).toBe('failed');
  expect(await m.status()).toBe('FAILED');
  expect(result.reason).toBe('task bad failed (onTaskFailure: stop-all)');
  expect(taskOf(result, 'bad').status).toBe('failed');
  expect(taskOf(result, 'bad').error).toContain('the agent exploded');
  expect(taskOf(result, 'slow').status).toBe('cancelled');
  expect(taskOf(result, 'later').status).toBe('skipped');
  expect(result.waves.map((w) => w.status)).toEqual(['cancelled', 'skipped']);
  // The running agent was stopped (the fake saw the cancellation) and its work snapshotted.
  expect(cancelled).toEqual(['slow']);
  expect(inputsOf(fakes.snapshot).map((i) => [i.taskId, i.note])).toEqual(
    expect.arrayContaining([
      ['bad', '[incomplete]'],
      ['slow', '[cancelled]'],
    ]),
  );
  // Nothing of the later wave ran, and nothing was merged.
  expect(callsFor(fakes.prepareWorktree, 'later')).toEqual([]);
  expect(callsFor(fakes.runAgent, 'later')).toEqual([]);
  expect(fakes.mergeBranch).not.toHaveBeenCalled();
  expect(m.runs.some((r) => r.workflowId === names.taskWorkflowId('stop-all', 'later'))).toBe(false);
});

test('onTaskFailure stop-wave: the wave finishes and merges, nothing new starts', async () => {
  const okRelease = deferred();
  const okCancelled: string[] = [];
  const fakes = fakeActivities({
    async runAgent(input: RunAgentInput) {
      if (input.taskId === 'bad') throw ApplicationFailure.nonRetryable('the agent gave up', 'AgentFailed');
      if (input.taskId === 'ok') return blockingAgent(okRelease.promise, (i) => okCancelled.push(i.taskId))(input);
      return agentResult(input);
    },
  });
  // concurrency 2: `third` waits for a slot that bad's failure frees, and must not take it.
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
  expect(taskOf(result, 'third').error).toContain('onTaskFailure: stop-wave');
  expect(okCancelled).toEqual([]);
  expect(inputsOf(fakes.mergeBranch).map((i) => i.taskId)).toEqual(['ok']);
  expect(result.integrationSha).toBe(FAKE.mergeSha(branch('stop-wave', 'ok')));
  for (const id of ['third', 'later']) {
    expect(callsFor(fakes.prepareWorktree, id)).toEqual([]);
    expect(callsFor(fakes.runAgent, id)).toEqual([]);
  }
});

const conflictOn = (taskId: string) =>
  fakeActivities({
    async mergeBranch(input) {
      if (input.taskId === taskId) return { status: 'conflict', files: ['x.txt'], message: 'merge conflict in x.txt' };
      return { status: 'merged', sha: FAKE.mergeSha(input.branch), alreadyMerged: false };
    },
  });

test('onMergeConflict pause: the mission blocks on the conflict; `skip` of that task unblocks it', async () => {
  const fakes = conflictOn('b');
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
  // Blocked: the next wave waits.
  await sleep(300);
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
  // The skipped branch is not merged again; d starts from a's merge; c never runs.
  expect(inputsOf(fakes.mergeBranch).map((i) => i.taskId)).toEqual(['a', 'b', 'd']);
  expect(callsFor(fakes.prepareWorktree, 'd').map((i) => i.baseSha)).toEqual([
    FAKE.mergeSha(branch('conflict-skip', 'a')),
  ]);
  expect(callsFor(fakes.runAgent, 'c')).toEqual([]);
});

test('onMergeConflict pause: skipping an unrelated task does not unblock; `resume` merges again', async () => {
  const fakes = conflictOn('b');
  const spec = fakeMission('conflict-resume', [fakeTask('a'), fakeTask('b'), fakeTask('c', ['b'])], {
    policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'pause', onVerifyFailure: 'fail' },
  });
  const m = await suite.start(spec, fakes);
  await m.waitFor((p) => p.phase === 'blocked', 'the conflict to block the mission');
  // c is pending (not what the block waits for): skipping it leaves the mission blocked.
  expect(await m.handle.executeUpdate(skipUpdate, { args: [{ taskId: 'c' }] })).toEqual({
    taskId: 'c',
    was: 'pending',
    skipped: [],
  });
  await sleep(300);
  expect((await m.progress()).phase).toBe('blocked');
  expect(callsFor(fakes.mergeBranch, 'b')).toHaveLength(1);

  // The user fixed the branch: the next merge succeeds.
  fakes.mergeBranch.mockImplementation(async (input) => ({
    status: 'merged',
    sha: FAKE.mergeSha(input.branch),
    alreadyMerged: false,
  }));
  await m.handle.signal(resumeSignal);
  const result = await m.result();
  expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
    ['a', 'merged'],
    ['b', 'merged'],
    ['c', 'skipped'],
  ]);
  expect(callsFor(fakes.mergeBranch, 'b')).toHaveLength(2);
  expect(result.integrationSha).toBe(FAKE.mergeSha(branch('conflict-resume', 'b')));
  expect(result.phase).toBe('failed'); // c was skipped by the user
});

// Issue 8: "Skipping any task in `conflict` lifts any block, even a failed mission verify": the
// skip handler bumped one counter every block waited on, so skipping a task left in `conflict`
// (onMergeConflict: fail) re-ran a mission verify blocked by onVerifyFailure: pause.
test('a blocked mission verify is not lifted by skipping another task in conflict', async () => {
  const fakes = conflictOn('b');
  fakes.runChecks.mockResolvedValue({
    ok: false,
    failed: { command: 'npm test', exitCode: 1, outputTail: '1 failing', timedOut: false },
  });
  const spec = fakeMission('verify-block', [fakeTask('a'), fakeTask('b')], {
    verify: ['npm test'],
    policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'fail', onVerifyFailure: 'pause' },
  });
  const m = await suite.start(spec, fakes);
  const blocked = await m.waitFor((p) => p.phase === 'blocked', 'the failing verify to block the mission');
  expect(blocked.reason).toContain('mission verify `npm test` failed after wave 0');
  expect(taskOf(blocked, 'b').status).toBe('conflict');
  await m.handle.executeUpdate(skipUpdate, { args: [{ taskId: 'b' }] });
  await sleep(600);
  // Still blocked on the verify, which has not run again (only `resume` re-runs it).
  expect(fakes.runChecks).toHaveBeenCalledTimes(1);
  expect((await m.progress()).phase).toBe('blocked');
});

test('onVerifyFailure revert: the failing wave is reset to the SHA before it, its tasks failed', async () => {
  const fakes = fakeActivities();
  fakes.runChecks.mockResolvedValueOnce({ ok: true, failed: null }).mockResolvedValueOnce({
    ok: false,
    failed: { command: 'npm test', exitCode: 1, outputTail: '1 failing', timedOut: false },
  });
  const spec = fakeMission('revert', [fakeTask('a'), fakeTask('b', ['a']), fakeTask('c', ['b'])], {
    verify: ['npm test'],
    policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'pause', onVerifyFailure: 'revert' },
  });
  const result = await suite.run(spec, fakes);

  const afterA = FAKE.mergeSha(branch('revert', 'a'));
  expect(inputsOf(fakes.runChecks).map((i) => [i.cwd, i.commands])).toEqual([
    [FAKE.integrationWorktree('revert'), ['npm test']],
    [FAKE.integrationWorktree('revert'), ['npm test']],
  ]);
  expect(inputsOf(fakes.resetIntegration)).toEqual([
    expect.objectContaining({ worktree: FAKE.integrationWorktree('revert'), sha: afterA }),
  ]);
  expect(result.integrationSha).toBe(afterA);
  expect(result.phase).toBe('failed');
  expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
    ['a', 'merged'],
    ['b', 'failed'],
    ['c', 'skipped'],
  ]);
  expect(taskOf(result, 'b').error).toBe(
    "mission verify `npm test` failed after wave 1 (exit 1); the wave's merges were reverted",
  );
  expect(callsFor(fakes.runAgent, 'c')).toEqual([]);
});

test('budget: passing budget.usd pauses the mission once with the reason; resume goes on', async () => {
  const fakes = fakeActivities({
    async runAgent(input: RunAgentInput) {
      return agentResult(input, { costUsd: 0.02, sessionCostUsd: 0.02 });
    },
  });
  const spec = fakeMission('budget', [fakeTask('a'), fakeTask('b'), fakeTask('c', ['a']), fakeTask('d', ['c'])], {
    budgetUsd: 0.03,
  });
  const m = await suite.start(spec, fakes);
  const paused = await m.waitFor(
    (p) => p.phase === 'paused' && p.counts.merged === 2,
    'the budget to pause the mission after wave 0 merged',
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
  expect(inputsOf(fakes.mergeBranch).map((i) => i.taskId)).toEqual(['y', 'y2']);
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
  expect(fakes.mergeBranch).not.toHaveBeenCalled();
});
