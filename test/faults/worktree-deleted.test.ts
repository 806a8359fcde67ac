/**
 * Fault: a task's worktree is deleted (`rm -rf`) while its agent runs. Flotilla must notice, kill
 * the agent's whole process group, rebuild the worktree from the task branch plus the latest
 * checkpoint, and let Temporal's retry carry the task to completion with nothing checkpointed lost.
 * A real dev server, real git, a real `command` agent.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { groupAlive } from '../../src/agents/process';
import { names } from '../../src/mission/types';
import { git, makeRepo, tempDir } from '../helpers/git';
import { bashAgent, mission, task } from '../helpers/missions';
import { startDevServer } from '../helpers/temporal';
import { startMission, startTestWorkers } from '../helpers/worker';
import { missionResult } from '../helpers/outcome';
import { until } from './harness';

let env: TestWorkflowEnvironment;
let workers: Awaited<ReturnType<typeof startTestWorkers>> | undefined;
const taskQueue = 'flotilla-faults-worktree';

beforeAll(async () => {
  env = await startDevServer();
  workers = await startTestWorkers(env, taskQueue, 'faults-worktree', tempDir('flotilla-home-'));
}, 180_000);

afterAll(async () => {
  await workers?.stop();
  await env?.teardown();
});

/** The checkpoint ref's commit, when it holds `file`. */
function checkpointWith(repo: string, ref: string, file: string): string | undefined {
  try {
    const sha = git(repo, 'rev-parse', '--verify', '--quiet', ref);
    return git(repo, 'ls-tree', '--name-only', sha, file) === file ? sha : undefined;
  } catch {
    return undefined;
  }
}

test('a worktree deleted under a running agent is rebuilt from branch + checkpoint; the retry finishes the task', async () => {
  const repo = makeRepo();
  const marks = tempDir('flotilla-marks-');
  // Attempt 1 writes before.txt, says it is mid-run, then waits in a grandchild (node) far longer
  // than the test. The retry finds before.txt (restored from the checkpoint) and finishes.
  const script = [
    'if [ -f before.txt ]; then',
    `  echo $$ > ${marks}/attempt2.pid; echo after > after.txt`,
    'else',
    `  echo $$ > ${marks}/attempt1.pid; echo before > before.txt; touch ${marks}/midrun`,
    `  node -e 'setTimeout(() => {}, 600000)'`,
    'fi',
  ].join('\n');
  const spec = mission('wt-deleted', repo, [
    task('victim', script, {
      agent: bashAgent(script, { retries: 2, timeoutMs: 240_000, idleTimeoutMs: 240_000 }),
      checkpointEveryMs: 1000,
    }),
  ]);
  const branch = names.taskBranch('wt-deleted', 'victim');
  const ref = names.checkpointRef('wt-deleted', 'victim');
  const handle = await startMission(env, taskQueue, spec);

  await until('the agent to be mid-run', () => existsSync(path.join(marks, 'midrun')));
  const worktree = /^worktree (.*\/tasks\/victim)$/m.exec(git(repo, 'worktree', 'list', '--porcelain'))![1];
  const pgid1 = Number(readFileSync(path.join(marks, 'attempt1.pid'), 'utf8'));
  expect(groupAlive(pgid1)).toBe(true);
  // before.txt exists only in the worktree and in the checkpoint, never in a commit on the branch.
  const ckpt = await until('a checkpoint holding before.txt', () => checkpointWith(repo, ref, 'before.txt'), 15_000);
  expect(git(repo, 'rev-parse', branch)).toBe(git(repo, 'rev-parse', 'main'));

  const t0 = Date.now();
  rmSync(worktree, { recursive: true, force: true });
  const gone = Date.now() - t0;
  await until('the agent group to die', () => !groupAlive(pgid1), 15_000, 50);
  const killedMs = Date.now() - t0;
  await until('the rebuilt worktree', () => existsSync(path.join(worktree, 'before.txt')), 30_000, 50);
  const rebuiltMs = Date.now() - t0;
  await until('attempt 2', () => existsSync(path.join(marks, 'attempt2.pid')), 60_000, 50);
  const attempt2Ms = Date.now() - t0;
  console.log(
    `worktree deleted (rm -rf took ${gone} ms): agent group dead after ${killedMs} ms, ` +
      `worktree rebuilt with checkpoint ${ckpt.slice(0, 12)} after ${rebuiltMs} ms, attempt 2 started after ${attempt2Ms} ms`,
  );

  const result = await missionResult(handle);
  expect(result.phase).toBe('completed');
  expect(result.tasks[0]).toMatchObject({ status: 'merged', attempts: 2 });
  // The final commit is the clean task commit and holds the work of both attempts: before.txt
  // came back only through the checkpoint.
  expect(git(repo, 'log', '-1', '--format=%s', branch)).toBe('flotilla(victim): Task victim');
  expect(git(repo, 'show', `${branch}:before.txt`)).toBe('before');
  expect(git(repo, 'show', `${branch}:after.txt`)).toBe('after');
  expect(git(repo, 'show', `${names.integrationBranch('wt-deleted')}:before.txt`)).toBe('before');
  // The rebuilt worktree was a healthy, clean worktree: once merged, `git worktree remove` (never
  // forced) removed it, and git no longer lists it.
  expect(existsSync(worktree)).toBe(false);
  expect(git(repo, 'worktree', 'list', '--porcelain')).not.toContain(worktree);
  // No agent process outlives its attempt: both groups are dead, no PID file names a live one.
  const pgid2 = Number(readFileSync(path.join(marks, 'attempt2.pid'), 'utf8'));
  expect([groupAlive(pgid1), groupAlive(pgid2)]).toEqual([false, false]);
  const pidFile = path.join(workers!.home, 'runs', 'wt-deleted', 'victim', 'agent.pid');
  if (existsSync(pidFile)) expect(groupAlive(Number(readFileSync(pidFile, 'utf8').split(' ')[0]))).toBe(false);
  // Every checkpoint is in the ref's reflog, the one taken before the deletion included.
  expect(git(repo, 'reflog', 'show', '--format=%H', ref).split('\n')).toContain(ckpt);
});
