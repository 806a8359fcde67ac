/**
 * Control of a running mission: `pause --now` / `resume`, `steer` (interrupting and queued),
 * `retry` and `skip`, on a real dev server with real git and real agent processes (bash scripts
 * run by the `command` runtime, which reads its prompt from $FLOTILLA_PROMPT). The CLI is run as a
 * user runs it for the rejections, so their exit codes and messages are checked too.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MissionSpec } from '../../src/mission/types';
import { names } from '../../src/mission/types';
import { pauseSignal, resumeSignal, retryUpdate, skipUpdate, steerUpdate } from '../../src/workflows/messages';
import { CliResult, runCli } from '../helpers/cli';
import { git, makeRepo, tempDir } from '../helpers/git';
import { mission, processAlive, progress, task, waitFor } from '../helpers/missions';
import { replayRecorded } from '../helpers/histories';
import { startDevServer } from '../helpers/temporal';
import { startMission, startTestWorkers } from '../helpers/worker';
import { missionResult } from '../helpers/outcome';
import { until } from '../helpers/poll';

let env: TestWorkflowEnvironment;
let workers: Awaited<ReturnType<typeof startTestWorkers>> | undefined;
const taskQueue = 'flotilla-control';

beforeAll(async () => {
  env = await startDevServer();
  workers = await startTestWorkers(env, taskQueue, 'control', tempDir('flotilla-home-'));
}, 180_000);

afterAll(async () => {
  await workers?.stop();
  await env?.teardown();
});

const start = (spec: MissionSpec) => startMission(env, taskQueue, spec);

/** The built CLI against the test server; resolves with its exit code and output. */
function flotilla(args: string[]): Promise<CliResult> {
  return runCli(args, {
    env: { TEMPORAL_ADDRESS: env.address, FLOTILLA_TASK_QUEUE: taskQueue, FLOTILLA_HOME: workers!.home },
    timeoutMs: 60_000,
  });
}

/** The validator's reason when an update is rejected. */
async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    return (err as WorkflowUpdateFailedError).cause?.message ?? '';
  }
  throw new Error('the update was accepted');
}

const readPid = (file: string): number => Number(readFileSync(file, 'utf8').trim());
const prompts = (file: string): string[] =>
  existsSync(file) ? (JSON.parse(`[${readFileSync(file, 'utf8').trim().split('\n').join(',')}]`) as string[]) : [];

/**
 * A bash agent that records each prompt (JSON lines in `log`) and its PID, appends `started` to
 * work.txt, then ends only once its prompt contains `until`.
 */
function waitingAgent(log: string, pidFile: string, until: string, after: string): string {
  return [
    `node -e 'require("fs").appendFileSync(process.argv[1], JSON.stringify(process.env.FLOTILLA_PROMPT) + "\\n")' ${log}`,
    `echo $$ > ${pidFile}`,
    'echo started >> work.txt',
    `case "$FLOTILLA_PROMPT" in *'${until}'*) ${after}; exit 0;; esac`,
    'while :; do sleep 0.2; done',
  ].join('\n');
}

test('pause --now stops running agents after a checkpoint; resume resumes them; nothing shows running meanwhile', async () => {
  const repo = makeRepo();
  const dir = tempDir('flotilla-hold-');
  const [log, pidFile] = [path.join(dir, 'prompts.log'), path.join(dir, 'agent.pid')];
  const spec = mission('hold', repo, [
    task('h', waitingAgent(log, pidFile, 'paused by the user', 'echo resumed >> work.txt')),
    task('later', 'echo later > later.txt', { dependsOn: ['h'] }),
  ]);
  const h = await start(spec);
  await waitFor(env.client, 'hold', (p) => p.tasks[0].status === 'running');
  await until('the agent to start', () => existsSync(pidFile), 30_000);
  const firstPid = readPid(pidFile);

  await h.signal(pauseSignal, { now: true });
  const paused = await waitFor(env.client, 'hold', (p) => p.tasks[0].status === 'pending');
  expect(paused.phase).toBe('paused');
  expect(paused.counts.running).toBe(0);
  expect(paused.tasks[0].error).toMatch(/paused \(--now\)/);
  await until('the first agent to be gone', () => !processAlive(firstPid), 10_000);
  // Held: no new agent starts while paused.
  await new Promise((r) => setTimeout(r, 2000));
  expect(readPid(pidFile)).toBe(firstPid);
  expect((await progress(env.client, 'hold')).tasks[0].status).toBe('pending');
  // Signals cannot be rejected by the workflow: the CLI checks what makes no sense first.
  const again = await flotilla(['pause', 'hold']);
  expect(again.code).toBe(2);
  expect(again.stderr).toMatch(/mission hold is already paused/);

  await h.signal(resumeSignal);
  const result = await missionResult(h);
  expect([result.phase, result.reason, result.tasks.map((t) => `${t.id} ${t.status} ${t.error}`)]).toEqual([
    'completed',
    null,
    ['h merged null', 'later merged null'],
  ]);
  const runs = prompts(log);
  expect(runs).toHaveLength(2);
  expect(runs[0]).toBe('do h');
  // No session to resume for a `command` agent: the task is restated with the note.
  expect(runs[1]).toMatch(/^do h[\s\S]*paused by the user/);
  const branch = names.taskBranch('hold', 'h');
  // The work of both runs is kept, and the task branch holds one clean commit.
  expect(git(repo, 'show', `${branch}:work.txt`)).toBe('started\nstarted\nresumed');
  expect(git(repo, 'log', '--format=%s', `main..${branch}`)).toBe('flotilla(h): Task h');
});

test('steer interrupts an agent and resumes it with the message; --queue waits for the run to end; bad requests are rejected', async () => {
  const repo = makeRepo();
  const dir = tempDir('flotilla-steer-');
  const logOf = (t: string) => path.join(dir, `${t}.log`);
  const pidOf = (t: string) => path.join(dir, `${t}.pid`);
  const spec = mission('steer', repo, [
    task('paint', waitingAgent(logOf('paint'), pidOf('paint'), 'COLOR=blue', 'echo blue > color.txt')),
    task(
      'queue',
      [
        `node -e 'require("fs").appendFileSync(process.argv[1], JSON.stringify(process.env.FLOTILLA_PROMPT) + "\\n")' ${logOf('queue')}`,
        `echo $$ > ${pidOf('queue')}`,
        `case "$FLOTILLA_PROMPT" in *'ALSO=second'*) echo second > second.txt; exit 0;; esac`,
        // The first run ends on its own once the test has queued the message.
        `while [ ! -f ${path.join(dir, 'queue.go')} ]; do sleep 0.2; done; echo first > first.txt`,
      ].join('\n'),
    ),
    task('after', 'echo after > after.txt', { dependsOn: ['paint'] }),
  ]);
  const h = await start(spec);
  await until('both agents to start', () => existsSync(pidOf('paint')) && existsSync(pidOf('queue')), 30_000);
  const paintPid = readPid(pidOf('paint'));

  // Rejections: an unknown task, a task that is not running, an empty message.
  expect(await rejection(h.executeUpdate(steerUpdate, { args: [{ taskId: 'nope', message: 'x' }] }))).toMatch(
    /no task "nope".*paint, queue, after/,
  );
  expect(await rejection(h.executeUpdate(steerUpdate, { args: [{ taskId: 'after', message: 'x' }] }))).toMatch(
    /task after is pending, not running/,
  );
  expect(await rejection(h.executeUpdate(steerUpdate, { args: [{ taskId: 'paint', message: ' ' }] }))).toMatch(/empty/);
  const cli = await flotilla(['steer', 'steer', 'nope', 'hello']);
  expect(cli.code).toBe(2);
  expect(cli.stderr).toMatch(/no task "nope"/);
  expect((await flotilla(['steer', 'no-such-mission', 'paint', 'hello'])).code).toBe(4);

  const notPaused = await flotilla(['resume', 'steer']);
  expect(notPaused.code).toBe(2);
  expect(notPaused.stderr).toMatch(/mission steer is running, neither paused nor blocked/);
  const queued = await flotilla(['steer', 'steer', 'queue', 'ALSO=second', '--queue']);
  expect(queued).toMatchObject({ code: 0 });
  expect(queued.stdout).toMatch(/queued/);
  writeFileSync(path.join(dir, 'queue.go'), '');
  const steered = await h.executeUpdate(steerUpdate, { args: [{ taskId: 'paint', message: 'COLOR=blue' }] });
  expect(steered).toEqual({ taskId: 'paint', delivery: 'interrupt' });
  await until('the paint agent to be gone', () => !processAlive(paintPid), 10_000);

  const result = await missionResult(h);
  expect(result.phase).toBe('completed');
  expect(prompts(logOf('paint'))).toEqual(['do paint', expect.stringMatching(/^do paint[\s\S]*COLOR=blue/)]);
  // The queued message did not interrupt: the first run finished its work, then the message came.
  expect(prompts(logOf('queue'))).toEqual(['do queue', expect.stringMatching(/ALSO=second/)]);
  expect(git(repo, 'show', `${names.taskBranch('steer', 'queue')}:first.txt`)).toBe('first');
  expect(git(repo, 'show', `${names.taskBranch('steer', 'queue')}:second.txt`)).toBe('second');
  expect(git(repo, 'show', `${names.integrationBranch('steer')}:color.txt`)).toBe('blue');
  const ended = await flotilla(['steer', 'steer', 'paint', 'too late']);
  expect(ended.code).toBe(1);
  expect(ended.stderr).toMatch(/has ended \(completed\)/);
});

test('retry runs a failed task again and reopens its dependents; skip gives up on a running task and its dependents', async () => {
  const repo = makeRepo();
  const dir = tempDir('flotilla-retry-');
  const [flag, go, pidX] = [path.join(dir, 'flag'), path.join(dir, 'go'), path.join(dir, 'x.pid')];
  const spec = mission(
    'retry-skip',
    repo,
    [
      task('a', `test -f ${flag} || { echo "no flag yet" >&2; exit 1; }; echo a > a.txt`),
      task('c', `while [ ! -f ${go} ]; do sleep 0.2; done; echo c > c.txt`),
      task('x', `echo $$ > ${pidX}; echo partial > x.txt; while :; do sleep 0.2; done`),
      task('b', 'echo b > b.txt', { dependsOn: ['a'] }),
      task('y', 'echo y > y.txt', { dependsOn: ['x'] }),
    ],
    { concurrency: 3 },
  );
  const h = await start(spec);
  await waitFor(env.client, 'retry-skip', (p) => p.tasks[0].status === 'failed' && existsSync(pidX));
  const st = await progress(env.client, 'retry-skip');
  expect(st.tasks.find((t) => t.id === 'b')!.status).toBe('skipped');

  // Rejections, through the CLI: a running task, a task whose dependency failed, an unknown task.
  const running = await flotilla(['retry', 'retry-skip', 'c']);
  expect(running.code).toBe(2);
  expect(running.stderr).toMatch(/task c is running; only a failed, skipped or cancelled task can be retried/);
  expect((await flotilla(['retry', 'retry-skip', 'b'])).stderr).toMatch(/depends on a, which is failed: retry a first/);
  expect((await flotilla(['skip', 'retry-skip', 'nope'])).code).toBe(2);
  expect((await flotilla(['retry', 'no-such-mission', 'a'])).code).toBe(4);

  expect(await rejection(h.executeUpdate(retryUpdate, { args: [{ taskId: 'x' }] }))).toMatch(/task x is running/);
  const xPid = readPid(pidX);
  const skipped = await h.executeUpdate(skipUpdate, { args: [{ taskId: 'x' }] });
  expect(skipped).toEqual({ taskId: 'x', was: 'running', skipped: ['y'] });
  await waitFor(env.client, 'retry-skip', (p) => p.tasks.find((t) => t.id === 'x')!.status === 'skipped');
  await until('the agent of x to be gone', () => !processAlive(xPid), 10_000);
  expect(await rejection(h.executeUpdate(skipUpdate, { args: [{ taskId: 'x' }] }))).toMatch(/task x is skipped/);

  writeFileSync(flag, '');
  const retried = await flotilla(['retry', 'retry-skip', 'a']);
  expect(retried.code).toBe(0);
  expect(retried.stdout).toMatch(/task a will run again, then b/);
  writeFileSync(go, '');

  const result = await missionResult(h);
  const status = Object.fromEntries(result.tasks.map((t) => [t.id, t.status]));
  expect(status).toEqual({ a: 'merged', c: 'merged', x: 'skipped', b: 'merged', y: 'skipped' });
  expect(result.tasks.find((t) => t.id === 'a')!.attempts).toBe(2);
  expect(result.tasks.find((t) => t.id === 'y')!.error).toMatch(/depends on x/);
  // Not every task merged, so the mission reports failed, naming the skipped ones.
  expect(result.phase).toBe('failed');
  expect(result.reason).toMatch(/x skipped, y skipped/);
  // One merge per merged task; a and c ran at once (either may merge first), b only after a.
  const merges = git(repo, 'log', '--merges', '--format=%s', '--reverse', names.integrationBranch('retry-skip')).split(
    '\n',
  );
  expect([...merges].sort()).toEqual([
    'flotilla: merge a: Task a',
    'flotilla: merge b: Task b',
    'flotilla: merge c: Task c',
  ]);
  expect(merges.indexOf('flotilla: merge b: Task b')).toBeGreaterThan(merges.indexOf('flotilla: merge a: Task a'));
  // The skipped task's work stays on its worktree and is kept, never merged.
  expect(git(repo, 'ls-tree', '--name-only', names.integrationBranch('retry-skip'))).not.toMatch(/x\.txt/);
});

test('a dependent reopened by retry waits for its dependency even when its own wave is already running', async () => {
  const repo = makeRepo();
  const dir = tempDir('flotilla-reopen-');
  const [flag, go] = [path.join(dir, 'flag'), path.join(dir, 'go')];
  const spec = mission(
    'reopen',
    repo,
    [
      task('a', `test -f ${flag} || exit 1; echo a > a.txt`),
      task('z', 'echo z > z.txt'),
      task('y', `while [ ! -f ${go} ]; do sleep 0.2; done; echo y > y.txt`, { dependsOn: ['z'] }),
      task('c', 'cat a.txt > c.txt', { dependsOn: ['a'] }),
    ],
    { concurrency: 1 },
  );
  const h = await start(spec);
  // Wave 1 is in flight (y waits), and c, skipped when a failed, has not been reached.
  await waitFor(env.client, 'reopen', (p) => p.tasks.find((t) => t.id === 'y')!.status === 'running');
  writeFileSync(flag, '');
  expect(await h.executeUpdate(retryUpdate, { args: [{ taskId: 'a' }] })).toEqual({ taskId: 'a', reopened: ['c'] });
  writeFileSync(go, '');
  const result = await missionResult(h);
  expect(result.phase).toBe('completed');
  expect(git(repo, 'show', `${names.integrationBranch('reopen')}:c.txt`)).toBe('a');
});

test('retry on a mission that ended failed reopens it: the task runs again, then what its failure skipped', async () => {
  const repo = makeRepo();
  const flag = path.join(tempDir('flotilla-ended-'), 'flag');
  const spec = mission('ended', repo, [
    task('a', `test -f ${flag} || { echo "no flag yet" >&2; exit 1; }; echo a > a.txt`),
    task('b', 'cat a.txt > b.txt', { dependsOn: ['a'] }),
    task('ok', 'echo ok > ok.txt'),
  ]);
  const first = await missionResult(await start(spec));
  expect(first.phase).toBe('failed');
  const blocked = await flotilla(['retry', 'ended', 'b']);
  expect(blocked.code).toBe(2);
  expect(blocked.stderr).toMatch(/depends on a, which is failed: retry a first/);
  expect((await flotilla(['retry', 'ended', 'ok'])).stderr).toMatch(/task ok is merged/);

  writeFileSync(flag, '');
  const reopened = await flotilla(['retry', 'ended', 'a']);
  expect(reopened.code).toBe(0);
  expect(reopened.stdout).toMatch(/mission ended had ended failed; reopened it: task a runs again/);
  const result = await missionResult(env.client.workflow.getHandle(names.missionWorkflowId('ended')));
  expect(result.phase).toBe('completed');
  expect(result.tasks.map((t) => [t.id, t.status])).toEqual([
    ['a', 'merged'],
    ['b', 'merged'],
    ['ok', 'merged'],
  ]);
  expect(result.tasks[0].attempts).toBe(2);
  // The same integration branch (the same owner): the first run's merge stays, the rest follow.
  const merges = git(repo, 'log', '--merges', '--format=%s', '--reverse', names.integrationBranch('ended'));
  expect(merges.split('\n')).toEqual([
    'flotilla: merge ok: Task ok',
    'flotilla: merge a: Task a',
    'flotilla: merge b: Task b',
  ]);
  const done = await flotilla(['retry', 'ended', 'a']);
  expect(done.code).toBe(1);
  expect(done.stderr).toMatch(/completed; there is nothing to retry/);
});

test('every history this suite recorded replays against the current workflow code', async () => {
  const replayed = await replayRecorded(env, taskQueue, /^mission-(hold|steer|retry-skip)(\/|$)/);
  expect(replayed).toBeGreaterThanOrEqual(8);
});
