/**
 * Crash matrix, the aftermath of a worker SIGKILLed inside `git branch` while it creates a task's
 * branch (found by the soak, seed 1600334989: the kill came 13 ms after git created the ref's
 * lock file). git leaves `refs/heads/<task branch>.lock`; every retry of `prepareWorktree` then
 * fails on it ("cannot lock ref … File exists") until its attempts run out, and the task fails
 * with its dependents skipped. The merge queue's ref updates already remove such a lock once it
 * is older than STALE_GIT_LOCK_MS (queue.ts); creating a task branch must too.
 * The test leaves the lock file as the killed git would (its mtime in the past), without a kill.
 */
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { STALE_GIT_LOCK_MS } from '../../src/git/git-locks';
import { names } from '../../src/mission/types';
import { git, makeRepo } from '../helpers/git';
import { bashAgent, mission, task } from '../helpers/missions';
import { missionResult } from '../helpers/outcome';
import { expectOneMergePerTask, faultSuite, fileAt, flotillaEnv, startMissionOn, until } from './harness';

const { h, home, server } = faultSuite('branchlock');

test('a task branch lock left by a killed `git branch` is removed once stale; the task runs and merges', async () => {
  const repo = makeRepo();
  const spec = mission('fault-branchlock', repo, [task('t', '', { agent: bashAgent('echo done > done.txt') })]);
  const branch = names.taskBranch(spec.id, 't');
  const lock = path.join(repo, '.git', 'refs', 'heads', `${branch}.lock`);
  mkdirSync(path.dirname(lock), { recursive: true });
  writeFileSync(lock, `${git(repo, 'rev-parse', 'main')}\n`);
  const past = (Date.now() - 2 * STALE_GIT_LOCK_MS) / 1000;
  utimesSync(lock, past, past);

  const queue = 'faults-branchlock';
  await h.worker('branchlock-worker', flotillaEnv({ address: server().address, home, queue, host: 'faults-host' }));
  const handle = await startMissionOn(server().env.client, queue, spec);
  // prepareWorktree's retries back off up to a minute each: without the fix the task is still
  // failing to create its branch long after this.
  await until('the task branch despite the stale lock', () => fileAt(repo, branch, 'done.txt'), 90_000);
  const result = await missionResult(handle);

  expect({ phase: result.phase, task: result.tasks[0].status }).toEqual({ phase: 'completed', task: 'merged' });
  expectOneMergePerTask(repo, spec.id, ['t']);
  expect(existsSync(lock)).toBe(false);
}, 240_000);
