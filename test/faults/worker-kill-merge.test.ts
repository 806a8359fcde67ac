/**
 * Crash matrix, case 2: the worker is SIGKILLed (its whole process group, git and agents
 * included, as a machine crash would) in the middle of the merge queue's work. A new worker
 * process retries after the heartbeat timeout and finishes exactly once: one merge commit per task.
 *  - killed in a merge driver while `queueMergeBatch` runs `git merge-tree`: the candidate ref has
 *    not moved; the retry computes the same merge and moves it with compare-and-swap;
 *  - killed while the resolver agent works on a conflict (`onMergeConflict: resolve`): the conflict
 *    worktree is rebuilt, the resolver runs again, and its resolution is merged once.
 * Drivers live in the repository's config and info/attributes: merge-tree uses them too.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MissionSpec } from '../../src/mission/types';
import { names } from '../../src/mission/types';
import { git, makeRepo } from '../helpers/git';
import { bashAgent, mission, task } from '../helpers/missions';
import {
  expectOneMergePerTask,
  faultSuite,
  fileAt,
  flotillaEnv,
  mergeSubjects,
  processesIn,
  reportFault,
  startMissionOn,
  unionResolverLines,
  until,
} from './harness';
import { missionResult } from '../helpers/outcome';

const { h, home, server } = faultSuite('merge');

/** Each case has its own task queue, so only its own workers take its activities. */
const workerEnv = (queue: string): NodeJS.ProcessEnv =>
  flotillaEnv({ address: server().address, home, queue, host: 'faults-host' });

/** A command (test code) that sets line `n` (from 0) of shared.txt to `text`. */
const edit = (n: number, text: string): string =>
  `node -e "const fs=require('fs');const l=fs.readFileSync('shared.txt','utf8').split('\\n');l[${n}]='${text}';fs.writeFileSync('shared.txt',l.join('\\n'))"`;

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
  const handle = await startMissionOn(server().env.client, queue, spec);
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

test('killed while the resolver agent resolves a conflict: the resolution is redone and merged once', async () => {
  const lines = Array.from({ length: 10 }, (_, i) => `line ${i + 1}`);
  const repo = makeRepo({ 'shared.txt': `${lines.join('\n')}\n` });
  const marker = path.join(h.dir, 'resolver.marker');
  const runs = path.join(h.dir, 'resolver.runs');
  // The resolver hangs the first time (as a slow agent would), then keeps both sides' lines.
  const resolver = bashAgent(
    [
      `echo "$$" >> '${runs}'`,
      `if [ ! -e '${marker}' ]; then echo "$$" > '${marker}'; exec sleep 120; fi`,
      ...unionResolverLines('shared.txt'),
    ].join('\n'),
    // The resolver's attempt is retried (on the next worker) like any agent's.
    { retries: 2 },
  );
  const spec = mission(
    'fault-merge-resolve',
    repo,
    [
      task('a', '', { agent: bashAgent(edit(4, 'middle by a')) }),
      task('b', '', { dependsOn: [], agent: bashAgent(`sleep 2; ${edit(4, 'middle by b')}`) }),
    ],
    {
      policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'resolve', onVerifyFailure: 'fail' },
      resolver,
    },
  );
  const { result, recoveredMs } = await crashDuringMerge('resolver', spec, marker, 'b', () => undefined);
  reportFault('worker-kill-merge (resolver agent)', recoveredMs);

  expect(result.phase).toBe('completed');
  expect(result.tasks.map((t) => t.status)).toEqual(['merged', 'merged']);
  expectOneMergePerTask(repo, spec.id, ['a', 'b']);
  const merged = fileAt(repo, names.integrationBranch(spec.id), 'shared.txt')!;
  expect(merged).toContain('middle by a');
  expect(merged).toContain('middle by b');
  // The killed resolver and its retry on the second worker.
  expect(readFileSync(runs, 'utf8').trim().split('\n')).toHaveLength(2);
  expect(result.mergeQueue!.conflicts).toEqual([expect.objectContaining({ taskId: 'b', state: 'resolved' })]);
  expect(processesIn(path.join(home, 'worktrees'))).toEqual([]);
  expect(recoveredMs).toBeLessThan(120_000);
}, 300_000);

test('killed in a merge driver during a queue merge: the retry makes the same merge, once', async () => {
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
  const spec = mission('fault-merge-lock', repo, [
    task('a', '', { agent: bashAgent(edit(0, 'first by a')) }),
    // b edits after a's merge: the live-conflict prediction (merge-tree too) never sees both edits.
    task('b', '', { agent: bashAgent(`sleep 3; ${edit(9, 'last by b')}`) }),
  ]);
  const candidate = `refs/flotilla/candidates/${spec.id}`;
  let candidateAtKill = '';
  const { result, recoveredMs, wt } = await crashDuringMerge('driver', spec, marker, 'b', () => {
    // merge-tree works without a worktree or index: the killed merge left only loose objects, and
    // the candidate still holds a's merge alone.
    candidateAtKill = git(repo, 'rev-parse', candidate);
  });
  reportFault('worker-kill-merge (merge driver, queue merge)', recoveredMs);

  expect(result.phase).toBe('completed');
  expect(result.tasks.map((t) => t.status)).toEqual(['merged', 'merged']);
  expectOneMergePerTask(repo, spec.id, ['a', 'b']);
  const merged = fileAt(repo, names.integrationBranch(spec.id), 'shared.txt')!.split('\n');
  expect([merged[0], merged[9]]).toEqual(['first by a', 'last by b']);
  // b's merge went onto the candidate as it stood at the kill: nothing merged twice or lost.
  expect(git(repo, 'rev-parse', `${names.integrationBranch(spec.id)}^1`)).toBe(candidateAtKill);
  expect(git(wt, 'status', '--porcelain', '--untracked-files=no')).toBe('');
  expect(processesIn(path.join(home, 'worktrees'))).toEqual([]);
  expect(recoveredMs).toBeLessThan(120_000);
}, 300_000);
