/**
 * The soak's chaos driver: a seeded schedule of faults, injected one at a time while the mission
 * runs, each recorded with its time and how long the mission took to make progress again.
 *
 * - `worker-kill`: SIGKILL to the standalone worker's process group, a new worker after a short
 *   random delay (same FLOTILLA_HOME and host id); fires once the integration branch holds a
 *   given number of merges;
 * - `server-restart`: SIGKILL to the dev server, started again on the same port and database;
 * - `worktree-delete`: `rm -rf` of a target task's worktree while its agent runs;
 * - `worktree-fill`: hundreds of small files and a few MB, untracked, in a target task's worktree
 *   while its agent runs.
 * The targets' agents wait for a go file, which the driver writes once the fault is in.
 *
 * Progress is what the mission shows: the tasks' statuses (the progress query) and the merges on
 * the integration branch (git). A fault's recovery time runs from its injection to the first
 * change of either, observed once what the fault broke was restored (the worker or server up).
 */
import type { Client } from '@temporalio/client';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { names } from '../../src/mission/types';
import { progressQuery } from '../../src/workflows/messages';
import { agentStarts, liveGroupMembers, Proc, sleep, until } from '../faults/harness';
import { processesOf } from '../helpers/procs';
import { between, Meeting, Rng, SoakPlan } from './mission';

export type FaultKind = 'worker-kill' | 'server-restart' | 'worktree-delete' | 'worktree-fill';

/** A fault to inject: when merges reach `afterMerges`, or when `target`'s agent runs. */
export interface Fault {
  kind: FaultKind;
  afterMerges?: number;
  target?: string;
}

/** A fault injected: times are ms since the mission started unless named otherwise. */
export interface FaultRecord {
  kind: FaultKind;
  target?: string;
  trigger: string;
  /** When it was injected (ISO-8601) and its offset from the mission's start, ms. */
  at: string;
  atMs: number;
  /** From injection until what it broke was back (the worker polling, the server answering), ms. */
  restoredMs?: number;
  /** From injection until the mission made progress again, ms; null when it never did. */
  recoveryMs: number | null;
  /** What changed first: `merges a->b` or `tasks`. */
  progress?: string;
  details: Record<string, number | string>;
}

/** A time budget for the whole soak: every wait is cut at it and then fails naming what it waited for. */
export class Deadline {
  readonly start = Date.now();
  constructor(readonly budgetMs: number) {}

  left(): number {
    return this.budgetMs - (Date.now() - this.start);
  }

  /** `until` (test/faults/harness.ts), at most `capMs` and never past the deadline. */
  async until<T>(
    what: string,
    pred: () => T | Promise<T>,
    capMs = Infinity,
    intervalMs = 200,
  ): Promise<NonNullable<T>> {
    const left = Math.max(0, this.left());
    try {
      return await until(what, pred, Math.min(capMs, left), intervalMs);
    } catch (err) {
      if (capMs < left) throw err;
      throw new Error(
        `soak deadline (${Math.round(this.budgetMs / 1000)} s) passed while waiting for ${what}: ${String(err)}`,
      );
    }
  }
}

/**
 * The fault schedule for `plan`: 3 to 5 worker kills and one server restart at merge counts spread
 * over the mission's first 70 % (one per segment, in shuffled order), and the two worktree faults
 * on their targets.
 */
export function schedule(rng: Rng, plan: SoakPlan, taskCount: number): Fault[] {
  const kinds: FaultKind[] = [...Array<FaultKind>(between(rng, 3, 5)).fill('worker-kill'), 'server-restart'];
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = between(rng, 0, i);
    [kinds[i], kinds[j]] = [kinds[j], kinds[i]];
  }
  const span = Math.floor(taskCount * 0.7) - 2;
  const seg = span / kinds.length;
  const faults: Fault[] = kinds.map((kind, i) => ({
    kind,
    afterMerges: 2 + Math.floor(i * seg) + between(rng, 0, Math.max(0, Math.floor(seg) - 1)),
  }));
  faults.push(
    { kind: 'worktree-delete', target: plan.deleteTarget },
    { kind: 'worktree-fill', target: plan.fillTarget },
  );
  return faults;
}

/** A snapshot of the mission's progress: merges on the integration branch, and the tasks' statuses when known. */
export interface Signature {
  merges: number;
  tasks?: string;
}

/** First-parent merge commits of `rev` (0 when it does not exist). */
export function mergeCount(repo: string, rev: string): number {
  try {
    const out = execFileSync('git', ['rev-list', '--count', '--merges', '--first-parent', rev], {
      cwd: repo,
      encoding: 'utf8',
      stdio: 'pipe',
    });
    return Number(out.trim());
  } catch {
    return 0;
  }
}

/** Reads the mission's progress (see {@link Signature}). */
export class ProgressProbe {
  constructor(
    private readonly repo: string,
    private readonly missionId: string,
    private readonly client: Client,
  ) {}

  /** First-parent merge commits on the integration branch (0 before it exists). */
  merges(): number {
    return mergeCount(this.repo, names.integrationBranch(this.missionId));
  }

  /** The progress query's task statuses, within 3 s (a dead worker or server: undefined). */
  async tasks(): Promise<string | undefined> {
    const handle = this.client.workflow.getHandle(names.missionWorkflowId(this.missionId));
    try {
      const p = await this.client.withDeadline(Date.now() + 3000, () => handle.query(progressQuery));
      return p.tasks.map((t) => `${t.id}:${t.status}`).join(' ');
    } catch {
      return undefined;
    }
  }

  async sample(): Promise<Signature> {
    const tasks = await this.tasks();
    return { merges: this.merges(), tasks };
  }
}

/** What changed from `a` to `b`, or undefined when nothing did (unknown task statuses never count). */
export function changed(a: Signature, b: Signature): string | undefined {
  if (a.merges !== b.merges) return `merges ${a.merges}->${b.merges}`;
  if (a.tasks && b.tasks && a.tasks !== b.tasks) return 'tasks';
  return undefined;
}

/** What the driver acts on; `worker` and `server` are the current processes (replaced on restart). */
export interface DriverContext {
  rng: Rng;
  repo: string;
  missionId: string;
  meet: Meeting;
  /** The folder the mission's worktrees are in (`$FLOTILLA_HOME/worktrees/<mission>`). */
  worktrees: string;
  probe: ProgressProbe;
  deadline: Deadline;
  /** When the mission was started (epoch ms). */
  startedAt: number;
  worker: Proc;
  startWorker(name: string): Promise<Proc>;
  server: Proc;
  startServer(name: string): Promise<Proc>;
  /** True once the mission ended (`flotilla run` exited). */
  ended(): boolean;
  log(line: string): void;
}

/** A task's agent starts, oldest first (see {@link Meeting.starts}). */
export function taskStarts(meet: Meeting, taskId: string): { pid: number; earlierAlive: number }[] {
  return agentStarts(path.join(meet.starts, taskId));
}

/**
 * The task's worktree, from `git worktree list` (undefined when git lists none, or cannot tell
 * now: `git worktree list` fails while a `git worktree add` is half way, "failed to read
 * .git/worktrees/<name>/commondir", which ended the driver in a run of seed 1596911215).
 */
export function taskWorktree(repo: string, taskId: string): string | undefined {
  let out: string;
  try {
    out = execFileSync('git', ['worktree', 'list', '--porcelain'], { cwd: repo, encoding: 'utf8', stdio: 'pipe' });
  } catch {
    return undefined;
  }
  return out
    .split('\n')
    .filter((l) => l.startsWith('worktree '))
    .map((l) => l.slice('worktree '.length))
    .find((p) => p.endsWith(`${path.sep}tasks${path.sep}${taskId}`));
}

/** The target's agent runs and waits for its go file, in a worktree git lists. */
function targetWaiting(ctx: DriverContext, taskId: string): boolean {
  const pid = taskStarts(ctx.meet, taskId).at(-1)?.pid;
  const wt = taskWorktree(ctx.repo, taskId);
  return (
    pid !== undefined &&
    liveGroupMembers(pid).includes(pid) &&
    !existsSync(path.join(ctx.meet.gos, taskId)) &&
    wt !== undefined &&
    existsSync(wt)
  );
}

/** What an injection reports: restored time and details. */
type Injected = { restoredAt?: number; details: Record<string, number | string> };

async function killWorker(ctx: DriverContext, n: number): Promise<Injected> {
  const killedAt = Date.now();
  ctx.worker.crash();
  await ctx.worker.exit;
  const delayMs = between(ctx.rng, 500, 5000);
  // The agents die with their worker (their watchdogs), before any restart.
  const agentsGone = await until(
    'agents to die with the worker',
    () => processesOf([ctx.worktrees]).length === 0,
    10_000,
  )
    .then(() => Date.now() - killedAt)
    .catch(() => -1);
  await sleep(Math.max(0, killedAt + delayMs - Date.now()));
  ctx.worker = await ctx.startWorker(`worker-${n + 2}`);
  return { restoredAt: Date.now(), details: { restartDelayMs: delayMs, agentsGoneMs: agentsGone } };
}

async function restartServer(ctx: DriverContext): Promise<Injected> {
  ctx.server.crash();
  await ctx.server.exit;
  ctx.server = await ctx.startServer('server-2');
  return { restoredAt: Date.now(), details: {} };
}

async function deleteWorktree(ctx: DriverContext, target: string): Promise<Injected> {
  const wt = await ctx.deadline.until(`${target}'s worktree`, () => taskWorktree(ctx.repo, target), 10_000);
  const starts = taskStarts(ctx.meet, target);
  const pid = starts.at(-1)!.pid;
  const t0 = Date.now();
  rmSync(wt, { recursive: true, force: true });
  const since = (): number => Date.now() - t0;
  const agentKilledMs = await ctx.deadline
    .until(`${target}'s agent to die after its worktree was deleted`, () => liveGroupMembers(pid).length === 0, 60_000)
    .then(since);
  const rebuiltMs = await ctx.deadline
    .until(`${target}'s worktree to be rebuilt`, () => existsSync(path.join(wt, 'shared.txt')), 120_000)
    .then(since);
  const nextAttemptMs = await ctx.deadline
    .until(`${target}'s next attempt`, () => taskStarts(ctx.meet, target).length > starts.length, 120_000)
    .then(since);
  writeFileSync(path.join(ctx.meet.gos, target), 'go\n');
  return { details: { worktree: wt, agentKilledMs, rebuiltMs, nextAttemptMs } };
}

/** Blob ids of the files the fill wrote (path relative to the worktree -> `git hash-object`). */
export type Filled = Record<string, string>;

async function fillWorktree(ctx: DriverContext, target: string, filled: Filled): Promise<Injected> {
  const wt = await ctx.deadline.until(`${target}'s worktree`, () => taskWorktree(ctx.repo, target), 10_000);
  const small = between(ctx.rng, 300, 600);
  const big = between(ctx.rng, 2, 4);
  let bytes = 0;
  const t0 = Date.now();
  mkdirSync(path.join(wt, 'junk', 'small'), { recursive: true });
  mkdirSync(path.join(wt, 'junk', 'big'), { recursive: true });
  const written: string[] = [];
  for (let i = 0; i < small; i++) {
    const rel = `junk/small/f${String(i).padStart(4, '0')}.txt`;
    const content = `junk ${i} of ${target}: ${'x'.repeat(between(ctx.rng, 10, 200))}\n`;
    writeFileSync(path.join(wt, rel), content);
    written.push(rel);
    bytes += content.length;
  }
  for (let i = 0; i < big; i++) {
    const rel = `junk/big/blob${i}.bin`;
    const buf = Buffer.alloc(1 << 20);
    for (let k = 0; k < buf.length; k++) buf[k] = Math.floor(ctx.rng() * 256);
    writeFileSync(path.join(wt, rel), buf);
    written.push(rel);
    bytes += buf.length;
  }
  const fillMs = Date.now() - t0;
  const ids = execFileSync('git', ['hash-object', '--no-filters', '--stdin-paths'], {
    cwd: wt,
    input: written.join('\n') + '\n',
    encoding: 'utf8',
  })
    .trim()
    .split('\n');
  written.forEach((rel, i) => (filled[rel] = ids[i]));
  writeFileSync(path.join(ctx.meet.gos, target), 'go\n');
  return { details: { worktree: wt, files: written.length, bytes, fillMs } };
}

/** Injects `f`, then waits (bounded) until the mission makes progress; returns its record. */
async function inject(ctx: DriverContext, f: Fault, n: number, filled: Filled): Promise<FaultRecord> {
  const before = await ctx.probe.sample();
  const injectedAt = Date.now();
  const trigger = f.target ? `${f.target}'s agent running` : `${f.afterMerges} merges (${before.merges} now)`;
  ctx.log(`fault ${f.kind}${f.target ? ` on ${f.target}` : ''} (${trigger})`);
  const done =
    f.kind === 'worker-kill'
      ? await killWorker(ctx, n)
      : f.kind === 'server-restart'
        ? await restartServer(ctx)
        : f.kind === 'worktree-delete'
          ? await deleteWorktree(ctx, f.target!)
          : await fillWorktree(ctx, f.target!, filled);
  const from = done.restoredAt ?? injectedAt;
  let progress: string | undefined;
  let recoveredAt: number | null = null;
  try {
    await ctx.deadline.until(
      `progress after ${f.kind}`,
      async () => {
        if (Date.now() < from) return false;
        progress = changed(before, await ctx.probe.sample());
        return progress !== undefined || ctx.ended();
      },
      240_000,
      250,
    );
    recoveredAt = Date.now();
  } catch (err) {
    ctx.log(`no progress after ${f.kind}: ${String(err)}`);
    if (ctx.deadline.left() <= 0) throw err;
  }
  const rec: FaultRecord = {
    kind: f.kind,
    ...(f.target ? { target: f.target } : {}),
    trigger,
    at: new Date(injectedAt).toISOString(),
    atMs: injectedAt - ctx.startedAt,
    ...(done.restoredAt ? { restoredMs: done.restoredAt - injectedAt } : {}),
    recoveryMs: recoveredAt === null ? null : recoveredAt - injectedAt,
    ...(progress ? { progress } : {}),
    details: done.details,
  };
  ctx.log(
    `  recovered in ${rec.recoveryMs === null ? 'never' : `${(rec.recoveryMs / 1000).toFixed(1)} s`} ${JSON.stringify(rec.details)}`,
  );
  return rec;
}

/**
 * One line per fault for the run's closing summary (the soak's report table is made from these):
 * kind and target, when (s since the mission started), its trigger, how long until what it broke
 * was back and until the mission progressed again, and what progressed first.
 */
export function faultLines(records: FaultRecord[]): string[] {
  const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  return records.map(
    (r) =>
      `fault ${r.kind}${r.target ? ` on ${r.target}` : ''} at +${s(r.atMs)} (${r.trigger}): ` +
      (r.restoredMs === undefined ? '' : `restored in ${s(r.restoredMs)}, `) +
      (r.recoveryMs === null ? 'NO progress' : `progress in ${s(r.recoveryMs)} (${r.progress ?? 'mission ended'})`),
  );
}

/** What the driver did: the faults injected, those never injected (the mission ended first), the fill's files. */
export interface DriverResult {
  records: FaultRecord[];
  notInjected: Fault[];
  filled: Filled;
}

/** Injects `faults` one at a time as their triggers hold, until all are in or the mission ended. */
export async function drive(ctx: DriverContext, faults: Fault[]): Promise<DriverResult> {
  const pending = [...faults];
  const records: FaultRecord[] = [];
  const filled: Filled = {};
  let kills = 0;
  while (pending.length && !ctx.ended()) {
    const merges = ctx.probe.merges();
    const i = pending.findIndex((f) => (f.target ? targetWaiting(ctx, f.target) : merges >= f.afterMerges!));
    if (i < 0) {
      await sleep(250);
      continue;
    }
    const [f] = pending.splice(i, 1);
    records.push(await inject(ctx, f, f.kind === 'worker-kill' ? kills++ : 0, filled));
  }
  return { records, notInjected: pending, filled };
}
