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
import { ProcInfo, processesOf } from '../helpers/procs';
import { leftovers, leftProcesses, missionViolations, userChanges, UserSnapshot, userSnapshot } from './checks';
import {
  Deadline,
  drive,
  DriverContext,
  DriverResult,
  Fault,
  faultLines,
  mergeCount,
  ProgressProbe,
  schedule,
  taskStarts,
} from './driver';
import { makeUserRepo, Meeting, planTasks, seededRng, SoakPlan, writeMissionFile } from './mission';

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

/**
 * One soak run: its folders (all under the harness's directory, so a process scan finds what the
 * run started), its mission and fault schedule, the dev server and workers it starts, and what
 * it found wrong (`violations`) and measured (`summary`).
 */
class Soak {
  readonly deadline = new Deadline(budgetMs);
  readonly rng = seededRng(seed);
  readonly root = h.dir;
  readonly home = path.join(this.root, 'home');
  readonly scratch = path.join(this.root, 'scratch');
  readonly meet: Meeting = { starts: path.join(this.scratch, 'starts'), gos: path.join(this.scratch, 'go') };
  readonly missionId = `soak-${seed}`;
  readonly worktrees = path.join(this.home, 'worktrees', this.missionId);
  readonly repo: string;
  readonly plan: SoakPlan;
  readonly faults: Fault[];
  readonly file: string;
  port = 0;
  env: NodeJS.ProcessEnv = {};
  readonly summary: Record<string, unknown> = { seed, startedAt: new Date(t0).toISOString(), budgetMs };
  readonly violations: string[] = [];
  /** Set when the soak gives up: the driver stops injecting. */
  stopped = false;
  driving?: Promise<DriverResult>;
  driven?: DriverResult;
  ctx?: DriverContext;

  constructor() {
    for (const d of [this.home, this.meet.starts, this.meet.gos, path.join(this.root, 'server')])
      mkdirSync(d, { recursive: true });
    this.repo = makeUserRepo(path.join(this.root, 'repo'));
    this.plan = planTasks(this.rng);
    this.faults = schedule(this.rng, this.plan, this.plan.tasks.length);
    this.file = writeMissionFile(
      path.join(this.scratch, 'mission.json'),
      this.missionId,
      this.repo,
      this.plan,
      this.meet,
    );
    this.summary.missionId = this.missionId;
    h.watch(this.root);
  }

  startServer = (name: string): Promise<Proc> =>
    h.temporal(name, this.port, path.join(this.root, 'server', 'temporal.db'));
  // Workers start in the scratch folder: they and their agents' watchdogs are found there.
  startWorker = (name: string): Promise<Proc> => h.worker(name, this.env, { cwd: this.scratch });
  flotilla = (args: string[]): Promise<CliResult> =>
    runCli(args, {
      env: this.env,
      cwd: this.repo,
      timeoutMs: Math.max(20_000, Math.min(240_000, this.deadline.left())),
    });

  /** Starts the server, a worker and `flotilla run`, drives the faults until the run exits. */
  async runMission(): Promise<void> {
    this.port = await devServerPort();
    const address = `127.0.0.1:${this.port}`;
    this.env = { ...process.env, ...flotillaEnv({ address, home: this.home, queue: 'soak', host: 'soak-host' }) };
    const server = await this.startServer('server-1');
    connection = await Connection.connect({ address });
    const worker = await this.startWorker('worker-1');
    const startedAt = Date.now();
    const run = h.spawn('run', cliArgv(['run', this.file]), { env: this.env, cwd: this.repo });
    const ctx: DriverContext = {
      rng: this.rng,
      repo: this.repo,
      missionId: this.missionId,
      meet: this.meet,
      worktrees: this.worktrees,
      probe: new ProgressProbe(this.repo, this.missionId, new Client({ connection })),
      deadline: this.deadline,
      startedAt,
      worker,
      startWorker: this.startWorker,
      server,
      startServer: this.startServer,
      ended: () => this.stopped || run.exited(),
      log,
    };
    this.ctx = ctx;
    this.driving = drive(ctx, this.faults);
    const { code } = await this.deadline
      .until('the mission to end (`flotilla run` to exit)', () => run.exited(), Infinity, 500)
      .then(() => run.exit);
    const missionMs = Date.now() - startedAt;
    this.driven = await this.driving;
    log(`flotilla run exited ${code} after ${(missionMs / 1000).toFixed(1)} s`);
    Object.assign(this.summary, { missionMs, runExit: code });
    if (code !== 0) this.violations.push(`flotilla run exited ${code}:\n${run.output().slice(-3000)}`);
    for (const f of this.driven.notInjected)
      this.violations.push(`fault ${f.kind} never injected: the mission ended first`);
    for (const r of this.driven.records)
      if (r.recoveryMs === null) this.violations.push(`no progress after ${r.kind} at +${r.atMs} ms`);
  }

  /** The mission's end state (see missionViolations), and no attempt beside a live earlier one. */
  async checkMission(): Promise<MissionProgress | undefined> {
    const status = await this.flotilla(['status', this.missionId, '--json']);
    const p = status.code === 0 ? (JSON.parse(status.stdout) as MissionProgress) : undefined;
    if (!p) this.violations.push(`flotilla status exited ${status.code}: ${status.stderr}`);
    this.violations.push(...missionViolations(this.repo, this.missionId, this.plan, p, this.driven!.filled));
    // The agents a kill or a deleted worktree orphaned died before the next attempt of their task.
    for (const t of this.plan.tasks)
      for (const [i, s] of taskStarts(this.meet, t.id).entries())
        if (s.earlierAlive)
          this.violations.push(`${t.id}'s agent start ${i + 1} found ${s.earlierAlive} earlier one(s) alive`);
    this.summary.counts = counts(
      p,
      this.meet,
      this.plan.tasks.map((t) => t.id),
      this.repo,
      this.missionId,
    );
    return p;
  }

  /** Processes of the run: cwd or command line under its folders, the dev server (ours) aside. */
  processes(): ProcInfo[] {
    const server = new Set(liveGroupMembers(this.ctx!.server.pid));
    return processesOf([this.root], { cmdline: true }).filter((x) => !server.has(x.pid));
  }

  /** Stops the worker (a drain); then no agent, setup, verify, watchdog or worker process may be left. */
  async stopWorker(): Promise<void> {
    if (!this.processes().some((x) => x.pid === this.ctx!.worker.pid))
      this.violations.push('the process scan does not see the live worker');
    await this.ctx!.worker.stop();
    this.violations.push(...leftProcesses(this.processes(), 'after the worker stopped'));
  }

  /** `flotilla land` and `flotilla clean --yes`; then nothing of the mission left, nothing of the user's changed. */
  async landAndClean(p: MissionProgress | undefined, before: UserSnapshot): Promise<void> {
    const land = await this.flotilla(['land', this.missionId]);
    if (land.code !== 0) this.violations.push(`flotilla land exited ${land.code}: ${land.stdout}${land.stderr}`);
    else if (p?.integrationSha && git(this.repo, 'rev-parse', 'main') !== p.integrationSha)
      this.violations.push(`main is ${git(this.repo, 'rev-parse', 'main')} after land, not ${p.integrationSha}`);
    const clean = await this.flotilla(['clean', this.missionId, '--yes']);
    if (clean.code !== 0)
      this.violations.push(`flotilla clean --yes exited ${clean.code}: ${clean.stdout}${clean.stderr}`);
    this.summary.clean = clean.stdout.split('\n').slice(0, 5).join('\n');
    this.violations.push(...leftovers(this.repo, this.missionId, this.plan, this.worktrees));
    this.violations.push(...userChanges(before, userSnapshot(this.repo)));
    this.violations.push(...leftProcesses(this.processes(), 'after land and clean'));
  }

  /** Writes and prints test-artifacts/soak-<seed>.json. */
  async writeSummary(): Promise<void> {
    this.stopped = true;
    this.driven ??= await this.driving?.catch(() => undefined);
    Object.assign(this.summary, {
      faults: this.driven?.records ?? [],
      notInjected: this.driven?.notInjected ?? [],
      violations: this.violations,
      outcome: this.violations.length ? 'failed' : 'passed',
      totalMs: Date.now() - t0,
    });
    mkdirSync(path.join(ROOT, 'test-artifacts'), { recursive: true });
    const out = path.join(ROOT, 'test-artifacts', `soak-${seed}.json`);
    writeFileSync(out, JSON.stringify(this.summary, null, 2) + '\n');
    log(`summary (${out}):\n${JSON.stringify(this.summary, null, 2)}`);
    const secs = (ms: unknown): string => (typeof ms === 'number' ? `${(ms / 1000).toFixed(1)} s` : 'n/a');
    const head = `seed ${seed}: ${this.summary.outcome as string}, mission ${secs(this.summary.missionMs)}, total ${secs(this.summary.totalMs)}`;
    log([head, ...faultLines(this.driven?.records ?? [])].join('\n  '));
  }
}

test(`soak (seed ${seed}): a 40-task mission survives worker kills, a server restart and worktree faults`, async () => {
  const soak = new Soak();
  log(`mission ${soak.missionId}: ${soak.file}; faults: ${JSON.stringify(soak.faults)}`);
  const before = userSnapshot(soak.repo);
  try {
    await soak.runMission();
    const p = await soak.checkMission();
    await soak.stopWorker();
    await soak.landAndClean(p, before);
  } catch (err) {
    soak.violations.push(`the soak stopped: ${err instanceof Error ? err.message : String(err)}`);
    soak.stopped = true;
    if (soak.ctx) soak.violations.push(...(await unfinished(soak.flotilla, soak.missionId)));
  } finally {
    await soak.writeSummary();
  }
  expect(soak.violations).toEqual([]);
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
