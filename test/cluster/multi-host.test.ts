/**
 * One mission across three worker "hosts" on the PostgreSQL-backed service (`npm run
 * test:cluster`): three `flotilla worker` processes, each with its own FLOTILLA_HOME and
 * FLOTILLA_HOST_ID and `--agents 4`, and one bare origin repository. The mission's tasks claim a
 * host each; a host SIGKILLed while its agents run leaves no process behind, and its tasks finish
 * on the other hosts from what it pushed; a host drained with SIGTERM hands its tasks over the
 * same way. Every task is merged exactly once.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { MissionProgress } from '../../src/mission/progress';
import { CliProcess, runCli } from '../helpers/cli';
import { clusterScript, freeFrontendPort, logTail, parseExports } from '../helpers/cluster';
import { git, makeRepo, tempDir } from '../helpers/git';
import {
  killHost,
  lineWriterMission,
  mergesByTask,
  missionStatus,
  processesUnder,
  startHostWorker,
  until,
} from '../helpers/hosts';
import { freePort } from '../helpers/net';

const dir = tempDir('flotilla-multihost-cluster-');
const root = tempDir('flotilla-multihost-');
const HOSTS = ['h1', 'h2', 'h3'];
const QUEUE = 'flotilla-multihost';
/** Seconds each agent works (a line a second) before it is done. */
const WORK_S = 24;
let exported: Record<string, string> = {};
let origin: string;
const workers = new Map<string, CliProcess>();
const figures: Record<string, number> = {};

const cluster = (args: string[]) => clusterScript(args, { FLOTILLA_CLUSTER_DIR: dir });
const home = (host: string): string => path.join(root, host);
const clientEnv = (): NodeJS.ProcessEnv => ({
  ...exported,
  FLOTILLA_HOME: path.join(root, 'client'),
  FLOTILLA_TASK_QUEUE: QUEUE,
});

/** Starts host `h`'s worker and waits until it polls all three of its queues. */
async function startWorker(h: string): Promise<void> {
  workers.set(h, await startHostWorker({ env: exported, home: home(h), host: h, queue: QUEUE, agents: 4 }));
}

const tryStatus = (id: string): Promise<MissionProgress | null> => missionStatus(clientEnv(), id);

async function status(id: string): Promise<MissionProgress> {
  const r = await runCli(['status', id, '--json'], { env: clientEnv() });
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  return JSON.parse(r.stdout) as MissionProgress;
}

/**
 * Waits until a host among `hosts`, other than the mission's own (which holds its integration
 * worktree and is not re-placed), runs at least `n` agents; returns it and their task ids.
 */
async function whenRunning(id: string, hosts: string[], n: number): Promise<{ host: string; tasks: string[] }> {
  return until(
    `${n} agents running on one of ${hosts.join(', ')}`,
    async () => {
      const s = await tryStatus(id);
      if (!s) return null;
      for (const h of hosts.filter((x) => x !== s.host)) {
        const mine = s.tasks.filter((t) => t.host === h && t.status === 'running').map((t) => t.id);
        const agents = processesUnder(path.join(home(h), 'worktrees'));
        if (mine.length >= n && agents.length >= n) return { host: h, tasks: mine };
      }
      return null;
    },
    90_000,
  );
}

beforeAll(async () => {
  const port = await freeFrontendPort();
  const up = await cluster([
    'up',
    '--port',
    String(port),
    '--ui-port',
    String(await freePort()),
    '--pg-port',
    String(await freePort()),
  ]);
  expect({ code: up.code, stderr: up.code === 0 ? '' : up.stderr + logTail(dir) }).toEqual({ code: 0, stderr: '' });
  exported = parseExports(up.stdout);
  const src = makeRepo();
  origin = path.join(root, 'origin.git');
  execFileSync('git', ['clone', '--quiet', '--bare', src, origin]);
  const started = Date.now();
  await Promise.all(HOSTS.map(startWorker));
  figures.workersReady = Date.now() - started;
}, 1_800_000);

afterAll(async () => {
  for (const w of workers.values()) w.kill('SIGKILL');
  await Promise.all([...workers.values()].map((w) => w.result));
  expect((await cluster(['down', '--purge'])).code).toBe(0);
  console.log(`multi-host figures (ms): ${JSON.stringify(figures)}`);
}, 120_000);

test('a mission of 8 tasks spreads over the three hosts and merges every task once', async () => {
  const run = await runCli(['run', lineWriterMission(root, 'spread', origin, 8, WORK_S)], {
    env: clientEnv(),
    timeoutMs: 300_000,
  });
  figures.spread = run.ms;
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  expect(run.stdout).toMatch(/mission spread completed in .*: 8\/8 tasks merged/);
  const s = await status('spread');
  expect(s.origin).toBe(origin);
  expect(s.tasks.map((t) => t.status)).toEqual(Array(8).fill('merged'));
  // Every host got some: the idle ones offer themselves first, a full one (4 agents) not at all.
  const perHost = HOSTS.map((h) => s.tasks.filter((t) => t.host === h).length);
  expect(perHost.every((n) => n >= 1 && n <= 4)).toBe(true);
  expect(mergesByTask(origin, 'spread')).toEqual(Object.fromEntries(s.tasks.map((t) => [t.id, 1])));
  // The work is on the origin, from whichever host did it.
  for (const t of s.tasks)
    expect(git(origin, 'show', `flotilla/spread/integration:${t.id}.txt`).split('\n')).toHaveLength(WORK_S);
  // Each host has its own clone; none of them is the origin.
  for (const h of HOSTS) expect(readdirSync(path.join(home(h), 'clones'))).toHaveLength(1);
  // The merged tasks' worktrees were removed on the hosts that held them, not only the mission's.
  for (const h of HOSTS) {
    const dir = path.join(home(h), 'worktrees', 'spread');
    const left = readdirSync(dir, { recursive: true }).map(String);
    expect([h, left.filter((f) => /(^|\/)tasks\/t\d$/.test(f))]).toEqual([h, []]);
  }
}, 600_000);

test('a host SIGKILLed while its agents run: no process survives it, its tasks finish on the other hosts', async () => {
  const started = await runCli(['start', lineWriterMission(root, 'killed', origin, 8, WORK_S)], { env: clientEnv() });
  expect({ code: started.code, stderr: started.stderr }).toEqual({ code: 0, stderr: '' });
  const { host: victim, tasks: running } = await whenRunning('killed', HOSTS, 2);
  // Let a checkpoint or two reach the origin, so the tasks have work to carry over.
  await new Promise((r) => setTimeout(r, 5000));
  // Every task placed on it moves: those whose agents run, and any still preparing there.
  const moved = (await until('the status before the kill', () => tryStatus('killed'), 30_000)).tasks
    .filter((t) => t.host === victim)
    .map((t) => t.id);
  expect(moved).toEqual(expect.arrayContaining(running));
  // The watchdogs kill the dead worker's agent groups at once.
  const { killedAt, orphansGoneMs } = await killHost(workers.get(victim)!, home(victim));
  figures.orphansGoneMs = orphansGoneMs;

  const elsewhere = await until(
    `${moved.join(', ')} running on other hosts`,
    async () => {
      const s = await tryStatus('killed');
      if (!s) return null;
      const ts = s.tasks.filter((t) => moved.includes(t.id));
      const ok = ts.every((t) => t.host !== victim && t.previousHosts?.includes(victim) && t.status === 'running');
      const agents = HOSTS.filter((h) => h !== victim).flatMap((h) => processesUnder(path.join(home(h), 'worktrees')));
      return ok && agents.length >= moved.length ? ts : null;
    },
    180_000,
  );
  figures.hostDeathToRunningElsewhereMs = Date.now() - killedAt;
  expect(elsewhere.every((t) => HOSTS.includes(t.host!))).toBe(true);

  const watch = await runCli(['watch', 'killed'], { env: clientEnv(), timeoutMs: 300_000 });
  expect({ code: watch.code, stderr: watch.stderr }).toEqual({ code: 0, stderr: '' });
  const s = await status('killed');
  expect(s.tasks.map((t) => t.status)).toEqual(Array(8).fill('merged'));
  expect(mergesByTask(origin, 'killed')).toEqual(Object.fromEntries(s.tasks.map((t) => [t.id, 1])));
  for (const id of moved) {
    const t = s.tasks.find((x) => x.id === id)!;
    expect(t.previousHosts).toEqual([victim]);
    // The new host rebuilt the worktree from the pushed checkpoint: the lines written on the dead
    // host are still there, and the agent (a fresh session) wrote its own after them.
    const lines = git(origin, 'show', `flotilla/killed/integration:${id}.txt`).split('\n');
    // (Those whose agents had been at work for 5 s; one placed there just before has less.)
    if (running.includes(id)) expect(lines.length).toBeGreaterThan(WORK_S);
    expect(lines.slice(-WORK_S)).toEqual(Array.from({ length: WORK_S }, (_, i) => `${id} ${i + 1}`));
  }
  // Tasks that never ran on the dead host never moved.
  for (const t of s.tasks.filter((x) => !moved.includes(x.id))) expect(t.previousHosts ?? []).not.toContain(victim);
  expect(processesUnder(home(victim))).toEqual([]);
}, 900_000);

test('a host drained with SIGTERM exits at once; its tasks move to the hosts left and finish', async () => {
  // One host is gone; the two left take the mission, and the one that is not its host is drained.
  const started = await runCli(['start', lineWriterMission(root, 'drained', origin, 4, WORK_S)], { env: clientEnv() });
  expect({ code: started.code, stderr: started.stderr }).toEqual({ code: 0, stderr: '' });
  const alive = HOSTS.filter(
    (h) => workers.get(h)!.child.exitCode === null && workers.get(h)!.child.signalCode === null,
  );
  const { host: victim, tasks: moved } = await whenRunning('drained', alive, 1);
  await new Promise((r) => setTimeout(r, 3000));
  const drainedAt = Date.now();
  workers.get(victim)!.kill('SIGTERM');
  const exit = await workers.get(victim)!.result;
  figures.drainExitMs = Date.now() - drainedAt;
  expect(exit.code).toBe(0);
  expect(processesUnder(path.join(home(victim), 'worktrees'))).toEqual([]);
  const watch = await runCli(['watch', 'drained'], { env: clientEnv(), timeoutMs: 400_000 });
  figures.drainedMission = Date.now() - drainedAt;
  expect({ code: watch.code, stderr: watch.stderr }).toEqual({ code: 0, stderr: '' });
  const s = await status('drained');
  expect(s.tasks.map((t) => t.status)).toEqual(Array(4).fill('merged'));
  expect(mergesByTask(origin, 'drained')).toEqual(Object.fromEntries(s.tasks.map((t) => [t.id, 1])));
  for (const id of moved) expect(s.tasks.find((t) => t.id === id)!.previousHosts).toEqual([victim]);
}, 900_000);

test("the mission's own host SIGKILLed: the mission and its tasks move to the other hosts and finish", async () => {
  // The hosts stopped above come back (same FLOTILLA_HOME and host id): a restarted host rejoins.
  for (const h of HOSTS)
    if (workers.get(h)!.child.exitCode !== null || workers.get(h)!.child.signalCode !== null) await startWorker(h);
  const started = await runCli(['start', lineWriterMission(root, 'headless', origin, 8, WORK_S)], { env: clientEnv() });
  expect({ code: started.code, stderr: started.stderr }).toEqual({ code: 0, stderr: '' });
  const running = await until(
    "agents running on the mission's host",
    async () => {
      const s = await tryStatus('headless');
      if (!s?.host) return null;
      const mine = s.tasks.filter((t) => t.host === s.host && t.status === 'running');
      return mine.length >= 1 && processesUnder(path.join(home(s.host), 'worktrees')).length >= 1 ? s : null;
    },
    90_000,
  );
  const victim = running.host!;
  const moved = running.tasks.filter((t) => t.host === victim).map((t) => t.id);
  await new Promise((r) => setTimeout(r, 3000));
  const { killedAt } = await killHost(workers.get(victim)!, home(victim));
  const watch = await runCli(['watch', 'headless'], { env: clientEnv(), timeoutMs: 400_000 });
  figures.missionHostDeathToEnd = Date.now() - killedAt;
  expect({ code: watch.code, stderr: watch.stderr }).toEqual({ code: 0, stderr: '' });
  const s = await until('the final status', () => tryStatus('headless'), 30_000);
  expect(s.tasks.map((t) => t.status)).toEqual(Array(8).fill('merged'));
  expect(s.previousHosts).toEqual([victim]);
  expect(s.host).not.toBe(victim);
  expect(mergesByTask(origin, 'headless')).toEqual(Object.fromEntries(s.tasks.map((t) => [t.id, 1])));
  for (const id of moved) expect(s.tasks.find((t) => t.id === id)!.previousHosts).toEqual([victim]);
  expect(processesUnder(home(victim))).toEqual([]);
}, 900_000);
