/**
 * Worker "hosts" on one machine, as the multi-host tests (test/e2e/multi-host.test.ts on the dev
 * server, test/cluster/multi-host.test.ts on PostgreSQL) run them: `flotilla worker` processes
 * with their own FLOTILLA_HOME and FLOTILLA_HOST_ID, a mission on a bare origin whose scripted
 * agents write a line a second, and the facts the tests check in /proc and on the origin.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MissionProgress } from '../../src/mission/progress';
import { CliProcess, runCli, spawnCli } from './cli';
import { git } from './git';
import { until } from './poll';
import { processesOf } from './procs';

/** Starts a worker posing as host `host` and waits until it polls the placement queue. */
export async function startHostWorker(opts: {
  env: NodeJS.ProcessEnv;
  home: string;
  host: string;
  queue: string;
  agents: number;
}): Promise<CliProcess> {
  const w = spawnCli(['worker', '--agents', String(opts.agents)], {
    env: { ...opts.env, FLOTILLA_HOME: opts.home, FLOTILLA_HOST_ID: opts.host, FLOTILLA_TASK_QUEUE: opts.queue },
    timeoutMs: 1_200_000,
  });
  const placement = opts.queue.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '\\.placement';
  await w.waitFor(new RegExp(`${placement}'[^}]*RUNNING`), 120_000);
  return w;
}

/** Processes whose working directory is under `dir` (agents and their commands in its worktrees). */
export function processesUnder(dir: string): number[] {
  return processesOf([dir])
    .filter((p) => p.cwd !== dir)
    .map((p) => p.pid);
}

// `until` (poll until truthy) lives in poll.ts; re-exported for the multi-host suites.
export { until };

/**
 * Writes `<dir>/<id>.yaml`: `n` tasks (t1…tn) on `origin`, all at once, whose agents append
 * `<task> <i>` to `<task>.txt` once a second for `seconds` s, checkpointed every 2 s; `extra`:
 * more top-level lines (e.g. `hostLostAfter: 5s`).
 */
export function lineWriterMission(
  dir: string,
  id: string,
  origin: string,
  n: number,
  seconds: number,
  extra: string[] = [],
): string {
  const file = path.join(dir, `${id}.yaml`);
  writeFileSync(
    file,
    [
      `id: ${id}`,
      `origin: ${origin}`,
      `concurrency: ${n}`,
      'checkpointEvery: 2s',
      ...extra,
      'agent:',
      '  runtime: command',
      `  command: [bash, -c, 'for i in $(seq 1 ${seconds}); do echo "$FLOTILLA_TASK_ID $i" >> "$FLOTILLA_TASK_ID.txt"; sleep 1; done']`,
      '  timeout: 5m',
      'tasks:',
      ...Array.from({ length: n }, (_, i) => `  - { id: t${i + 1}, prompt: write t${i + 1} }`),
      '',
    ].join('\n'),
  );
  return file;
}

/** The merge commits on the origin's integration branch of mission `id`, counted by task id. */
export function mergesByTask(origin: string, id: string): Record<string, number> {
  const subjects = git(origin, 'log', '--merges', '--format=%s', `flotilla/${id}/integration`).split('\n');
  const counts: Record<string, number> = {};
  for (const s of subjects) {
    const m = /^flotilla: merge ([^:]+):/.exec(s);
    if (m) counts[m[1]] = (counts[m[1]] ?? 0) + 1;
  }
  return counts;
}

/**
 * `flotilla status ID --json`, or null while it cannot be had: right after a worker dies, a query
 * to a workflow whose sticky queue was that worker's waits for Temporal to give up on it.
 */
export async function missionStatus(env: NodeJS.ProcessEnv, id: string): Promise<MissionProgress | null> {
  const r = await runCli(['status', id, '--json'], { env });
  return r.code === 0 ? (JSON.parse(r.stdout) as MissionProgress) : null;
}

/**
 * SIGKILLs a host's worker and waits (5 s at most) until no process runs under its
 * FLOTILLA_HOME: its agents die with it (their watchdogs).
 * @returns when it was killed (epoch ms) and how long its processes outlived it, ms
 */
export async function killHost(worker: CliProcess, home: string): Promise<{ killedAt: number; orphansGoneMs: number }> {
  const killedAt = Date.now();
  worker.kill('SIGKILL');
  await worker.result;
  await until(`no process left under ${home}`, async () => (processesUnder(home).length ? null : true), 5000);
  return { killedAt, orphansGoneMs: Date.now() - killedAt };
}
