/**
 * The merge queue, run by the real workflows on a dev server with fake activities: dependents
 * start as soon as their dependencies are merged (not when the wave is), a batch failing verify is
 * rerun once and bisected to its culprit (which `fix` sends back to its agent and `revert` fails),
 * a flaky verify passes on its rerun, `touches` serializes two tasks, and a conflict goes to the
 * resolver agent (accepted, or rejected twice and then blocked until the task is skipped).
 */
import type { RunAgentInput } from '../../src/activities/agent';
import type { QueueMergeInput, QueueMergeResult, VerifyAtInput } from '../../src/git/merge-queue-types';
import type { MissionProgress } from '../../src/mission/progress';
import { temporal } from '@temporalio/proto';
import { names } from '../../src/mission/types';
import { skipUpdate } from '../../src/workflows/messages';
import {
  agentResult,
  blockingAgent,
  deferred,
  eventually,
  FAKE,
  fakeActivities,
  FakeActivities,
  inputsOf,
} from '../helpers/fake-activities';
import { fakeMission, fakeTask, RunningMission, taskOf, workflowSuite } from '../helpers/workflow-suite';

const suite = workflowSuite();
const branch = (missionId: string, taskId: string) => names.taskBranch(missionId, taskId);

/**
 * Fakes that know which tasks each candidate commit holds (so verify can fail exactly when a
 * culprit is in it), and whose agents wait for `release[id]` when one is given.
 */
function queueFakes(
  opts: {
    /** Whether verify fails on a candidate holding `tasks`; `agentRuns(id)`: how often id's agent ran. */
    breaks?: (tasks: string[], call: number, agentRuns: (id: string) => number) => boolean;
    release?: Record<string, Promise<unknown>>;
    verifyGate?: Promise<unknown>;
  } = {},
) {
  const contents = new Map<string, string[]>([[FAKE.baseSha, []]]);
  let verifyCalls = 0;
  const runs = new Map<string, number>();
  const fakes: FakeActivities = fakeActivities({
    async queueMerge(input: QueueMergeInput) {
      const sha = FAKE.queueSha(input.onto, input.branch);
      contents.set(sha, [...(contents.get(input.onto) ?? []), input.taskId]);
      return { status: 'merged', sha, alreadyMerged: false };
    },
    async verifyAt(input: VerifyAtInput) {
      verifyCalls++;
      if (verifyCalls === 1 && opts.verifyGate) await opts.verifyGate;
      const tasks = contents.get(input.sha) ?? [];
      if (opts.breaks?.(tasks, verifyCalls, (id) => runs.get(id) ?? 0))
        return {
          ok: false,
          failed: { command: 'npm test', exitCode: 1, outputTail: `broken with ${tasks.join(',')}`, timedOut: false },
        };
      return { ok: true, failed: null };
    },
    async runAgent(input: RunAgentInput) {
      runs.set(input.taskId, (runs.get(input.taskId) ?? 0) + 1);
      const gate = opts.release?.[input.taskId];
      if (gate) await blockingAgent(gate)(input);
      return agentResult(input);
    },
  });
  return { fakes, contents };
}

const statuses = (p: MissionProgress) => Object.fromEntries(p.tasks.map((t) => [t.id, t.status]));

test('a dependent starts as soon as its dependency is merged, while its wave-mate still runs', async () => {
  const slow = deferred();
  const spec = fakeMission('early', [fakeTask('a'), fakeTask('b'), fakeTask('c', ['b'])]);
  const { fakes } = queueFakes({ release: { a: slow.promise } });
  const m = await suite.start(spec, fakes);
  const p = await m.waitFor((x) => taskOf(x, 'c').status !== 'pending', 'c to start');
  expect(taskOf(p, 'a').status).toBe('running');
  expect(taskOf(p, 'b').status).toBe('merged');
  // c starts from the integration branch with b merged: b's queue merge onto the base.
  await eventually(() => inputsOf(fakes.prepareWorktree).some((i) => i.taskId === 'c'), 'c to prepare its worktree');
  const cStart = inputsOf(fakes.prepareWorktree).find((i) => i.taskId === 'c')!;
  expect(cStart.baseSha).toBe(FAKE.queueSha(FAKE.baseSha, branch('early', 'b')));
  slow.resolve();
  const result = await m.result();
  expect(result.phase).toBe('completed');
  expect(statuses(result)).toEqual({ a: 'merged', b: 'merged', c: 'merged' });
  // Waves stay the plan: c started once its dependencies merged, not once its wave came.
  expect(result.waves.map((w) => w.taskIds)).toEqual([['a', 'b'], ['c']]);
  // The integration branch moved only by publishRef, compare-and-swap from the SHA before.
  const publishes = inputsOf(fakes.publishRef);
  expect(publishes[0]).toEqual(
    expect.objectContaining({ ref: `refs/heads/${names.integrationBranch('early')}`, expected: FAKE.baseSha }),
  );
  expect(publishes.at(-1)!.sha).toBe(result.integrationSha);
  // Each task's workflow describes itself in the Web UI: a line for the list, prompt and gate on its page.
  const child = await suite.env().client.workflow.getHandle(names.taskWorkflowId('early', 'c')).describe();
  expect(await child.staticSummary()).toBe('Task c · command');
  expect(await child.staticDetails()).toContain('**Depends on**: b');
  // Merged worktrees are removed (keepWorktrees is false).
  expect(
    inputsOf(fakes.removeTaskWorktree)
      .map((i) => i.taskId)
      .sort(),
  ).toEqual(['a', 'b', 'c']);
});

/**
 * A warm-up task `w` goes first; its batch's verify waits until the four others have succeeded,
 * so they form one batch of four.
 */
async function batchOfFour(
  id: string,
  policy: 'fix' | 'revert',
  breaks: (tasks: string[], call: number, agentRuns: (id: string) => number) => boolean,
  size = 4,
): Promise<{ m: RunningMission; fakes: FakeActivities; result: MissionProgress }> {
  const allDone = deferred();
  const four = Array.from({ length: size }, (_, i) => `t${i + 1}`);
  const release = deferred();
  const spec = fakeMission(
    id,
    [fakeTask('w'), ...four.map((t) => fakeTask(t, [], { maxIterations: 2 })), fakeTask('after3', ['t3'])],
    { concurrency: size + 1, verify: ['npm test'], policy: { ...fakeMission(id, []).policy, onVerifyFailure: policy } },
  );
  const { fakes } = queueFakes({
    breaks,
    verifyGate: allDone.promise,
    release: Object.fromEntries(four.map((t) => [t, release.promise])),
  });
  const m = await suite.start(spec, fakes);
  await m.waitFor((p) => taskOf(p, 'w').status !== 'running' && p.mergeQueue?.batch !== null, 'w in a batch');
  release.resolve();
  await m.waitFor((p) => four.every((t) => taskOf(p, t).status === 'succeeded'), 'the four to succeed');
  allDone.resolve();
  return { m, fakes, result: await m.result() };
}

test('a batch of four that fails verify is rerun, bisected to its culprit, and the rest merges (revert)', async () => {
  const { fakes, result } = await batchOfFour('bisect', 'revert', (tasks) => tasks.includes('t3'));
  expect(statuses(result)).toEqual({
    w: 'merged',
    t1: 'merged',
    t2: 'merged',
    t3: 'failed',
    t4: 'merged',
    after3: 'skipped',
  });
  expect(taskOf(result, 't3').error).toMatch(/^breaks mission verify: mission verify `npm test` failed \(exit 1\)/);
  expect(result.phase).toBe('failed');
  const runs = result.mergeQueue!.verifyRuns.filter((r) => r.batch === 2);
  // The batch, its rerun, then bisection over prefixes [t1,t2] (passes) and [t1,t2,t3] (fails).
  expect(runs.map((r) => [r.kind, r.taskIds.join('+'), r.ok])).toEqual([
    ['batch', 't1+t2+t3+t4', false],
    ['rerun', 't1+t2+t3+t4', false],
    ['bisect', 't1+t2', true],
    ['bisect', 't1+t2+t3', false],
  ]);
  // t4 went back to the queue and merged in the next batch, on top of t1 and t2.
  const next = result.mergeQueue!.verifyRuns.filter((r) => r.batch === 3);
  expect(next.map((r) => [r.kind, r.taskIds.join('+'), r.ok])).toEqual([['batch', 't4', true]]);
  expect(fakes.verifyAt).toHaveBeenCalledTimes(1 + 4 + 1);
});

test('a batch merges its whole backlog in one activity: one queueMergeBatch for the four, no queueMerge each', async () => {
  const { fakes, result } = await batchOfFour('onecall', 'revert', () => false);
  expect(Object.values(statuses(result)).every((s) => s === 'merged')).toBe(true);
  const calls = inputsOf(fakes.queueMergeBatch).map((i) => i.tasks.map((t) => t.taskId));
  // w's batch, the four's, after3's: each one activity, however many tasks it holds.
  expect(calls).toEqual([['w'], ['t1', 't2', 't3', 't4'], ['after3']]);
  // And their merged worktrees go in one activity per batch too.
  const removed = inputsOf(fakes.removeTaskWorktrees).map((i) => i.tasks.map((t) => t.taskId));
  expect(removed).toEqual([['w'], ['t1', 't2', 't3', 't4'], ['after3']]);
  // The four go onto w's verified merge, which the candidate ref is expected to hold.
  const w = FAKE.queueSha(FAKE.baseSha, branch('onecall', 'w'));
  expect(inputsOf(fakes.queueMergeBatch)[1]).toMatchObject({ onto: w, expected: w });
});

test('a batch of eight with one culprit takes six verify runs: the batch, its rerun, three bisection steps, the rest', async () => {
  const { result } = await batchOfFour('eight', 'revert', (tasks) => tasks.includes('t5'), 8);
  expect(statuses(result).t5).toBe('failed');
  // w, the seven others, and after3 (its dependency t3 merged).
  expect(Object.entries(statuses(result)).filter(([, s]) => s === 'merged')).toHaveLength(9);
  // after3's own batch comes after: not part of the eight's story.
  const runs = result.mergeQueue!.verifyRuns.filter((r) => r.batch >= 2 && !r.taskIds.includes('after3'));
  expect(runs.map((r) => [r.kind, r.taskIds.length, r.ok])).toEqual([
    ['batch', 8, false],
    ['rerun', 8, false],
    ['bisect', 4, true], // t1..t4 pass
    ['bisect', 6, false], // t1..t6 fail
    ['bisect', 5, false], // t1..t5 fail: t5 is the culprit
    ['batch', 3, true], // t6, t7, t8 merge on top of t1..t4
  ]);
});

test('under fix, the culprit goes back to its agent with the failure and merges once fixed', async () => {
  // t3 breaks verify until its agent has run a second time (the fix).
  const { fakes, result } = await batchOfFour(
    'fix',
    'fix',
    (tasks, _call, runs) => tasks.includes('t3') && runs('t3') < 2,
  );
  expect(result.phase).toBe('completed');
  expect(Object.values(statuses(result)).every((s) => s === 'merged')).toBe(true);
  const t3Agent = inputsOf(fakes.runAgent).filter((i) => i.taskId === 't3');
  expect(t3Agent).toHaveLength(2);
  expect(t3Agent[1].prompt).toMatch(/mission's verification failed/);
  expect(t3Agent[1].prompt).toContain('broken with w,t1,t2,t3');
  expect(t3Agent[1].resumeSessionId).toBe(FAKE.sessionId('t3'));
  // Its branch was brought to the failing candidate first.
  expect(inputsOf(fakes.syncTaskBranch)).toHaveLength(1);
});

test('a flaky verify that passes on its rerun merges the batch', async () => {
  const spec = fakeMission('flaky', [fakeTask('a')], { verify: ['npm test'] });
  const { fakes } = queueFakes({ breaks: (_tasks, call) => call === 1 });
  const result = (await suite.run(spec, fakes)) as MissionProgress;
  expect(result.phase).toBe('completed');
  expect(result.mergeQueue!.verifyRuns.map((r) => [r.kind, r.ok])).toEqual([
    ['batch', false],
    ['rerun', true],
  ]);
});

test('touches: the later of two overlapping tasks starts after the earlier one is merged, from its result', async () => {
  const spec = fakeMission(
    'touch',
    [fakeTask('a', [], { touches: ['src/**'] }), fakeTask('b', [], { touches: ['src/x.ts'], after: ['a'] })],
    { concurrency: 2 },
  );
  const { fakes } = queueFakes();
  const result = (await suite.run(spec, fakes)) as MissionProgress;
  expect(result.phase).toBe('completed');
  const b = inputsOf(fakes.prepareWorktree).find((i) => i.taskId === 'b')!;
  expect(b.baseSha).toBe(FAKE.queueSha(FAKE.baseSha, branch('touch', 'a')));
  expect(taskOf(result, 'b').startedAt! >= taskOf(result, 'a').endedAt!).toBe(true);
});

/**
 * A `queueMerge` fake under which task b's merge conflicts in greet.ts (with a, in b's worktree)
 * and every other merges, reading the branch tip `tip-<task>`.
 */
async function conflictOnB(input: QueueMergeInput): Promise<QueueMergeResult> {
  if (input.taskId === 'b')
    return {
      status: 'conflict',
      files: ['greet.ts'],
      message: 'merge conflict in greet.ts',
      withTasks: ['a'],
      worktree: '/fake/worktrees/b',
    };
  return {
    status: 'merged',
    sha: FAKE.queueSha(input.onto, input.branch),
    alreadyMerged: false,
    tip: `tip-${input.taskId}`,
  };
}

test('a conflict goes to the resolver agent, is checked, and its resolution merges', async () => {
  const spec = fakeMission('resolve', [fakeTask('a'), fakeTask('b', ['a'], { verify: ['npm test -- b'] })], {
    verify: ['npm test'],
    policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'resolve', onVerifyFailure: 'fail' },
  });
  const fakes = fakeActivities({
    queueMerge: conflictOnB,
    async prepareConflict(input) {
      return {
        worktree: `/fake/${input.taskId}.conflict`,
        conflicted: ['greet.ts'],
        remaining: ['greet.ts'],
        mergeBase: FAKE.baseSha,
        branchTip: `tip-${input.taskId}`,
        otherTasks: ['a'],
        oursDiff: '+hello from a',
        theirsDiff: '+hello from b',
        mergedLog: 'flotilla: merge a: Task a',
      };
    },
  });
  const result = (await suite.run(spec, fakes)) as MissionProgress;
  expect(result.phase).toBe('completed');
  const resolver = inputsOf(fakes.runAgent).filter((i) => i.role === 'resolver');
  expect(resolver).toHaveLength(1);
  expect(resolver[0].extraEnv).toEqual({ FLOTILLA_CONFLICTS: 'greet.ts' });
  expect(resolver[0].worktree).toBe('/fake/b.conflict');
  expect(resolver[0].prompt).toContain('do a');
  expect(resolver[0].prompt).toContain('+hello from b');
  // Both tasks' gates and the mission verify ran on the resolution before it was committed.
  expect(inputsOf(fakes.runChecks).find((i) => i.cwd === '/fake/b.conflict')!.commands).toEqual([
    'npm test -- b',
    'npm test',
  ]);
  expect(inputsOf(fakes.commitResolution)).toHaveLength(1);
  expect(result.mergeQueue!.conflicts).toEqual([
    expect.objectContaining({
      taskId: 'b',
      files: ['greet.ts'],
      withTasks: ['a'],
      worktree: '/fake/worktrees/b',
      state: 'resolved',
      attempts: 1,
    }),
  ]);
  const c = result.mergeQueue!.conflicts[0];
  expect(Date.parse(c.endedAt!)).toBeGreaterThanOrEqual(Date.parse(c.startedAt!));
  // Each task's head is the branch tip the queue merged (the task's own result said FAKE.headSha).
  expect([taskOf(result, 'a').headSha, taskOf(result, 'b').headSha]).toEqual(['tip-a', 'tip-b']);
});

test('a resolution rejected twice blocks the mission with the reason; skipping the task lifts it', async () => {
  const spec = fakeMission('reject', [fakeTask('a'), fakeTask('b', ['a'])], {
    policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'resolve', onVerifyFailure: 'fail' },
  });
  const fakes = fakeActivities({
    queueMerge: conflictOnB,
    async checkResolution() {
      return { ok: false, problems: ['conflict markers left in greet.ts (line 3)'] };
    },
  });
  const m = await suite.start(spec, fakes);
  const blocked = await m.waitFor((p) => p.phase === 'blocked', 'the mission to block');
  expect(blocked.reason).toMatch(
    /^task b: merge conflict with a in greet\.ts; the resolver agent could not resolve it \(resolution rejected: conflict markers left in greet\.ts/,
  );
  // Where to work (the task's worktree, which has its branch checked out) and what to run there.
  expect(blocked.reason).toContain(
    "\n  cd /fake/worktrees/b\n  git merge flotilla/reject/integration\n  # edit greet.ts: keep both sides' intent, remove the conflict markers\n  git add -- greet.ts\n  git commit --no-edit\nthen `flotilla resume reject` (or give the task up: `flotilla skip reject b`)",
  );
  expect(blocked.mergeQueue!.conflicts[0]).toMatchObject({ withTasks: ['a'], worktree: '/fake/worktrees/b' });
  const resolver = inputsOf(fakes.runAgent).filter((i) => i.role === 'resolver');
  expect(resolver).toHaveLength(2);
  // The second run is told why the first was rejected.
  expect(resolver[1].prompt).toContain('conflict markers left in greet.ts (line 3)');
  expect(fakes.commitResolution).not.toHaveBeenCalled();
  await eventually(() => fakes.dropConflict.mock.calls.length === 1, 'the conflict worktree to be dropped');
  await m.handle.executeUpdate(skipUpdate, { args: [{ taskId: 'b' }] });
  const result = await m.result();
  expect(statuses(result)).toEqual({ a: 'merged', b: 'skipped' });
});

test("a task reports its agent run to the mission only when it goes on, without waiting for the signal: none from a task that ends, one with a gate's scheduling", async () => {
  const spec = fakeMission('wft', [fakeTask('a'), fakeTask('b', [], { verify: ['true'] })]);
  const { fakes } = queueFakes();
  const m = await suite.start(spec, fakes);
  expect((await m.result()).phase).toBe('completed');
  const { EventType } = temporal.api.enums.v1;
  const eventsOf = async (id: string) =>
    (await suite.env().client.workflow.getHandle(names.taskWorkflowId('wft', id)).fetchHistory()).events ?? [];
  const signalIn = (events: Awaited<ReturnType<typeof eventsOf>>) =>
    events.findIndex((e) => e.eventType === EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED);
  // a ends after its commit: its result carries its usage to the mission, no signal before.
  expect(signalIn(await eventsOf('a'))).toBe(-1);
  // b's gate runs next: the mission hears of the agent's usage now, in the same workflow task.
  const events = await eventsOf('b');
  const signal = signalIn(events);
  expect(signal).toBeGreaterThan(0);
  const next = events[signal + 1];
  expect(next.eventType).toBe(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED);
  expect(next.activityTaskScheduledEventAttributes?.activityType?.name).toBe('runChecks');
});

test('without a mission verify the batch merge moves the integration branch itself: no publishRef activity', async () => {
  const spec = fakeMission('nover', [fakeTask('a'), fakeTask('b')], { concurrency: 2 });
  const { fakes } = queueFakes();
  const m = await suite.start(spec, fakes);
  const result = await m.result();
  expect(statuses(result)).toEqual({ a: 'merged', b: 'merged' });
  const batches = inputsOf(fakes.queueMergeBatch);
  // Each batch publishes onto what the integration branch held after the batch before.
  expect(batches[0].publish).toEqual({ ref: `refs/heads/${names.integrationBranch('nover')}`, expected: FAKE.baseSha });
  const history = await m.handle.fetchHistory();
  const scheduled = (history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name);
  expect(scheduled).not.toContain('publishRef');
  // The integration branch holds the last merge: a later run's prepareIntegration finds it there.
  const last = batches[batches.length - 1];
  expect(inputsOf(fakes.publishRef).map((i) => i.expected)).toContain(last.publish!.expected);
});
