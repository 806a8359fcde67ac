/**
 * missionWorkflow and taskWorkflow on a real Temporal dev server, with real git repositories and
 * real agent processes (bash scripts run by the `command` runtime).
 */
import { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { reservations } from '../../src/agents/namespace';
import { names } from '../../src/mission/types';
import { cancelSignal, pauseSignal, resumeSignal } from '../../src/workflows/messages';
import type { MissionResult } from '../../src/workflows/mission';
import { git, makeRepo, tempDir } from '../helpers/git';
import { mission, processAlive, progress, task, waitFor } from '../helpers/missions';
import { replayRecorded } from '../helpers/histories';
import { startDevServer } from '../helpers/temporal';
import { runMission, startMission, startTestWorkers } from '../helpers/worker';
import type { MissionSpec } from '../../src/mission/types';
import { missionResult } from '../helpers/outcome';

let env: TestWorkflowEnvironment;
let workers: Awaited<ReturnType<typeof startTestWorkers>> | undefined;
const taskQueue = 'flotilla-it';
const home = tempDir('flotilla-home-');

beforeAll(async () => {
  env = await startDevServer();
  workers = await startTestWorkers(env, taskQueue, 'it', home);
}, 180_000);

afterAll(async () => {
  await workers?.stop();
  await env?.teardown();
});

const start = (spec: MissionSpec) => startMission(env, taskQueue, spec);

const run = (spec: MissionSpec): Promise<MissionResult> => runMission(env, taskQueue, spec);

/** Every string and payload (decoded as UTF-8) in a history, for searching. */
function historyText(value: unknown): string {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(historyText).join('\n');
  if (value && typeof value === 'object') return Object.values(value).map(historyText).join('\n');
  return '';
}

const writeFile = (file: string, content: string) =>
  `mkdir -p "$(dirname ${file})"; printf '%s\\n' '${content}' > ${file}`;

test('a 2-wave mission completes with one merge per task on the integration branch', async () => {
  const repo = makeRepo();
  const spec = mission('two-waves', repo, [
    task('a', `sleep 1; ${writeFile('a.txt', 'from a')}`),
    task('b', writeFile('b.txt', 'from b')),
    // Wave 1 builds on what wave 0 merged: it fails unless both files are in its worktree.
    task('c', `test -f a.txt && test -f b.txt || { echo "wave 0 not merged" >&2; exit 1; }; cat a.txt b.txt > c.txt`, {
      dependsOn: ['a', 'b'],
    }),
  ]);
  const result = await run(spec);

  expect(result.phase).toBe('completed');
  expect(result.percent).toBe(100);
  expect(result.tasks.map((t) => [t.id, t.status, t.wave])).toEqual([
    ['a', 'merged', 0],
    ['b', 'merged', 0],
    ['c', 'merged', 1],
  ]);
  expect(result.baseSha).toBe(git(repo, 'rev-parse', 'main'));
  const integration = names.integrationBranch('two-waves');
  expect(result.integrationSha).toBe(git(repo, 'rev-parse', integration));
  // One merge per task, a and b as each finished (in either order), c after both.
  const merges = git(repo, 'log', '--merges', '--format=%s', '--reverse', integration).split('\n');
  expect(merges.slice(0, 2).sort()).toEqual(['flotilla: merge a: Task a', 'flotilla: merge b: Task b']);
  expect(merges[2]).toBe('flotilla: merge c: Task c');
  expect(merges).toHaveLength(3);
  expect(git(repo, 'show', `${integration}:c.txt`)).toBe('from a\nfrom b');
  // Each task's work is one commit on its branch, with the message of DESIGN.md.
  expect(git(repo, 'log', '-1', '--format=%s', names.taskBranch('two-waves', 'c'))).toBe('flotilla(c): Task c');
  // The base branch is never touched.
  expect(git(repo, 'rev-parse', 'main')).toBe(result.baseSha);
});

test('a failing task skips its dependents; independent tasks still merge; its work is kept', async () => {
  const repo = makeRepo();
  const spec = mission('skip-deps', repo, [
    task('bad', `echo partial > partial.txt; echo "boom" >&2; exit 3`),
    task('good', writeFile('good.txt', 'ok')),
    task('after-bad', writeFile('x.txt', 'x'), { dependsOn: ['bad'] }),
    task('after-good', writeFile('y.txt', 'y'), { dependsOn: ['good'] }),
  ]);
  const result = await run(spec);
  const status = Object.fromEntries(result.tasks.map((t) => [t.id, t.status]));
  expect(status).toEqual({ bad: 'failed', good: 'merged', 'after-bad': 'skipped', 'after-good': 'merged' });
  expect(result.phase).toBe('failed');
  expect(result.tasks[0].error).toMatch(/exited with code 3: boom/);
  expect(result.tasks[2].error).toMatch(/depends on bad/);
  // Nothing lost: the failed agent's file is in the task's checkpoint ref (the error says where);
  // the task branch itself gets no unfinished commit.
  const ref = names.checkpointRef('skip-deps', 'bad');
  expect(result.tasks[0].error).toContain(`its work is kept in checkpoint ${git(repo, 'rev-parse', ref).slice(0, 12)}`);
  expect(git(repo, 'show', `${ref}:partial.txt`)).toBe('partial');
  expect(git(repo, 'rev-parse', names.taskBranch('skip-deps', 'bad'))).toBe(result.baseSha);
});

test('stop-wave lets the running wave finish and merge, then starts nothing more', async () => {
  const repo = makeRepo();
  const spec = mission(
    'stop-wave',
    repo,
    [
      task('bad', 'exit 1'),
      task('slow', `sleep 2; ${writeFile('slow.txt', 'slow')}`),
      task('next', writeFile('n.txt', 'n'), { dependsOn: ['slow'] }),
    ],
    { policy: { onTaskFailure: 'stop-wave', onMergeConflict: 'fail', onVerifyFailure: 'fail' } },
  );
  const result = await run(spec);
  const status = Object.fromEntries(result.tasks.map((t) => [t.id, t.status]));
  expect(status).toEqual({ bad: 'failed', slow: 'merged', next: 'skipped' });
  expect(result.phase).toBe('failed');
  expect(result.reason).toMatch(/task bad failed \(onTaskFailure: stop-wave\)/);
});

test('stop-all cancels running agents at once and merges nothing', async () => {
  const repo = makeRepo();
  const pidFile = path.join(tempDir(), 'slow.pid');
  const spec = mission(
    'stop-all',
    repo,
    [
      task('bad', 'sleep 1; exit 1'),
      task('slow', `echo $$ > ${pidFile}; sleep 120`),
      task('next', 'true', { dependsOn: ['slow'] }),
    ],
    { policy: { onTaskFailure: 'stop-all', onMergeConflict: 'fail', onVerifyFailure: 'fail' } },
  );
  const t0 = Date.now();
  const result = await run(spec);
  expect(Date.now() - t0).toBeLessThan(30_000);
  const status = Object.fromEntries(result.tasks.map((t) => [t.id, t.status]));
  expect(status).toEqual({ bad: 'failed', slow: 'cancelled', next: 'skipped' });
  expect(processAlive(Number(readFileSync(pidFile, 'utf8')))).toBe(false);
  expect(git(repo, 'log', '--merges', '--format=%s', names.integrationBranch('stop-all'))).toBe('');
});

test('pause holds the next wave until resume', async () => {
  const repo = makeRepo();
  const spec = mission('pause', repo, [
    task('first', `sleep 2; ${writeFile('f.txt', 'f')}`),
    task('second', writeFile('s.txt', 's'), { dependsOn: ['first'] }),
  ]);
  const handle = await start(spec);
  await waitFor(env.client, 'pause', (p) => p.tasks[0].status === 'running');
  await handle.signal(pauseSignal, { reason: 'lunch' });
  // Soft pause: the running task finishes and merges, but the next wave does not start.
  const paused = await waitFor(env.client, 'pause', (p) => p.tasks[0].status === 'merged');
  expect(paused.phase).toBe('paused');
  expect(paused.reason).toBe('lunch');
  await new Promise((r) => setTimeout(r, 3000));
  const still = await progress(env.client, 'pause');
  expect(still.tasks[1].status).toBe('pending');
  expect(still.phase).toBe('paused');
  await handle.signal(resumeSignal);
  const result = await missionResult(handle);
  expect(result.phase).toBe('completed');
  expect(result.tasks.map((t) => t.status)).toEqual(['merged', 'merged']);
});

test("cancel kills a running agent's whole process group and keeps its worktree and branch", async () => {
  const repo = makeRepo();
  const pids = path.join(tempDir(), 'pids');
  // The agent starts a grandchild in the background: cancel must kill it too.
  const spec = mission('cancel', repo, [
    task('long', `sleep 300 & echo $! > ${pids}.child; echo $$ > ${pids}.agent; echo wip > wip.txt; wait`),
    task('later', 'true', { dependsOn: ['long'] }),
  ]);
  const handle = await start(spec);
  await waitFor(env.client, 'cancel', () => existsSync(`${pids}.child`) && existsSync(`${pids}.agent`));
  const agentPid = Number(readFileSync(`${pids}.agent`, 'utf8'));
  const childPid = Number(readFileSync(`${pids}.child`, 'utf8'));
  expect(processAlive(agentPid) && processAlive(childPid)).toBe(true);
  const t0 = Date.now();
  // As `flotilla cancel` does: the reason, then Temporal's cancellation request.
  await handle.signal(cancelSignal, { reason: 'changed my mind' });
  await handle.cancel();
  const result = await missionResult(handle);
  expect(Date.now() - t0).toBeLessThan(15_000);
  expect(result.phase).toBe('cancelled');
  expect(result.reason).toBe('changed my mind');
  expect(result.tasks.map((t) => t.status)).toEqual(['cancelled', 'skipped']);
  expect(processAlive(agentPid)).toBe(false);
  expect(processAlive(childPid)).toBe(false);
  // Worktree and branch stay; what the agent left is in the checkpoint ref, taken as its attempt
  // ended; the task branch gets no unfinished commit.
  const ref = names.checkpointRef('cancel', 'long');
  expect(git(repo, 'log', '-1', '--format=%s', ref)).toMatch(/^flotilla\(long\): checkpoint.*cancelled/);
  expect(git(repo, 'show', `${ref}:wip.txt`)).toBe('wip');
  expect(git(repo, 'rev-parse', names.taskBranch('cancel', 'long'))).toBe(result.baseSha);
  const worktrees = git(repo, 'worktree', 'list', '--porcelain');
  const wt = /worktree (.*\/tasks\/long)$/m.exec(worktrees)?.[1];
  expect(wt && readFileSync(path.join(wt, 'wip.txt'), 'utf8')).toBe('wip\n');
});

test('a workflow cancellation request (Web UI, temporal workflow cancel) ends the mission Canceled after its agents stopped', async () => {
  const repo = makeRepo();
  const pids = path.join(tempDir(), 'pids');
  const spec = mission('cancel-request', repo, [
    task('long', `sleep 300 & echo $! > ${pids}.child; echo wip > wip.txt; wait`),
    task('later', 'true', { dependsOn: ['long'] }),
  ]);
  const handle = await start(spec);
  await waitFor(env.client, 'cancel-request', () => existsSync(`${pids}.child`));
  const childPid = Number(readFileSync(`${pids}.child`, 'utf8'));
  await handle.cancel();
  await expect(handle.result()).rejects.toThrow(/cancel/i);
  expect((await handle.describe()).status.name).toBe('CANCELLED');
  // Canceled only after the task stopped its agent (the activity waits for the group's kill).
  expect(processAlive(childPid)).toBe(false);
  const child = env.client.workflow.getHandle(names.taskWorkflowId('cancel-request', 'long'));
  expect((await child.describe()).status.name).toBe('CANCELLED');
  const result = await missionResult(handle);
  expect(result.phase).toBe('cancelled');
  expect(result.tasks.map((t) => t.status)).toEqual(['cancelled', 'skipped']);
  expect(git(repo, 'show', `${names.checkpointRef('cancel-request', 'long')}:wip.txt`)).toBe('wip');
});

test('a failed mission ends its workflow Failed, with its final progress in the failure', async () => {
  const repo = makeRepo();
  const handle = await start(mission('ends-failed', repo, [task('bad', 'exit 3'), task('good', 'echo ok > ok.txt')]));
  const err = await handle.result().then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
  expect(cause.type).toBe('MissionFailed');
  expect(cause.message).toMatch(/^mission ends-failed failed: not every task merged: bad failed/);
  expect((await handle.describe()).status.name).toBe('FAILED');
  const [progress, carried] = cause.details as [MissionResult, { lastUsage: Record<string, unknown> }];
  expect(progress.phase).toBe('failed');
  expect(progress.tasks.map((t) => t.status)).toEqual(['failed', 'merged']);
  // What a reopen needs to go on counting from the right base.
  expect(Object.keys(carried.lastUsage).sort()).toEqual(['bad', 'good']);
});

test("secrets' values never reach history: agent summary (agent.env), gate and mission verify output (env:), the worker's own", async () => {
  const secret = 'sk-test-9f8e7d6c5b4a';
  const workerOnly = 'svc-token-0a1b2c3d4e';
  process.env.FLOTILLA_IT_SECRET = secret;
  process.env.FLOTILLA_IT_SERVICE_TOKEN = workerOnly;
  try {
    const repo = makeRepo();
    const found = path.join(tempDir(), 'found.txt');
    writeFileSync(found, workerOnly);
    const spec = mission(
      'redact',
      repo,
      [
        task('fine', 'echo fine > fine.txt'),
        task('leaky', '', {
          agent: {
            ...task('x', 'true').agent,
            command: ['bash', '-c', 'echo "my token is $FLOTILLA_IT_SECRET"; echo "$RANDOM" > x.txt'],
            env: ['FLOTILLA_IT_SECRET'],
          },
          verify: [['bash', '-c', 'echo "gate sees $FLOTILLA_IT_SECRET"; test -f ok.txt']],
          maxIterations: 2,
        }),
      ],
      {
        env: ['FLOTILLA_IT_SECRET'],
        // A verify that prints a secret of the worker's it was not given (found some other way).
        verify: [['bash', '-c', `echo "verify sees $FLOTILLA_IT_SECRET and $(cat ${found})"; exit 1`]],
      },
    );
    const result = await run(spec);
    // The verify always fails: `fine` is its culprit (onVerifyFailure: fail); leaky fails its gate.
    expect(result.tasks.map((t) => t.status)).toEqual(['failed', 'failed']);
    expect(result.reason).toMatch(/mission verify/);
    for (const id of [names.missionWorkflowId('redact'), names.taskWorkflowId('redact', 'leaky')]) {
      const history = historyText(await env.client.workflow.getHandle(id).fetchHistory());
      expect(history).not.toContain(secret);
      expect(history).not.toContain(workerOnly);
      // The gate's output went back to the agent, redacted; the verify's is in its result.
      if (id.includes('task-')) expect(history).toContain('gate sees [redacted:FLOTILLA_IT_SECRET]');
      else expect(history).toContain('[redacted:FLOTILLA_IT_SERVICE_TOKEN]');
    }
  } finally {
    delete process.env.FLOTILLA_IT_SECRET;
    delete process.env.FLOTILLA_IT_SERVICE_TOKEN;
  }
});

test('an agent whose worker shuts down (Ctrl-C on run) goes on on the next worker, even with retries: 0', async () => {
  const repo = makeRepo();
  const queue = 'flotilla-it-shutdown';
  const home = tempDir('flotilla-home-');
  const marks = path.join(tempDir(), 'runs');
  // The first run is stopped with its worker; the second finds the first's work and finishes.
  const script = `echo run >> ${marks}; if [ "$(wc -l < ${marks})" -eq 1 ]; then echo half > half.txt; sleep 300; fi; echo done > done.txt`;
  const first = await startTestWorkers(env, queue, 'shutdown-host', home);
  const handle = await startMission(env, queue, mission('shutdown', repo, [task('t', script)]));
  await waitFor(env.client, 'shutdown', () => existsSync(marks));
  await first.stop();
  const second = await startTestWorkers(env, queue, 'shutdown-host', home);
  try {
    const result = await missionResult(handle);
    expect(result.phase).toBe('completed');
    expect(readFileSync(marks, 'utf8').trim().split('\n')).toHaveLength(2);
    const branch = names.taskBranch('shutdown', 't');
    expect(git(repo, 'show', `${branch}:half.txt`)).toBe('half');
    expect(git(repo, 'show', `${branch}:done.txt`)).toBe('done');
  } finally {
    await second.stop();
  }
});

test('a merge conflict marks the task conflict and, with onMergeConflict: fail, fails the mission', async () => {
  const repo = makeRepo({ 'shared.txt': 'base\n' });
  const spec = mission('conflict', repo, [
    task('one', `echo one > shared.txt`),
    // Ends after one, so one is merged first and two's merge meets it.
    task('two', `sleep 1; echo two > shared.txt`),
    task('three', 'true', { dependsOn: ['two'] }),
  ]);
  const result = await run(spec);
  const status = Object.fromEntries(result.tasks.map((t) => [t.id, t.status]));
  expect(status).toEqual({ one: 'merged', two: 'conflict', three: 'skipped' });
  expect(result.tasks[1].error).toBe('merge conflict with one in shared.txt');
  expect(result.phase).toBe('failed');
  expect(result.mergeQueue!.conflicts).toEqual([
    {
      taskId: 'two',
      files: ['shared.txt'],
      withTasks: ['one'],
      worktree: expect.stringMatching(/\/tasks\/two$/),
      state: 'failed',
      attempts: 0,
      note: 'merge conflict with one in shared.txt',
    },
  ]);
  // Nothing of two reached the integration branch, which holds one's merge.
  expect(git(repo, 'show', `${names.integrationBranch('conflict')}:shared.txt`)).toBe('one');
});

test('a merge conflict with onMergeConflict: pause blocks until the branch is fixed and the mission resumed', async () => {
  const repo = makeRepo({ 'shared.txt': 'base\n' });
  const spec = mission(
    'blocked',
    repo,
    [task('one', `echo one > shared.txt`), task('two', `sleep 1; echo two > shared.txt`)],
    {
      policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'pause', onVerifyFailure: 'fail' },
    },
  );
  const handle = await start(spec);
  const blocked = await waitFor(env.client, 'blocked', (p) => p.phase === 'blocked');
  expect(blocked.reason).toMatch(/^task two: merge conflict with one in shared\.txt\n/);
  expect(blocked.tasks[1].status).toBe('conflict');
  // A human resolves in the task's worktree (merging the integration branch into the task
  // branch, keeping the task's side), then resumes.
  const wt = /worktree (.*\/tasks\/two)$/m.exec(git(repo, 'worktree', 'list', '--porcelain'))![1];
  git(wt, 'merge', '--quiet', '-X', 'ours', '-m', 'resolve', names.integrationBranch('blocked'));
  await handle.signal(resumeSignal);
  const result = await missionResult(handle);
  expect(result.phase).toBe('completed');
  expect(git(repo, 'show', `${names.integrationBranch('blocked')}:shared.txt`)).toBe('two');
});

test('mission verify failure with onVerifyFailure: revert fails the culprit, skips its dependents, and never moves the integration branch', async () => {
  const repo = makeRepo();
  const spec = mission(
    'revert',
    repo,
    [task('breaks', `echo broken > broken.txt`), task('after', 'true', { dependsOn: ['breaks'] })],
    {
      verify: ['test ! -f broken.txt'],
      policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'fail', onVerifyFailure: 'revert' },
    },
  );
  const result = await run(spec);
  expect(result.tasks.map((t) => t.status)).toEqual(['failed', 'skipped']);
  expect(result.tasks[0].error).toBe(
    'breaks mission verify: mission verify `test ! -f broken.txt` failed (exit 1) with breaks merged',
  );
  expect(result.integrationSha).toBe(result.baseSha);
  expect(git(repo, 'rev-parse', names.integrationBranch('revert'))).toBe(result.baseSha);
});

test('a mission verify failing with onVerifyFailure: fail ends failed, not completed', async () => {
  const repo = makeRepo();
  const spec = mission('verify-fail', repo, [task('only', 'echo x > x.txt')], { verify: [['false']] });
  const result = await run(spec);
  expect(result.phase).toBe('failed');
  expect(result.reason).toBe('mission verify `false` failed (exit 1) with only merged (onVerifyFailure: fail)');
  // Run twice (a flaky command gets its rerun), on the same candidate.
  expect(result.mergeQueue!.verifyRuns.map((r) => [r.kind, r.ok])).toEqual([
    ['batch', false],
    ['rerun', false],
  ]);
});

test('an activity out of retries ends the mission as failed with the reason, still queryable', async () => {
  const repo = makeRepo();
  const spec = mission('no-base', repo, [task('a', 'true')], { base: 'vanished' });
  const result = await run(spec);
  expect(result.phase).toBe('failed');
  expect(result.reason).toMatch(/base branch vanished does not exist/);
  expect(result.tasks[0].status).toBe('skipped');
});

test('the task gate sends the failure back to the agent and passes on the next iteration', async () => {
  const repo = makeRepo();
  // First run writes a wrong answer; the second (prompt = the gate's feedback) fixes it.
  const script = `if grep -q "verification failed" <<< "$FLOTILLA_PROMPT"; then echo 42 > answer.txt; else echo 41 > answer.txt; fi`;
  const spec = mission('gate', repo, [
    task('answer', script, { verify: ['grep -qx 42 answer.txt'], maxIterations: 3 }),
  ]);
  const result = await run(spec);
  expect(result.phase).toBe('completed');
  expect(result.tasks[0].iterations).toBe(2);
  expect(git(repo, 'show', `${names.integrationBranch('gate')}:answer.txt`)).toBe('42');
});

test("a task's agent attempt commits its work; without a gate it also releases the task's namespace, with one the workflow does at the end", async () => {
  const repo = makeRepo();
  const result = await run(
    mission('in-attempt', repo, [
      task('plain', writeFile('plain.txt', 'plain')),
      task('gated', writeFile('gated.txt', 'gated'), { verify: ['test -f gated.txt'] }),
    ]),
  );
  expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
    ['plain', 'merged'],
    ['gated', 'merged'],
  ]);
  const activities = async (taskId: string): Promise<string[]> => {
    const history = await env.client.workflow.getHandle(names.taskWorkflowId('in-attempt', taskId)).fetchHistory();
    return (history.events ?? []).flatMap((e) =>
      e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name ?? ''] : [],
    );
  };
  // The commit is the attempt's: no `checkpoint` (commit) activity after the agent, no snapshot.
  expect(await activities('plain')).toEqual(['prepareWorktree', 'runAgent']);
  expect(await activities('gated')).toEqual(['prepareWorktree', 'runAgent', 'runChecks', 'releaseNamespace']);
  for (const id of ['plain', 'gated'])
    expect(git(repo, 'log', '-1', '--format=%s', names.taskBranch('in-attempt', id))).toBe(
      `flotilla(${id}): Task ${id}`,
    );
  // Both namespaces ended: nothing of this mission is reserved on the host any more.
  expect(reservations(home).filter((r) => r.key.includes('in-attempt'))).toEqual([]);
});

test('every history this suite recorded replays against the current workflow code', async () => {
  // `FLOTILLA_RECORD_HISTORIES=1 npx jest test/integration` refreshes the committed fixtures (do it
  // only for workflow changes that are meant to be compatible; keep the older ones).
  const replayed = await replayRecorded(
    env,
    taskQueue,
    /^mission-(two-waves|pause|blocked|revert|gate|cancel|cancel-request|ends-failed)(\/|$)/,
  );
  expect(replayed).toBeGreaterThanOrEqual(10);
});
