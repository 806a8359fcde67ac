/**
 * One mission across worker "hosts" on the embedded dev server (the quick version of
 * test/cluster/multi-host.test.ts, part of `npm test`): two `flotilla worker --agents 2` processes
 * with their own FLOTILLA_HOME and FLOTILLA_HOST_ID and a bare origin. The mission's four tasks
 * use both hosts; SIGKILLing the mission's own host (its integration worktree and merge queue)
 * while its agents run leaves no process behind; its tasks move to the other host, rebuilt from
 * what it pushed, the mission moves there too, and every task merges once. The mission's
 * `hostLostAfter: 5s` keeps the test short (test:cluster measures the default 20 s).
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { MissionProgress } from '../../src/mission/progress';
import { CliProcess, runCli } from '../helpers/cli';
import { git, makeRepo, tempDir } from '../helpers/git';
import { replayRecorded } from '../helpers/histories';
import {
  killHost,
  lineWriterMission,
  mergesByTask,
  missionStatus,
  processesUnder,
  startHostWorker,
  until,
} from '../helpers/hosts';
import { startDevServer } from '../helpers/temporal';

let env: TestWorkflowEnvironment;
const root = tempDir('flotilla-hosts-');
const QUEUE = 'flotilla-hosts';
const HOSTS = ['east', 'west'];
const WORK_S = 8;
const workers = new Map<string, CliProcess>();
let origin: string;

const home = (h: string): string => path.join(root, h);
const clientEnv = (): NodeJS.ProcessEnv => ({
  TEMPORAL_ADDRESS: env.address,
  FLOTILLA_HOME: path.join(root, 'client'),
  FLOTILLA_TASK_QUEUE: QUEUE,
});

const status = (id: string): Promise<MissionProgress> =>
  until(`the status of ${id}`, () => missionStatus(clientEnv(), id), 30_000);

beforeAll(async () => {
  env = await startDevServer();
  origin = path.join(root, 'origin.git');
  execFileSync('git', ['clone', '--quiet', '--bare', makeRepo(), origin]);
  for (const h of HOSTS)
    workers.set(
      h,
      await startHostWorker({
        env: { TEMPORAL_ADDRESS: env.address },
        home: home(h),
        host: h,
        queue: QUEUE,
        agents: 2,
      }),
    );
}, 180_000);

afterAll(async () => {
  for (const w of workers.values()) w.kill('SIGKILL');
  await Promise.all([...workers.values()].map((w) => w.result));
  await env?.teardown();
});

test("tasks spread over both hosts; the mission's host SIGKILLed mid-run hands the mission and its tasks over; each merges once", async () => {
  const started = await runCli(['start', lineWriterMission(root, 'hosts', origin, 4, WORK_S, ['hostLostAfter: 5s'])], {
    env: clientEnv(),
  });
  expect({ code: started.code, stderr: started.stderr }).toEqual({ code: 0, stderr: '' });
  // Two agents per host: the four tasks need both.
  const running = await until(
    'all four agents running',
    async () => {
      const s = await status('hosts');
      return s.tasks.every((t) => t.status === 'running' && t.host) ? s : null;
    },
    60_000,
  );
  expect(new Set(running.tasks.map((t) => t.host))).toEqual(new Set(HOSTS));
  expect(running.origin).toBe(origin);
  const victim = running.host!;
  const survivor = HOSTS.find((h) => h !== victim)!;
  const moved = running.tasks.filter((t) => t.host === victim).map((t) => t.id);
  await until('their agents at work', async () => (processesUnder(home(victim)).length >= 2 ? true : null), 30_000);
  // Let a checkpoint reach the origin.
  await new Promise((r) => setTimeout(r, 4000));
  const { killedAt } = await killHost(workers.get(victim)!, home(victim));
  // No query until the mission's workflow has moved to the worker left (its sticky queue times out
  // after 5 s): a query in that window reaches the other worker as a legacy query task, and with
  // Temporal's TypeScript SDK 1.24 that can leave a history that no longer replays (see
  // docs/architecture.md, "Known issue"). The test guards replay, so it stays out of that window.
  await new Promise((r) => setTimeout(r, 10_000));

  const watch = await runCli(['watch', 'hosts'], { env: clientEnv(), timeoutMs: 240_000 });
  expect({ code: watch.code, stderr: watch.stderr }).toEqual({ code: 0, stderr: '' });
  console.log(`multi-host (dev server): host death to mission end ${Date.now() - killedAt} ms`);
  const s = await status('hosts');
  expect(s.tasks.map((t) => t.status)).toEqual(Array(4).fill('merged'));
  expect([s.host, s.previousHosts]).toEqual([survivor, [victim]]);
  expect(mergesByTask(origin, 'hosts')).toEqual({ t1: 1, t2: 1, t3: 1, t4: 1 });
  // The merged tasks' worktrees are removed where they are: none is left on the host that lives.
  const left = path.join(home(survivor), 'worktrees', 'hosts');
  expect(readdirSync(left, { recursive: true }).filter((f) => /(^|\/)tasks\/t\d$/.test(String(f)))).toEqual([]);
  for (const t of s.tasks) {
    const lines = git(origin, 'show', `flotilla/hosts/integration:${t.id}.txt`).split('\n');
    if (moved.includes(t.id)) {
      expect([t.host, t.previousHosts]).toEqual([survivor, [victim]]);
      // Rebuilt from the pushed checkpoint: the dead host's lines, then a whole fresh run.
      expect(lines.length).toBeGreaterThan(WORK_S);
    } else {
      expect(t.previousHosts).toBeUndefined();
      expect(lines).toHaveLength(WORK_S);
    }
    expect(lines.slice(-WORK_S)).toEqual(Array.from({ length: WORK_S }, (_, i) => `${t.id} ${i + 1}`));
  }
  // The histories (placements, a lost host, a mission that moved) replay on the current code;
  // FLOTILLA_RECORD_HISTORIES=1 keeps them as fixtures for test/unit/replay.test.ts.
  expect(await replayRecorded(env, QUEUE, /^mission-hosts/)).toBe(5);
}, 300_000);
