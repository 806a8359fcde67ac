/**
 * One measured run of a mission, bare or through Flotilla's CLI: each under `/usr/bin/time` (wall
 * time, and the CPU of the process and every child it waited for), with the git wrapper first on
 * PATH (bench/git-log.ts), on a fresh repository (and for Flotilla a fresh FLOTILLA_HOME) of its
 * own, against the dev server started once (bench/server.ts), whose CPU is read from /proc
 * before and after.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { bySubcommand, readGitLog } from './git-log';
import type { HookReport } from './hook';
import { fetchHistories, HistoryFigures, historyFigures, MissionHistories } from './histories';
import { missionFile, Size, sizeName, taskIds } from './mission';
import { loadAverage, ownCpuSeconds } from './proc';
import { BenchServer, delta, flotillaLib, runGroups } from './server';
import { p50p95, round } from './stats';

/** What every run needs: where to work, the git wrapper, the server and a client of it. */
export interface Bench {
  work: string;
  wrapperDir: string;
  realGit: string;
  server: BenchServer;
  client: Client;
  keep: boolean;
}

/** The figures of one run. */
export interface RunFigures {
  kind: 'bare' | 'flotilla';
  size: string;
  rep: number;
  ok: boolean;
  /** Wall time of the process (bare script, or `flotilla run` from start to exit), s. */
  wallS: number;
  /** CPU of the process and its children (the CLI, its worker, git, agents), s. */
  cpuS: number;
  /** The same, user and system apart, s. */
  cpuUserS: number;
  cpuSystemS: number;
  cpuSPerTask: number;
  /** The dev server's CPU during the run, s (bare runs: its idle CPU meanwhile). */
  serverCpuS: number;
  serverCpuSPerTask: number;
  gitProcesses: number;
  gitPerTask: number;
  gitBySubcommand: Record<string, number>;
  /** Task end -> merged, s (Flotilla: `endedAt` -> `mergedAt` of `status --json`). */
  endToMergedS: { n: number; p50: number; p95: number };
  /** A task's own steps (worktree, agent, commit), s (Flotilla: `startedAt` -> `endedAt`). */
  taskS: { n: number; p50: number; p95: number };
  /** Load average (1 min) when the run began and ended. */
  load: [number, number];
  /** Flotilla only: the mission's own start -> end (workflow time), s. */
  missionS?: number;
  /** Flotilla only: the CLI process alone (it runs the worker): CPU s and peak RSS (VmHWM) MB. */
  cliCpuS?: number;
  cliSystemCpuS?: number;
  peakRssMb?: number;
  /** Flotilla only: size of `status --json`, bytes: about what each progress query answers. */
  statusBytes?: number;
  /** Flotilla only: processes the CLI spawned itself, by program (git by subcommand). */
  spawns?: Record<string, number>;
  history?: HistoryFigures;
  /** Flotilla only: the server's `service_requests` during the run, by service:operation. */
  serverRequests?: Record<string, number>;
  error?: string;
}

/** A fresh repository: branch main, one commit (README.md), an identity in its config. */
export function makeRepo(dir: string, git: string): void {
  mkdirSync(dir, { recursive: true });
  const g = (...args: string[]): void => void execFileSync(git, args, { cwd: dir, stdio: 'ignore' });
  g('init', '-q', '-b', 'main');
  g('config', 'user.name', 'Bench');
  g('config', 'user.email', 'bench@example.invalid');
  writeFileSync(path.join(dir, 'README.md'), '# bench\n');
  g('add', 'README.md');
  g('commit', '-q', '-m', 'init');
}

/**
 * Runs `argv` under `/usr/bin/time` in a process group of its own; resolves with its exit code,
 * wall and CPU seconds. After `timeoutS` the group is sent SIGINT, then SIGKILL 20 s later.
 */
function timed(
  argv: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; log: string; timeoutS: number },
): Promise<{ code: number; wallS: number; cpuS: number; userS: number; systemS: number }> {
  const timeFile = `${opts.log}.time`;
  return new Promise((resolve, reject) => {
    const out = openSync(opts.log, 'w');
    const child = spawn('/usr/bin/time', ['-f', '%e %U %S', '-o', timeFile, ...argv], {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ['ignore', out, out],
      detached: true,
    });
    closeSync(out);
    runGroups.add(child.pid!);
    const signal = (s: NodeJS.Signals): void => {
      try {
        process.kill(-child.pid!, s);
      } catch {
        // Gone already.
      }
    };
    const timers = [
      setTimeout(() => signal('SIGINT'), opts.timeoutS * 1000),
      setTimeout(() => signal('SIGKILL'), (opts.timeoutS + 20) * 1000),
    ];
    child.on('error', reject);
    child.on('exit', (code) => {
      runGroups.delete(child.pid!);
      timers.forEach(clearTimeout);
      const last = existsSync(timeFile) ? readFileSync(timeFile, 'utf8').trim().split('\n').pop()! : '';
      const [e, u, s] = /^[\d.]+ [\d.]+ [\d.]+$/.test(last) ? last.split(' ').map(Number) : [NaN, NaN, NaN];
      resolve({ code: code ?? 1, wallS: e, cpuS: u + s, userS: u, systemS: s });
    });
  });
}

/** How long one run may take before it is stopped, s. */
const timeoutFor = (size: Size): number => 300 + 3 * size.tasks;

function gitFigures(log: string, tasks: number): Pick<RunFigures, 'gitProcesses' | 'gitPerTask' | 'gitBySubcommand'> {
  const calls = readGitLog(log);
  return {
    gitProcesses: calls.length,
    gitPerTask: round(calls.length / tasks, 1),
    gitBySubcommand: bySubcommand(calls),
  };
}

/** The bare-git script on a fresh repository. */
export async function runBare(bench: Bench, size: Size, rep: number): Promise<RunFigures> {
  const dir = path.join(bench.work, `bare-${size.tasks}-${size.concurrency}-${size.waves}-r${rep}`);
  const repo = path.join(dir, 'repo');
  makeRepo(repo, bench.realGit);
  const gitLog = path.join(dir, 'git.log');
  const env = gitEnv(bench, gitLog);
  const load0 = loadAverage()[0];
  const server0 = ownCpuSeconds(bench.server.pid);
  const log = path.join(dir, 'bare.out');
  const args = [
    '--repo',
    repo,
    '--tasks',
    `${size.tasks}`,
    '--concurrency',
    `${size.concurrency}`,
    '--waves',
    `${size.waves}`,
  ];
  const t = await timed([process.execPath, flotillaLib('bench/bare.js'), ...args], {
    cwd: dir,
    env,
    log,
    timeoutS: timeoutFor(size),
  });
  const serverCpuS = ownCpuSeconds(bench.server.pid) - server0;
  const text = readFileSync(log, 'utf8');
  const result =
    t.code === 0 ? (JSON.parse(text.trim().split('\n').pop()!) as { endToMergedMs: number[]; taskMs: number[] }) : null;
  const figures: RunFigures = {
    kind: 'bare',
    size: sizeName(size),
    rep,
    ok: t.code === 0,
    wallS: t.wallS,
    cpuS: round(t.cpuS),
    cpuUserS: round(t.userS),
    cpuSystemS: round(t.systemS),
    cpuSPerTask: round(t.cpuS / size.tasks, 3),
    serverCpuS: round(serverCpuS),
    serverCpuSPerTask: round(serverCpuS / size.tasks, 3),
    ...gitFigures(gitLog, size.tasks),
    endToMergedS: p50p95((result?.endToMergedMs ?? []).map((ms) => ms / 1000)),
    taskS: p50p95((result?.taskMs ?? []).map((ms) => ms / 1000)),
    load: [load0, loadAverage()[0]],
    ...(t.code === 0 ? {} : { error: text.slice(-2000) }),
  };
  if (!bench.keep) rmSync(dir, { recursive: true, force: true });
  return figures;
}

function gitEnv(bench: Bench, gitLog: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PATH: `${bench.wrapperDir}${path.delimiter}${process.env.PATH ?? ''}`,
    BENCH_GIT_LOG: gitLog,
    BENCH_REAL_GIT: bench.realGit,
  };
}

/** Options of a Flotilla run beyond the mission's size. */
export interface FlotillaOptions {
  /** Extra `node` flags for the CLI process (e.g. `--cpu-prof`). */
  nodeFlags?: string[];
  /** Keep each spawn's stack (BENCH_SPAWN_STACKS, bench/hook.ts). */
  stacks?: boolean;
  /** Called with what the run left before its folder is removed. */
  inspect?: (run: RunLeft) => void;
}

/** What a Flotilla run leaves for a closer look. */
export interface RunLeft {
  dir: string;
  missionId: string;
  histories: MissionHistories;
  hook: HookReport | null;
  status: Status;
  gitLog: string;
}

/** The status `--json` fields the benchmark reads (README, "status --json"). */
export interface Status {
  phase: string;
  startedAt: string;
  endedAt: string | null;
  tasks: { id: string; status: string; startedAt: string | null; endedAt: string | null; mergedAt?: string | null }[];
}

const seconds = (a?: string | null, b?: string | null): number =>
  a && b ? (new Date(b).getTime() - new Date(a).getTime()) / 1000 : NaN;

/** `status ID --json` of a mission, and its size in bytes (phase `unknown` when it cannot be read). */
function readStatus(cli: string, env: NodeJS.ProcessEnv, missionId: string): { status: Status; statusBytes: number } {
  try {
    const text = execFileSync(process.execPath, [cli, 'status', missionId, '--json'], { env, encoding: 'utf8' });
    return { status: JSON.parse(text) as Status, statusBytes: Buffer.byteLength(text) };
  } catch {
    // No such mission (the run failed before it started): the figures say so through `ok`.
    return { status: { phase: 'unknown', startedAt: '', endedAt: null, tasks: [] }, statusBytes: NaN };
  }
}

/** Flotilla on a fresh repository and FLOTILLA_HOME: `node lib/client/cli.js run mission.json`. */
export async function runFlotilla(
  bench: Bench,
  size: Size,
  rep: number,
  opts: FlotillaOptions = {},
): Promise<RunFigures> {
  const missionId = `b${size.tasks}-${size.concurrency}-${size.waves}-r${rep}-${Math.random().toString(36).slice(2, 7)}`;
  const dir = path.join(bench.work, missionId);
  const repo = path.join(dir, 'repo');
  makeRepo(repo, bench.realGit);
  const file = path.join(dir, 'mission.json');
  writeFileSync(file, JSON.stringify(missionFile(missionId, repo, size), null, 2));
  const gitLog = path.join(dir, 'git.log');
  const hookOut = path.join(dir, 'hook.json');
  const env: NodeJS.ProcessEnv = {
    ...gitEnv(bench, gitLog),
    FLOTILLA_HOME: path.join(dir, 'home'),
    TEMPORAL_ADDRESS: bench.server.address,
    FLOTILLA_TASK_QUEUE: `bench-${missionId}`,
    BENCH_HOOK_OUT: hookOut,
    ...(opts.stacks ? { BENCH_SPAWN_STACKS: '1' } : {}),
    NO_COLOR: '1',
  };
  const cli = flotillaLib('client/cli.js');
  const argv = [process.execPath, ...(opts.nodeFlags ?? []), '-r', flotillaLib('bench/hook.js'), cli, 'run', file];
  const load0 = loadAverage()[0];
  const requests0 = await bench.server.requests();
  const server0 = ownCpuSeconds(bench.server.pid);
  const t = await timed(argv, { cwd: dir, env, log: path.join(dir, 'run.out'), timeoutS: timeoutFor(size) });
  const serverCpuS = ownCpuSeconds(bench.server.pid) - server0;
  const load1 = loadAverage()[0];
  const serverRequests = delta(requests0, await bench.server.requests());
  const hook = existsSync(hookOut) ? (JSON.parse(readFileSync(hookOut, 'utf8')) as HookReport) : null;
  const statusEnv = { ...process.env, FLOTILLA_HOME: env.FLOTILLA_HOME, TEMPORAL_ADDRESS: bench.server.address };
  const { status, statusBytes } = readStatus(cli, statusEnv, missionId);
  const histories = await fetchHistories(bench.client, missionId, taskIds(size).flat());
  const ok = t.code === 0 && status.phase === 'completed';
  const cliCpuS = hook ? hook.userCpuS + hook.systemCpuS : NaN;
  const figures: RunFigures = {
    kind: 'flotilla',
    size: sizeName(size),
    rep,
    ok,
    wallS: t.wallS,
    cpuS: round(t.cpuS),
    cpuUserS: round(t.userS),
    cpuSystemS: round(t.systemS),
    cpuSPerTask: round(t.cpuS / size.tasks, 3),
    serverCpuS: round(serverCpuS),
    serverCpuSPerTask: round(serverCpuS / size.tasks, 3),
    ...gitFigures(gitLog, size.tasks),
    endToMergedS: p50p95(status.tasks.map((x) => seconds(x.endedAt, x.mergedAt)).filter(Number.isFinite)),
    taskS: p50p95(status.tasks.map((x) => seconds(x.startedAt, x.endedAt)).filter(Number.isFinite)),
    load: [load0, load1],
    missionS: round(seconds(status.startedAt, status.endedAt)),
    cliCpuS: round(cliCpuS),
    cliSystemCpuS: hook ? round(hook.systemCpuS) : NaN,
    peakRssMb: hook ? round(hook.peakRssMb, 1) : NaN,
    statusBytes,
    spawns: hook?.spawns,
    history: historyFigures(histories),
    serverRequests,
    ...(ok
      ? {}
      : {
          error: `exit ${t.code}, phase ${status.phase}: ${readFileSync(path.join(dir, 'run.out'), 'utf8').slice(-2000)}`,
        }),
  };
  opts.inspect?.({ dir, missionId, histories, hook, status, gitLog });
  if (!bench.keep) rmSync(dir, { recursive: true, force: true });
  return figures;
}
