/**
 * Crash matrix: the worker is SIGKILLed while `git worktree remove` deletes a merged task's
 * worktree (found by the soak, seed 5: a worker kill came while a merged task's worktree, a few
 * MB of files, was being removed). git had deleted part of the files; the retry of
 * `removeTaskWorktree` then found "modified" files (tracked files missing) and kept the
 * worktree, and `flotilla clean` kept it and its branch for good: a worktree and a branch of the
 * mission left behind that no command removes. (When git had already deleted the worktree's
 * `.git` file, the retry keeps the folder as "not a git worktree" instead; and once any other
 * worktree's creation ran `git worktree prune`, git forgets it altogether.) The removal that
 * Flotilla itself began must finish after a crash.
 * The kill comes at the first file deletion in the worktree (inotify, through fs.watch).
 */
import { existsSync, FSWatcher, readdirSync, rmSync, watch } from 'node:fs';
import path from 'node:path';
import { names } from '../../src/mission/types';
import { git, makeRepo } from '../helpers/git';
import { mission, task } from '../helpers/missions';
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

const { h, home, server } = faultSuite('wtrm');
let watcher: FSWatcher | undefined;
afterAll(() => watcher?.close());

test('killed during `git worktree remove` of a merged task: the next worker finishes the removal', async () => {
  const repo = makeRepo();
  const done = path.join(h.dir, 'agent.done');
  // 20,000 small files: deleting them takes git long enough for the kill to land in the middle.
  const script = `const fs = require('fs'); fs.mkdirSync('many');
for (let i = 0; i < 20000; i++) fs.writeFileSync('many/f' + i + '.txt', 'file ' + i + '\\n');
fs.writeFileSync(${JSON.stringify(done)}, 'done');`;
  const agent = {
    runtime: 'command' as const,
    command: [process.execPath, '-e', script],
    args: [],
    env: [],
    timeoutMs: 120_000,
    idleTimeoutMs: 120_000,
    retries: 2,
  };
  const queue = 'faults-wtrm';
  const workerEnv = flotillaEnv({ address: server().address, home, queue, host: 'faults-host' });
  const first = await h.worker('wtrm-worker-1', workerEnv);
  const spec = mission('fault-wtrm', repo, [task('many', '', { agent })]);
  const handle = await startMissionOn(server().env.client, queue, spec);

  await until('the agent to write its files', () => existsSync(done), 120_000);
  const worktree = /^worktree (.*\/tasks\/many)$/m.exec(git(repo, 'worktree', 'list', '--porcelain'))![1];
  // Nothing but the removal deletes files there (commits and checkpoints only read them).
  let killedAt = 0;
  const killed = new Promise<void>((resolve) => {
    watcher = watch(path.join(worktree, 'many'), (_event, name) => {
      if (killedAt || !name || existsSync(path.join(worktree, 'many', name))) return;
      killedAt = Date.now();
      first.crash();
      resolve();
    });
  });
  await Promise.race([killed, until('the removal to start', () => killedAt, 120_000)]);
  await first.exit;
  watcher?.close();
  // Killed in the middle: the worktree is still there, part of its files gone (in readdir order:
  // its `.git` file may be among them).
  const left = readdirSync(path.join(worktree, 'many')).length;
  expect({ left: left > 0 && left < 20000, gitFile: existsSync(path.join(worktree, '.git')) }).toEqual({
    left: true,
    gitFile: expect.any(Boolean),
  });

  // The worst case, made certain: git got to the worktree's `.git` file, and the next `git
  // worktree prune` (any other task's new worktree runs one) forgot the worktree altogether
  // (found by the soak, seed 1600334989: the half-deleted folder stayed, and no command removed it).
  rmSync(path.join(worktree, '.git'), { force: true });
  git(repo, 'worktree', 'prune');
  expect(git(repo, 'worktree', 'list', '--porcelain')).not.toContain(worktree);

  const second = await h.worker('wtrm-worker-2', workerEnv);
  const result = await missionResult(handle);
  reportFault('worker-kill (git worktree remove)', Date.now() - killedAt);
  await second.stop();

  expect({ phase: result.phase, task: result.tasks[0].status }).toEqual({ phase: 'completed', task: 'merged' });
  expectOneMergePerTask(repo, spec.id, ['many']);
  expect(fileAt(repo, names.integrationBranch(spec.id), 'many/f19999.txt')).toBe('file 19999');
  // The removal Flotilla began is finished: no worktree left on disk or in git's list.
  expect(git(repo, 'worktree', 'list', '--porcelain')).not.toContain(worktree);
  expect(existsSync(worktree)).toBe(false);
  expect(processesIn(path.join(home, 'worktrees'))).toEqual([]);
}, 300_000);
