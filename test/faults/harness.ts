/**
 * Equipment for the crash matrix (`npm run test:faults`): real processes started detached (each
 * the leader of its own process group, so a test can SIGKILL a whole group as a crash would),
 * a Temporal dev server the test owns, process-table checks for agents that outlive their
 * attempt, and the fault -> recovery report.
 *
 * Every process a test starts is registered with a {@link Harness}; `cleanup()` stops all of
 * them (and any process still working in the test's directories), also when the test failed.
 */
import { Client, Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startDevArgs, temporalReachable, ensureTemporalCli } from '../../src/client/server';
import { names } from '../../src/mission/types';
import { cliArgv } from '../helpers/cli';
import { git, tempDir } from '../helpers/git';
import { freePort } from '../helpers/net';
import { sleep, until } from '../helpers/poll';
import { ProcInfo, processesOf } from '../helpers/procs';
import { startDevServer } from '../helpers/temporal';

export const ROOT = path.resolve(__dirname, '..', '..');

// One poll helper for every suite; re-exported for the fault tests that import it from here.
export { sleep, until };

export interface Proc {
  name: string;
  pid: number;
  /** stdout and stderr go here. */
  log: string;
  /** Resolves when the process exits. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited(): boolean;
  output(): string;
  /** SIGKILL to the whole process group, as a crash (OOM killer, power loss of a container) would. */
  crash(): void;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves when the leader is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** True while a process of group `pgid` exists that is not a zombie (read from /proc). */
export function liveGroupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses: split after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z' && Number(fields[2]) === pgid) out.push(Number(entry));
    } catch {
      // Exited while we looked.
    }
  }
  return out;
}

/** Processes (not zombies) whose working directory is `dir` or inside it, with their command lines. */
export function processesIn(dir: string): ProcInfo[] {
  return processesOf([dir]);
}

/** Processes whose command line contains `needle`. */
export function processesMatching(needle: string): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      if (cmd.includes(needle)) out.push({ pid: Number(entry), cmd });
    } catch {
      // Exited.
    }
  }
  return out;
}

export function killGroupQuietly(pgid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Gone already.
  }
}

/** The PID file Flotilla writes for a task's agent group. */
export function agentPidFile(home: string, missionId: string, taskId: string): string {
  return path.join(home, 'runs', missionId, taskId, 'agent.pid');
}

export function readPgid(file: string): number | undefined {
  try {
    // `<pgid> <starttime> <boot_id>` (src/agents/pid-file.ts): the group id comes first.
    const n = Number(readFileSync(file, 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(n) && n > 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** A `git` port free on 127.0.0.1 whose +1000 (the dev server's Web UI port) is free too. */
export async function devServerPort(): Promise<number> {
  const free = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
  for (;;) {
    const port = await freePort();
    if (port < 64000 && (await free(port + 1000))) return port;
  }
}

/**
 * A dev server on a free loopback port for a fault suite: its workers are separate processes that
 * connect by address, so the port is chosen before the server starts.
 */
export async function startFaultServer(): Promise<{ env: TestWorkflowEnvironment; address: string }> {
  const port = await freePort();
  return { env: await startDevServer(port), address: `127.0.0.1:${port}` };
}

/**
 * The frame most fault test files share: a {@link Harness}, a `FLOTILLA_HOME` whose worktrees no
 * process may outlive, and a dev server (see {@link startFaultServer}) started before the file's
 * tests and stopped after them, with every process the harness started. Call it at the top level
 * of a test file (it registers `beforeAll` and `afterAll`).
 */
export function faultSuite(name: string): {
  h: Harness;
  home: string;
  /** The dev server's client environment and `host:port`, once `beforeAll` ran. */
  server(): { env: TestWorkflowEnvironment; address: string };
} {
  const h = new Harness();
  const home = tempDir(`flotilla-faults-${name}-home-`);
  let server: { env: TestWorkflowEnvironment; address: string } | undefined;
  beforeAll(async () => {
    server = await startFaultServer();
    h.watch(path.join(home, 'worktrees'));
  }, 180_000);
  afterAll(async () => {
    await h.cleanup();
    await server?.env.teardown();
  });
  return {
    h,
    home,
    server: () => {
      if (!server) throw new Error('the dev server is not up: use server() inside a test');
      return server;
    },
  };
}

export class Harness {
  /** Scratch space of this test file (logs, markers). */
  readonly dir = tempDir('flotilla-faults-');
  private readonly procs: Proc[] = [];
  private readonly cleanups: Array<() => unknown> = [];
  /** Directories in which no process may be left running when the test ends. */
  private readonly watched: string[] = [];

  /** Starts `argv` detached (its own process group), output to a log file. */
  spawn(name: string, argv: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Proc {
    const log = path.join(this.dir, `${name}.log`);
    const fd = openSync(log, 'a');
    const child: ChildProcess = spawn(argv[0], argv.slice(1), {
      cwd: opts.cwd ?? ROOT,
      env: opts.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    let done = false;
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => {
        done = true;
        resolve({ code, signal });
      }),
    );
    const pid = child.pid!;
    const proc: Proc = {
      name,
      pid,
      log,
      exit,
      exited: () => done,
      output: () => (existsSync(log) ? readFileSync(log, 'utf8') : ''),
      crash: () => killGroupQuietly(pid, 'SIGKILL'),
      stop: async (graceMs = 12_000) => {
        if (!done) killGroupQuietly(pid, 'SIGTERM');
        const timer = setTimeout(() => killGroupQuietly(pid, 'SIGKILL'), graceMs);
        await exit;
        clearTimeout(timer);
        // Whatever the leader left in its group goes with it.
        killGroupQuietly(pid, 'SIGKILL');
      },
    };
    this.procs.push(proc);
    return proc;
  }

  /**
   * A Flotilla worker (`flotilla worker`) as its own process, started in `cwd` (default the
   * repository root; the watchdogs of its agents inherit it); resolves once it polls.
   */
  async worker(name: string, env: NodeJS.ProcessEnv, opts: { cwd?: string } = {}): Promise<Proc> {
    const w = this.spawn(name, cliArgv(['worker']), { env: { ...process.env, ...env }, cwd: opts.cwd });
    const exited = w.exit.then((e) => {
      throw new Error(`${name} exited (code ${e.code}, signal ${e.signal}):\n${w.output()}`);
    });
    await Promise.race([
      exited,
      until(`${name} to start`, () => /flotilla worker: task queues/.test(w.output()), 60_000),
    ]);
    exited.catch(() => undefined);
    return w;
  }

  /**
   * `temporal server start-dev` on `port` with the SQLite file `db` and Flotilla's search
   * attributes (the flags `flotilla server` uses); resolves once it answers.
   */
  async temporal(name: string, port: number, db: string): Promise<Proc> {
    const cli = ensureTemporalCli((line) => console.log(line));
    if (!cli) throw new Error('the crash matrix needs the Temporal CLI (or Go to install it)');
    const address = `127.0.0.1:${port}`;
    const proc = this.spawn(name, [cli, ...startDevArgs(address, db)]);
    await until(
      `${name} to answer at ${address}`,
      async () => {
        if (proc.exited()) throw new Error(`${name} exited:\n${proc.output()}`);
        return temporalReachable(address, 1000);
      },
      60_000,
    );
    return proc;
  }

  /** No process may be left working in `dir` at cleanup (they are killed, and the test fails). */
  watch(dir: string): void {
    this.watched.push(dir);
  }

  onCleanup(fn: () => unknown): void {
    this.cleanups.push(fn);
  }

  /** Stops everything this test started, last first; kills any process left in watched directories. */
  async cleanup(): Promise<void> {
    for (const fn of [...this.cleanups].reverse()) {
      try {
        await fn();
      } catch (err) {
        console.warn(`cleanup: ${String(err)}`);
      }
    }
    await Promise.all([...this.procs].reverse().map((p) => p.stop(5000)));
    for (const dir of this.watched) {
      for (const p of processesIn(dir)) {
        console.warn(`cleanup: killing a process left in ${dir}: ${p.pid} ${p.cmd}`);
        killGroupQuietly(p.pid);
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // Gone.
        }
      }
    }
  }
}

/** Where a fault test's CLIs and workers find Temporal and keep their state. */
export interface FlotillaTarget {
  /** The Temporal service, `host:port`. */
  address: string;
  /** `FLOTILLA_HOME`. */
  home: string;
  /** `FLOTILLA_TASK_QUEUE`: each case its own, so only its own workers take its work. */
  queue: string;
  /** `FLOTILLA_HOST_ID`: a restarted worker with the same id takes over the same host queue. */
  host?: string;
}

/** The environment variables (added to this process's) that point a CLI or worker at `t`. */
export function flotillaEnv(t: FlotillaTarget): NodeJS.ProcessEnv {
  return {
    TEMPORAL_ADDRESS: t.address,
    FLOTILLA_HOME: t.home,
    FLOTILLA_TASK_QUEUE: t.queue,
    ...(t.host ? { FLOTILLA_HOST_ID: t.host } : {}),
  };
}

/** A Temporal client for `address` (the caller closes `connection`). */
export async function clientFor(address: string): Promise<{ connection: Connection; client: Client }> {
  const connection = await Connection.connect({ address });
  return { connection, client: new Client({ connection }) };
}

export { startMissionOn } from '../helpers/worker';

/**
 * The details of the last heartbeat Temporal recorded for a task's running agent activity (what a
 * retry after a crash will read), or undefined when none is pending.
 */
export async function agentHeartbeat(
  client: Client,
  missionId: string,
  taskId: string,
): Promise<Record<string, unknown> | undefined> {
  const d = await client.workflow.getHandle(names.taskWorkflowId(missionId, taskId)).describe();
  const pending = d.raw.pendingActivities?.find((a) => a.activityType?.name === 'runAgent');
  const data = pending?.heartbeatDetails?.payloads?.[0]?.data;
  if (!data) return undefined;
  return JSON.parse(Buffer.from(data).toString('utf8')) as Record<string, unknown>;
}

/**
 * Prints `FAULT <name>: recovered in N s` and, when FLOTILLA_FAULTS_REPORT names a file, appends
 * the same as one JSON line (with `extra`).
 */
export function reportFault(name: string, recoveredMs: number, extra: Record<string, unknown> = {}): void {
  const details = Object.entries(extra)
    .map(([k, v]) => `${k}=${typeof v === 'number' && /Ms$/.test(k) ? `${(v / 1000).toFixed(1)}s` : String(v)}`)
    .join(' ');
  console.log(`FAULT ${name}: recovered in ${(recoveredMs / 1000).toFixed(1)} s${details ? ` (${details})` : ''}`);
  const file = process.env.FLOTILLA_FAULTS_REPORT;
  if (file) {
    appendFileSync(
      path.resolve(file),
      `${JSON.stringify({ fault: name, recoveredMs, at: new Date().toISOString(), ...extra })}\n`,
    );
  }
}

/** Subjects of the merge commits on `branch` (first parent: the integration branch's own history). */
export function mergeSubjects(repo: string, branch: string): string[] {
  const out = git(repo, 'log', '--merges', '--first-parent', '--format=%s', branch);
  return out ? out.split('\n') : [];
}

/**
 * The integration branch holds exactly one merge per task (`flotilla: merge <task>: ...`), and
 * nothing else was merged.
 */
export function expectOneMergePerTask(repo: string, missionId: string, taskIds: string[]): void {
  const subjects = mergeSubjects(repo, names.integrationBranch(missionId));
  const counts = Object.fromEntries(
    taskIds.map((id) => [id, subjects.filter((s) => s.startsWith(`flotilla: merge ${id}: `)).length]),
  );
  expect({ merges: subjects.length, perTask: counts }).toEqual({
    merges: taskIds.length,
    perTask: Object.fromEntries(taskIds.map((id) => [id, 1])),
  });
}

/** The content of `file` at `ref`, or undefined when it is not there. */
export function fileAt(repo: string, ref: string, file: string): string | undefined {
  try {
    return execFileSync('git', ['show', `${ref}:${file}`], { cwd: repo, encoding: 'utf8', stdio: 'pipe' }).trim();
  } catch {
    return undefined;
  }
}

/**
 * Shell lines of a `command` resolver agent that resolves a conflict in `file` by keeping both
 * sides' lines (`git merge-file --union` of the index's three stages: base, ours, theirs).
 */
export function unionResolverLines(file: string): string[] {
  return [
    `git show :1:${file} > /tmp/base.$$; git show :2:${file} > /tmp/ours.$$; git show :3:${file} > /tmp/theirs.$$`,
    `git merge-file --union -p /tmp/ours.$$ /tmp/base.$$ /tmp/theirs.$$ > ${file}; rm -f /tmp/*.$$`,
  ];
}

/**
 * argv of a `command` agent for fault tests (node, no shell). Every start appends
 * `<pid> <live earlier attempts>` to `startsFile` (so an attempt records whether the agent an
 * earlier attempt left behind was still alive when it started). It writes `part1.txt` unless an
 * earlier attempt did (work that must survive the fault), then, with `goFile`, waits for that file
 * to exist; without it, the first attempt waits two minutes (the fault comes first) and a later
 * one goes on at once. Then it writes `part2.txt` and exits 0.
 */
export function faultAgentArgv(startsFile: string, goFile = ''): string[] {
  const script = `
const fs = require('fs');
const [starts, go] = process.argv.slice(1);
const alive = (pid) => { try { return fs.readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1][0] !== 'Z'; } catch { return false; } };
const earlier = fs.existsSync(starts) ? fs.readFileSync(starts, 'utf8').split('\\n').filter(Boolean).map((l) => Number(l.split(' ')[0])) : [];
fs.appendFileSync(starts, process.pid + ' ' + earlier.filter(alive).length + '\\n');
if (!fs.existsSync('part1.txt')) fs.writeFileSync('part1.txt', 'written before the fault\\n');
const finish = () => { fs.writeFileSync('part2.txt', 'written after the fault\\n'); process.exit(0); };
if (go) setInterval(() => fs.existsSync(go) && finish(), 200);
else if (earlier.length === 0) setTimeout(finish, 120000);
else finish();
`;
  return [process.execPath, '-e', script, startsFile, goFile];
}

/** The starts a {@link faultAgentArgv} agent recorded: its pid and how many earlier attempts were alive. */
export function agentStarts(startsFile: string): { pid: number; earlierAlive: number }[] {
  if (!existsSync(startsFile)) return [];
  return readFileSync(startsFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [pid, earlierAlive] = l.split(' ').map(Number);
      return { pid, earlierAlive };
    });
}
