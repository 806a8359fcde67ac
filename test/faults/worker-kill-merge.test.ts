/**
 * Crash matrix, case 2: the worker is SIGKILLed (its whole process group, git included, as a
 * machine crash would) in the middle of merging a task branch into the integration branch. A new
 * worker process retries the merge after the git activities' heartbeat timeout and finishes it
 * exactly once: one merge commit per task, whatever the killed git left behind.
 *  - killed in a `pre-merge-commit` hook: the merge's result is staged, HEAD has not moved and
 *    there is no MERGE_HEAD (a plain retry would fail forever: "local changes would be overwritten");
 *  - killed in a merge driver: git dies holding the worktree's `index.lock` (a plain retry would
 *    fail forever: "Unable to create index.lock: File exists").
 * Hooks live in the repository's .git/hooks and drivers in its config: every worktree uses them.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MissionSpec } from '../../src/mission/types';
import { names } from '../../src/mission/types';
import { git, makeRepo, tempDir } from '../helpers/git';
import { bashAgent, mission, task } from '../helpers/missions';
import { freePort } from '../helpers/net';
import { startDevServer } from '../helpers/temporal';
import {
  expectOneMergePerTask,
  fileAt,
  Harness,
  mergeSubjects,
  processesIn,
  reportFault,
  startMissionOn,
  until,
} from './harness';
import { missionResult } from '../helpers/outcome';

const h = new Harness();
const home = tempDir('flotilla-faults-merge-home-');
let env: TestWorkflowEnvironment | undefined;
let address = '';

beforeAll(async () => {
  const port = await freePort();
  address = `127.0.0.1:${port}`;
  env = await startDevServer(port);
  h.watch(path.join(home, 'worktrees'));
}, 180_000);

afterAll(async () => {
  await h.cleanup();
  await env?.teardown();
});

/** Each case has its own task queue, so only its own workers take its activities. */
const workerEnv = (queue: string): NodeJS.ProcessEnv => ({
  TEMPORAL_ADDRESS: address,
  FLOTILLA_HOME: home,
  FLOTILLA_TASK_QUEUE: queue,
  FLOTILLA_HOST_ID: 'faults-host',
});

/** A shell script file (test equipment, paths baked in). */
function script(file: string, body: string): string {
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return file;
}

/**
 * Runs `spec` on worker-1, SIGKILLs worker-1's group when `marker` appears (the merge of
 * `killedTask` is stuck in the hook or driver), starts worker-2 and waits for the mission.
 */
async function crashDuringMerge(
  name: string,
  spec: MissionSpec,
  marker: string,
  killedTask: string,
  inspect: (integrationWorktree: string, gitDir: string) => void,
) {
  const queue = `faults-merge-${name}`;
  const first = await h.worker(`${name}-worker-1`, workerEnv(queue));
  const handle = await startMissionOn(env!.client, queue, spec);
  await until(`the merge of ${killedTask} to reach the ${name} point`, () => existsSync(marker), 120_000);
  const killedAt = Date.now();
  first.crash();
  await first.exit;
  const integration = names.integrationBranch(spec.id);
  expect(mergeSubjects(spec.repo, integration).filter((s) => s.includes(`merge ${killedTask}:`))).toEqual([]);
  const wt = git(spec.repo, 'worktree', 'list', '--porcelain')
    .split('\n')
    .filter((l) => l.startsWith('worktree '))
    .map((l) => l.slice('worktree '.length))
    .find((p) => p.includes(`${path.sep}worktrees${path.sep}${spec.id}${path.sep}`) && p.endsWith('integration'))!;
  const gitDir = path.resolve(wt, git(wt, 'rev-parse', '--git-dir'));
  // What the killed git left behind, as found right after the crash.
  inspect(wt, gitDir);

  const second = await h.worker(`${name}-worker-2`, workerEnv(queue));
  await until(
    `the merge of ${killedTask} after the crash`,
    () => mergeSubjects(spec.repo, integration).some((s) => s.startsWith(`flotilla: merge ${killedTask}: `)),
    180_000,
  );
  const recoveredMs = Date.now() - killedAt;
  const result = await missionResult(handle);
  await second.stop();
  return { result, recoveredMs, second, wt, gitDir };
}

test('killed in a pre-merge-commit hook: the staged half-merge is undone and the merge happens once', async () => {
  const repo = makeRepo();
  const marker = path.join(h.dir, 'hook.marker');
  const runs = path.join(h.dir, 'hook.runs');
  script(
    path.join(repo, '.git', 'hooks', 'pre-merge-commit'),
    `echo "$$" >> '${runs}'\nif [ ! -e '${marker}' ]; then echo "$$" > '${marker}'; exec sleep 120; fi`,
  );
  const spec = mission('fault-merge-hook', repo, [
    task('a', '', { agent: bashAgent('echo alpha > a.txt') }),
    task('b', '', { agent: bashAgent('echo beta > b.txt') }),
  ]);
  const { result, recoveredMs, second, wt, gitDir } = await crashDuringMerge('hook', spec, marker, 'a', (w, gd) => {
    expect(existsSync(path.join(gd, 'MERGE_HEAD'))).toBe(false);
    expect(git(w, 'status', '--porcelain')).toMatch(/^A {2}a\.txt$/m);
  });
  reportFault('worker-kill-merge (pre-merge-commit hook)', recoveredMs);

  expect(result.phase).toBe('completed');
  expect(result.tasks.map((t) => t.status)).toEqual(['merged', 'merged']);
  expectOneMergePerTask(repo, spec.id, ['a', 'b']);
  const integration = names.integrationBranch(spec.id);
  expect(fileAt(repo, integration, 'a.txt')).toBe('alpha');
  expect(fileAt(repo, integration, 'b.txt')).toBe('beta');
  expect(fileAt(repo, names.taskBranch(spec.id, 'a'), 'a.txt')).toBe('alpha');
  expect(fileAt(repo, names.taskBranch(spec.id, 'b'), 'b.txt')).toBe('beta');
  // The hook ran for the killed merge, its retry and b's merge: the retry went through git's normal path.
  expect(readFileSync(runs, 'utf8').trim().split('\n')).toHaveLength(3);
  expect(second.output()).toMatch(/undid an interrupted merge before merging again/);
  expect(git(wt, 'status', '--porcelain')).toBe('');
  expect(existsSync(path.join(gitDir, 'index.lock'))).toBe(false);
  expect(processesIn(path.join(home, 'worktrees'))).toEqual([]);
  expect(recoveredMs).toBeLessThan(120_000);
}, 300_000);

test('killed in a merge driver holding index.lock: the stale lock is removed and the merge happens once', async () => {
  const lines = Array.from({ length: 10 }, (_, i) => `line ${i + 1}`);
  const repo = makeRepo({ 'shared.txt': `${lines.join('\n')}\n` });
  const marker = path.join(h.dir, 'driver.marker');
  // A content merge of shared.txt (a changed line 1, b line 10) goes through this driver; the
  // first time it hangs, as a slow merge would, with the index locked.
  const driver = script(
    path.join(h.dir, 'driver.sh'),
    `if [ ! -e '${marker}' ]; then echo "$$" > '${marker}'; sleep 120; fi\nexec git merge-file "$2" "$1" "$3"`,
  );
  git(repo, 'config', 'merge.slowdriver.driver', `sh ${driver} %O %A %B`);
  writeFileSync(path.join(repo, '.git', 'info', 'attributes'), 'shared.txt merge=slowdriver\n');
  const edit = (n: number, text: string): string =>
    `node -e "const fs=require('fs');const l=fs.readFileSync('shared.txt','utf8').split('\\n');l[${n}]='${text}';fs.writeFileSync('shared.txt',l.join('\\n'))"`;
  const spec = mission('fault-merge-lock', repo, [
    task('a', '', { agent: bashAgent(edit(0, 'first by a')) }),
    task('b', '', { agent: bashAgent(edit(9, 'last by b')) }),
  ]);
  const { result, recoveredMs, second, wt, gitDir } = await crashDuringMerge('driver', spec, marker, 'b', (_w, gd) => {
    expect(existsSync(path.join(gd, 'index.lock'))).toBe(true);
  });
  reportFault('worker-kill-merge (merge driver, index.lock)', recoveredMs);

  expect(result.phase).toBe('completed');
  expect(result.tasks.map((t) => t.status)).toEqual(['merged', 'merged']);
  expectOneMergePerTask(repo, spec.id, ['a', 'b']);
  const merged = fileAt(repo, names.integrationBranch(spec.id), 'shared.txt')!.split('\n');
  expect([merged[0], merged[9]]).toEqual(['first by a', 'last by b']);
  expect(second.output()).toMatch(/removed git locks left by a killed git/);
  expect(existsSync(path.join(gitDir, 'index.lock'))).toBe(false);
  expect(git(wt, 'status', '--porcelain')).toBe('');
  expect(processesIn(path.join(home, 'worktrees'))).toEqual([]);
  expect(recoveredMs).toBeLessThan(120_000);
}, 300_000);
