/**
 * Crash matrix: the worker is SIGKILLed while `git worktree add` checks out a task's worktree
 * (found by the soak, seed 3, where a worker kill came while a task's checkout wrote a few MB).
 * git leaves the worktree registered, `locked` ("initializing"), with some files written, no
 * index and its `index.lock`. A retry must not take it for a healthy worktree: the agent would
 * work in a partial tree (the soak's agents found their dependencies' files missing, attempt
 * after attempt), and committing its work fails on the stale `index.lock`, so the task fails.
 * The checkout is stalled by a smudge filter (in the repository's config and info/attributes) on
 * one file, and only in the task's worktree.
 */
import { chmodSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { names } from '../../src/mission/types';
import { git, makeRepo } from '../helpers/git';
import { bashAgent, mission, task } from '../helpers/missions';
import { missionResult } from '../helpers/outcome';
import {
  expectOneMergePerTask,
  faultSuite,
  fileAt,
  flotillaEnv,
  processesIn,
  reportFault,
  startMissionOn,
  until,
} from './harness';

const { h, home, server } = faultSuite('wtadd');

test('killed during `git worktree add` of a task: the retry completes the checkout, and nothing of the base is deleted', async () => {
  const files = { 'README.md': '# test\n', 'a.txt': 'a\n', 'm.txt': 'stalled here\n', 'z.txt': 'z\n' };
  const repo = makeRepo(files);
  const marker = path.join(h.dir, 'smudge.marker');
  // The first checkout of m.txt in a task worktree hangs (a slow filter, a slow disk); then cat.
  const filter = path.join(h.dir, 'smudge.sh');
  writeFileSync(
    filter,
    `#!/bin/sh\ncase "$PWD" in */tasks/*) if [ ! -e '${marker}' ]; then echo $$ > '${marker}'; sleep 120; fi;; esac\nexec cat\n`,
  );
  chmodSync(filter, 0o755);
  git(repo, 'config', 'filter.slow.smudge', filter);
  writeFileSync(path.join(repo, '.git', 'info', 'attributes'), 'm.txt filter=slow\n');

  const queue = 'faults-wtadd';
  const workerEnv = flotillaEnv({ address: server().address, home, queue, host: 'faults-host' });
  const first = await h.worker('wtadd-worker-1', workerEnv);
  const spec = mission('fault-wtadd', repo, [
    task('t', '', { agent: bashAgent('ls > seen.txt; echo done > done.txt', { retries: 2 }) }),
  ]);
  const handle = await startMissionOn(server().env.client, queue, spec);
  await until('the checkout of the task worktree to stall', () => existsSync(marker), 120_000);
  const worktree = /^worktree (.*\/tasks\/t)$/m.exec(git(repo, 'worktree', 'list', '--porcelain'))![1];
  const killedAt = Date.now();
  first.crash();
  await first.exit;
  // What the kill left: a registered worktree, locked while git initialized it, files missing.
  expect(git(repo, 'worktree', 'list', '--porcelain')).toMatch(
    /tasks\/t\nHEAD [0-9a-f]+\nbranch .*\nlocked initializing/,
  );
  expect(existsSync(path.join(worktree, 'z.txt'))).toBe(false);

  const second = await h.worker('wtadd-worker-2', workerEnv);
  const result = await missionResult(handle);
  reportFault('worker-kill (git worktree add)', Date.now() - killedAt);
  await second.stop();

  expect({
    phase: result.phase,
    reason: result.reason,
    task: result.tasks[0].status,
    error: result.tasks[0].error,
  }).toEqual({
    phase: 'completed',
    reason: null,
    task: 'merged',
    error: null,
  });
  expectOneMergePerTask(repo, spec.id, ['t']);
  const branch = names.taskBranch(spec.id, 't');
  // The agent saw the whole checkout, and its commit deleted nothing of the base.
  expect(fileAt(repo, branch, 'seen.txt')?.split('\n')).toEqual(expect.arrayContaining(Object.keys(files)));
  expect(git(repo, 'diff', '--name-status', 'main', branch).split('\n').sort()).toEqual(['A\tdone.txt', 'A\tseen.txt']);
  const integration = names.integrationBranch(spec.id);
  for (const [f, content] of Object.entries(files)) expect(fileAt(repo, integration, f)).toBe(content.trim());
  // Flotilla knew it had begun that add (its marker): the half-made worktree was removed and made
  // again, not moved aside as something that might be a person's.
  expect(readdirSync(path.dirname(worktree)).filter((f) => f.includes('.stale-'))).toEqual([]);
  expect(processesIn(path.join(home, 'worktrees'))).toEqual([]);
}, 300_000);
