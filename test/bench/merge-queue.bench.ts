/**
 * The merge queue's figures (`npm run bench:queue`), on a real dev server with real git and real
 * processes (`command` agents):
 *  - latency on a 20-task mission: task end -> merged, and task end -> dependent start (p50, p95),
 *    from the workflow's own times (`endedAt`, `mergedAt`, `startedAt`);
 *  - the verify runs a batch of 8 with one culprit takes (real `git grep` verify);
 *  - the disk under FLOTILLA_HOME after a 20-task mission whose `setup` is `npm ci`, with merged
 *    worktrees kept (what every mission did before the queue) and removed (now).
 * It prints the figures and writes them to bench-queue-results.json; it asserts only that each mission
 * completed as designed, so a number can never be hidden by a failure.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import execa from 'execa';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MissionProgress } from '../../src/mission/progress';
import { makeRepo, tempDir } from '../helpers/git';
import { mission, task } from '../helpers/missions';
import { startDevServer } from '../helpers/temporal';
import { runMission, startTestWorkers } from '../helpers/worker';

let env: TestWorkflowEnvironment;
const figures: Record<string, unknown> = {};

beforeAll(async () => {
  env = await startDevServer();
}, 180_000);

afterAll(async () => {
  writeFileSync(path.resolve('bench-queue-results.json'), JSON.stringify(figures, null, 2) + '\n');
  console.log(`merge queue figures:\n${JSON.stringify(figures, null, 2)}`);
  await env?.teardown();
});

/** Runs `fn` with its own workers (and FLOTILLA_HOME), so each figure has its own home. */
async function withWorkers<T>(name: string, fn: (queue: string, home: string) => Promise<T>): Promise<T> {
  const home = tempDir(`flotilla-bench-${name}-`);
  const queue = `bench-${name}`;
  const workers = await startTestWorkers(env, queue, `bench-${name}`, home);
  try {
    return await fn(queue, home);
  } finally {
    await workers.stop();
  }
}

const ms = (a: string | null | undefined, b: string | null | undefined): number =>
  new Date(b!).getTime() - new Date(a!).getTime();

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const stats = (values: number[]) => ({
  n: values.length,
  p50Ms: percentile(values, 50),
  p95Ms: percentile(values, 95),
  maxMs: Math.max(...values),
});

const byId = (p: MissionProgress, id: string) => p.tasks.find((t) => t.id === id)!;

test('20 tasks: task end -> merged and task end -> dependent start', async () => {
  const repo = makeRepo();
  // Ten roots of different lengths, each with one dependent: dependents start while other roots run.
  const roots = Array.from({ length: 10 }, (_, i) => `r${i}`);
  const tasks = [
    ...roots.map((id, i) => task(id, `sleep ${1 + (i % 5)}; echo ${id} > ${id}.txt`)),
    ...roots.map((id) => task(`d-${id}`, `echo after > d-${id}.txt`, { dependsOn: [id] })),
  ];
  const spec = mission('bench-latency', repo, tasks, { concurrency: 6, verify: ['git grep -q . -- README.md'] });
  const result = await withWorkers('latency', (queue) => runMission(env, queue, spec));
  expect(result.phase).toBe('completed');
  const toMerged = result.tasks.map((t) => ms(t.endedAt, t.mergedAt));
  const toDependent = roots.map((id) => ms(byId(result, id).endedAt, byId(result, `d-${id}`).startedAt));
  const wall = ms(result.startedAt, result.endedAt);
  figures.latency = {
    tasks: 20,
    concurrency: 6,
    wallMs: wall,
    taskEndToMerged: stats(toMerged),
    taskEndToDependentStart: stats(toDependent),
    batches: result.mergeQueue!.batches,
    verifyRuns: result.mergeQueue!.verifyRuns.length,
  };
}, 900_000);

test('a batch of 8 with one culprit: verify runs until the culprit is found and the rest merged', async () => {
  const repo = makeRepo({ 'README.md': '# bench\n' });
  const eight = Array.from({ length: 8 }, (_, i) => `b${i}`);
  const culprit = 'b5';
  // The warm-up's batch verifies until the eight have committed their work (and a little more, so
  // their tasks have ended), so they form the next batch together.
  const tasks = [
    task('w', 'echo w > w.txt'),
    ...eight.map((id) => task(id, `sleep 2; echo ${id === culprit ? 'BROKEN' : id} > ${id}.txt`)),
  ];
  const verify = [
    `for i in $(seq 1 300); do [ "$(git log --all --format=%s | grep -c '^flotilla(b')" -ge 8 ] && break; sleep 0.2; done; sleep 2`,
    '! git grep -q BROKEN',
  ];
  const spec = mission('bench-bisect', repo, tasks, {
    concurrency: 9,
    verify,
    policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'fail', onVerifyFailure: 'revert' },
  });
  const result = await withWorkers('bisect', (queue) => runMission(env, queue, spec));
  const q = result.mergeQueue!;
  const batchOf8 = q.verifyRuns.find((r) => r.taskIds.length === 8)!.batch;
  const runs = q.verifyRuns.filter((r) => r.batch >= batchOf8);
  expect(byId(result, culprit).status).toBe('failed');
  expect(eight.filter((id) => id !== culprit).every((id) => byId(result, id).status === 'merged')).toBe(true);
  figures.bisect = {
    batch: 8,
    culprit,
    verifyRuns: runs.length,
    runs: runs.map((r) => `${r.kind} [${r.taskIds.join(' ')}] ${r.ok ? 'pass' : 'fail'}`),
  };
}, 900_000);

/** `du -sb` of a folder, bytes. */
async function du(dir: string): Promise<number> {
  const { stdout } = await execa('du', ['-sb', dir]);
  return Number(stdout.split('\t')[0]);
}

test('disk under FLOTILLA_HOME after 20 tasks with setup: npm ci, worktrees kept vs removed', async () => {
  // A package with one real dependency (from the npm registry, cached after the first install).
  const repo = makeRepo({
    'README.md': '# disk\n',
    '.gitignore': 'node_modules/\n',
    'package.json': JSON.stringify({
      name: 'disk-bench',
      version: '1.0.0',
      private: true,
      dependencies: { typescript: '5.9.3' },
    }),
  });
  await execa('npm', ['install', '--package-lock-only', '--no-audit', '--no-fund'], { cwd: repo });
  await execa('git', ['add', 'package-lock.json'], { cwd: repo });
  await execa('git', ['commit', '-qm', 'lock'], { cwd: repo });
  const twenty = Array.from({ length: 20 }, (_, i) => task(`t${i}`, `echo ${i} > t${i}.txt`));
  const measure = async (keepWorktrees: boolean) =>
    withWorkers(keepWorktrees ? 'disk-kept' : 'disk-removed', async (queue, home) => {
      const spec = mission(keepWorktrees ? 'disk-kept' : 'disk-removed', repo, twenty, {
        concurrency: 4,
        setup: ['npm ci --no-audit --no-fund'],
        keepWorktrees,
      });
      const result = await runMission(env, queue, spec);
      expect(result.phase).toBe('completed');
      return { bytes: await du(home), worktreesMb: Math.round((await du(path.join(home, 'worktrees'))) / 1e6) };
    });
  const kept = await measure(true);
  const removed = await measure(false);
  figures.disk = {
    tasks: 20,
    setup: 'npm ci (typescript)',
    before: { keepWorktrees: true, flotillaHomeMb: Math.round(kept.bytes / 1e6), worktreesMb: kept.worktreesMb },
    after: { keepWorktrees: false, flotillaHomeMb: Math.round(removed.bytes / 1e6), worktreesMb: removed.worktreesMb },
  };
}, 1_500_000);
