/**
 * The chaos soak (`npm run test:soak`; SOAK_SEED=N replays a run, SOAK_DEADLINE=14m bounds it).
 *
 * A 40-task mission (test/soak/mission.ts) runs through the real CLI (`flotilla run`) with a
 * standalone `flotilla worker` against a real dev server, while a seeded driver
 * (test/soak/driver.ts) kills the worker 3 to 5 times, restarts the dev server once, deletes a
 * running task's worktree and fills another's with untracked files. At the end: the mission
 * completed, every task merged exactly once with its expected output, the conflict resolved with
 * both sides kept, no process left from the run, and after `flotilla land` and `flotilla clean
 * --yes` nothing of the mission left but its archive refs and nothing of the user's touched.
 * A JSON summary goes to test-artifacts/soak-<seed>.json.
 */
import { Client, Connection } from '@temporalio/client';
import { randomInt } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MissionProgress } from '../../src/mission/progress';
import { parseDuration } from '../../src/mission/duration';
import { names } from '../../src/mission/types';
import { devServerPort, flotillaEnv, Harness, liveGroupMembers, Proc, ROOT } from '../faults/harness';
import { CliResult, cliArgv, runCli } from '../helpers/cli';
import { git } from '../helpers/git';
import { processesOf } from '../helpers/procs';
import { leftovers, leftProcesses, missionViolations, userChanges, userSnapshot } from './checks';
import {
  Deadline,
  drive,
  DriverContext,
  DriverResult,
  mergeCount,
  ProgressProbe,
  schedule,
  taskStarts,
} from './driver';
import { makeUserRepo, Meeting, planTasks, seededRng, writeMissionFile } from './mission';

const seed = process.env.SOAK_SEED ? Number(process.env.SOAK_SEED) : randomInt(1, 2 ** 31 - 1);
const budgetMs = parseDuration(process.env.SOAK_DEADLINE ?? '14m') ?? 14 * 60_000;
const t0 = Date.now();
/** Progress lines go to stderr at once (jest holds console output until the test ends). */
const log = (line: string): void =>
  void process.stderr.write(`soak +${((Date.now() - t0) / 1000).toFixed(1)}s: ${line}\n`);
log(`SOAK_SEED=${seed}`);

const h = new Harness();
let connection: Connection | undefined;

afterAll(async () => {
  await connection?.close();
  await h.cleanup();
}, 120_000);

test(`soak (seed ${seed}): a 40-task mission survives worker kills, a server restart and worktree faults`, async () => {
  const deadline = new Deadline(budgetMs);
  const rng = seededRng(seed);
  const root = h.dir;
  const home = path.join(root, 'home');
  const scratch = path.join(root, 'scratch');
  const meet: Meeting = { starts: path.join(scratch, 'starts'), gos: path.join(scratch, 'go') };
  for (const d of [home, meet.starts, meet.gos, path.join(root, 'server')]) mkdirSync(d, { recursive: true });
  const missionId = `soak-${seed}`;
  const repo = makeUserRepo(path.join(root, 'repo'));
  const plan = planTasks(rng);
  const faults = schedule(rng, plan, plan.tasks.length);
  const file = writeMissionFile(path.join(scratch, 'mission.json'), missionId, repo, plan, meet);
  const worktrees = path.join(home, 'worktrees', missionId);
  h.watch(root);
  log(`mission ${missionId}: ${file}; faults: ${JSON.stringify(faults)}`);

  const port = await devServerPort();
  const address = `127.0.0.1:${port}`;
  const db = path.join(root, 'server', 'temporal.db');
  const env = { ...process.env, ...flotillaEnv({ address, home, queue: 'soak', host: 'soak-host' }) };
  const startServer = (name: string): Promise<Proc> => h.temporal(name, port, db);
  // Workers start in the scratch folder: they and their agents' watchdogs are found there.
  const startWorker = (name: string): Promise<Proc> => h.worker(name, env, { cwd: scratch });
  const flotilla = (args: string[]): Promise<CliResult> =>
    runCli(args, { env, cwd: repo, timeoutMs: Math.max(20_000, Math.min(240_000, deadline.left())) });

  const summary: Record<string, unknown> = { seed, missionId, startedAt: new Date(t0).toISOString(), budgetMs };
  const violations: string[] = [];
  let driven: DriverResult | undefined;
  let driving: Promise<DriverResult> | undefined;
  /** Set when the soak gives up: the driver stops injecting. */
  let stopped = false;
  let server: Proc | undefined;
  try {
    server = await startServer('server-1');
    connection = await Connection.connect({ address });
    const worker = await startWorker('worker-1');
    const before = userSnapshot(repo);

    const startedAt = Date.now();
    const run = h.spawn('run', cliArgv(['run', file]), { env, cwd: repo });
    const ctx: DriverContext = {
      rng,
      repo,
      missionId,
      meet,
      worktrees,
      probe: new ProgressProbe(repo, missionId, new Client({ connection })),
      deadline,
      startedAt,
      worker,
      startWorker,
      server,
      startServer,
      ended: () => stopped || run.exited(),
      log,
    };
    driving = drive(ctx, faults);
    const { code } = await deadline
      .until('the mission to end (`flotilla run` to exit)', () => run.exited(), Infinity, 500)
      .then(() => run.exit);
    const missionMs = Date.now() - startedAt;
    driven = await driving;
    server = ctx.server;
    log(`flotilla run exited ${code} after ${(missionMs / 1000).toFixed(1)} s`);
    summary.missionMs = missionMs;
    summary.runExit = code;
    if (code !== 0) violations.push(`flotilla run exited ${code}:\n${run.output().slice(-3000)}`);
    for (const f of driven.notInjected) violations.push(`fault ${f.kind} never injected: the mission ended first`);
    for (const r of driven.records)
      if (r.recoveryMs === null) violations.push(`no progress after ${r.kind} at +${r.atMs} ms`);

    const status = await flotilla(['status', missionId, '--json']);
    const p = status.code === 0 ? (JSON.parse(status.stdout) as MissionProgress) : undefined;
    if (!p) violations.push(`flotilla status exited ${status.code}: ${status.stderr}`);
    violations.push(...missionViolations(repo, missionId, plan, p, driven.filled));
    // No attempt ran beside an earlier one of its task: the agents a kill or a deleted worktree orphaned died first.
    for (const t of plan.tasks)
      for (const [i, s] of taskStarts(meet, t.id).entries())
        if (s.earlierAlive)
          violations.push(`${t.id}'s agent start ${i + 1} found ${s.earlierAlive} earlier one(s) alive`);
    summary.counts = counts(
      p,
      meet,
      plan.tasks.map((t) => t.id),
      repo,
      missionId,
    );

    // No agent, setup, verify, watchdog or worker process outlives the run (the server is ours).
    const serverPids = new Set(liveGroupMembers(server.pid));
    const ours = (): ReturnType<typeof processesOf> =>
      processesOf([root], { cmdline: true }).filter((x) => !serverPids.has(x.pid));
    if (!ours().some((x) => x.pid === ctx.worker.pid)) violations.push('the process scan does not see the live worker');
    await ctx.worker.stop();
    violations.push(...leftProcesses(ours(), 'after the worker stopped'));

    const land = await flotilla(['land', missionId]);
    if (land.code !== 0) violations.push(`flotilla land exited ${land.code}: ${land.stdout}${land.stderr}`);
    else if (p?.integrationSha && git(repo, 'rev-parse', 'main') !== p.integrationSha)
      violations.push(`main is ${git(repo, 'rev-parse', 'main')} after land, not ${p.integrationSha}`);
    const clean = await flotilla(['clean', missionId, '--yes']);
    if (clean.code !== 0) violations.push(`flotilla clean --yes exited ${clean.code}: ${clean.stdout}${clean.stderr}`);
    summary.clean = clean.stdout.split('\n').slice(0, 5).join('\n');
    violations.push(...leftovers(repo, missionId, plan, worktrees));
    violations.push(...userChanges(before, userSnapshot(repo)));
    violations.push(...leftProcesses(ours(), 'after land and clean'));
  } catch (err) {
    violations.push(`the soak stopped: ${err instanceof Error ? err.message : String(err)}`);
    stopped = true;
    violations.push(...(await unfinished(flotilla, missionId)));
  } finally {
    stopped = true;
    driven ??= await driving?.catch(() => undefined);
    summary.faults = driven?.records ?? [];
    summary.notInjected = driven?.notInjected ?? [];
    summary.violations = violations;
    summary.outcome = violations.length ? 'failed' : 'passed';
    summary.totalMs = Date.now() - t0;
    mkdirSync(path.join(ROOT, 'test-artifacts'), { recursive: true });
    const out = path.join(ROOT, 'test-artifacts', `soak-${seed}.json`);
    writeFileSync(out, JSON.stringify(summary, null, 2) + '\n');
    log(`summary (${out}):\n${JSON.stringify(summary, null, 2)}`);
  }
  expect(violations).toEqual([]);
});

/** What a mission that did not end waits on: its tasks not merged, with their last errors. */
async function unfinished(flotilla: (args: string[]) => Promise<CliResult>, missionId: string): Promise<string[]> {
  const status = await flotilla(['status', missionId, '--json']);
  if (status.code !== 0) return [`flotilla status exited ${status.code}: ${status.stderr}`];
  const p = JSON.parse(status.stdout) as MissionProgress;
  return [
    `mission ${p.phase}: ${p.reason ?? ''}`,
    ...p.tasks
      .filter((t) => t.status !== 'merged')
      .map((t) => `  ${t.id} ${t.status}, attempt ${t.attempts}: ${(t.error ?? '').slice(0, 300)}`),
  ];
}

/** The run in figures: tasks, merges, agent starts, attempts, verify runs, batches, conflicts. */
function counts(
  p: MissionProgress | undefined,
  meet: Meeting,
  taskIds: string[],
  repo: string,
  missionId: string,
): Record<string, unknown> {
  const starts = taskIds.map((id) => taskStarts(meet, id).length);
  const merges = mergeCount(repo, p?.integrationSha ?? names.integrationBranch(missionId));
  return {
    tasks: taskIds.length,
    merged: p?.counts.merged ?? null,
    merges,
    agentStarts: starts.reduce((a, b) => a + b, 0),
    tasksStartedMoreThanOnce: taskIds.filter((_, i) => starts[i] > 1).length,
    attempts: p?.tasks.reduce((a, t) => a + t.attempts, 0) ?? null,
    verifyRuns: p?.mergeQueue?.verifyRuns.length ?? null,
    batches: p?.mergeQueue?.batches ?? null,
    conflicts: p?.mergeQueue?.conflicts.map((c) => ({ task: c.taskId, state: c.state, attempts: c.attempts })) ?? [],
  };
}
