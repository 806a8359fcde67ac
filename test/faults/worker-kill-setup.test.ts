/**
 * Crash matrix: the worker is SIGKILLed while a task's `setup` runs (a slow `npm install`). The
 * setup's processes die with their worker (the commands' watchdog), `flotilla status` shows the
 * task `pending` with why (no heartbeat since …, or its retry waiting), never a ghost `running`,
 * and a new worker runs setup again from a clean worktree and finishes the mission.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MissionProgress } from '../../src/mission/progress';
import { names } from '../../src/mission/types';
import { runCli } from '../helpers/cli';
import { makeRepo, tempDir } from '../helpers/git';
import { mission, slowInstallSetup, task } from '../helpers/missions';
import { missionResult } from '../helpers/outcome';
import {
  fileAt,
  Harness,
  liveGroupMembers,
  processesIn,
  reportFault,
  startFaultServer,
  startMissionOn,
  until,
} from './harness';

const h = new Harness();
const home = tempDir('flotilla-faults-setup-home-');
let env: TestWorkflowEnvironment | undefined;
let address = '';

beforeAll(async () => {
  ({ env, address } = await startFaultServer());
  h.watch(path.join(home, 'worktrees'));
}, 180_000);

afterAll(async () => {
  await h.cleanup();
  await env?.teardown();
});

test('worker SIGKILLed during setup: setup dies with it, status says pending, the next worker reruns setup from a clean state', async () => {
  const queue = 'faults-setup';
  const workerEnv = {
    TEMPORAL_ADDRESS: address,
    FLOTILLA_HOME: home,
    FLOTILLA_TASK_QUEUE: queue,
    FLOTILLA_HOST_ID: 'faults-host',
  };
  const cli = (args: string[]) => runCli(args, { env: workerEnv, timeoutMs: 120_000 });
  const [pidFile, go] = [path.join(h.dir, 'setup.pid'), path.join(h.dir, 'setup.go')];
  // Slow in the task's worktree only (the integration worktree runs the mission's setup first).
  const setup = slowInstallSetup(pidFile, go, 'slow');
  const repo = makeRepo({ 'README.md': '# app\n', '.gitignore': 'node_modules/\n' });
  const missionId = 'fault-setup';
  const spec = mission(missionId, repo, [task('slow', 'test -e node_modules/installed && echo slow > slow.txt')], {
    setup: [setup],
  });
  const first = await h.worker('worker-1', workerEnv);
  const handle = await startMissionOn(env!.client, queue, spec);
  const worktree = path.join(home, 'worktrees', missionId);
  await until('the setup to run in the task worktree', () => existsSync(pidFile), 120_000);
  const pgid = Number(readFileSync(pidFile, 'utf8'));

  const killedAt = Date.now();
  first.crash();
  await first.exit;
  // The setup dies with its worker (its watchdog), not when the next attempt starts.
  await until('the setup to die with its worker', () => liveGroupMembers(pgid).length === 0, 5_000);
  const setupGoneMs = Date.now() - killedAt;

  // No worker: status says so, as soon as the heartbeat is stale (10 s) and from then on.
  const shown = await until(
    'status to show the task pending',
    async () => {
      const r = await cli(['status', missionId, '--json']);
      const slow = (JSON.parse(r.stdout) as MissionProgress).tasks[0];
      return slow.status === 'pending' ? slow : undefined;
    },
    60_000,
  );
  const pendingMs = Date.now() - killedAt;
  expect(shown.error).toMatch(
    /^its worktree and setup \(prepareWorktree\): attempt (1: no heartbeat since \d\d:\d\d:\d\d UTC \(its worker may have died\)|1: its worker \d+@\S+ has exited|2 waiting to start)/,
  );
  const text = await cli(['status', missionId]);
  expect(text.stdout).toMatch(/slow\s+pending/);
  expect(text.stdout).toMatch(/its worktree and setup \(prepareWorktree\): attempt/);
  expect(liveGroupMembers(pgid)).toEqual([]);

  writeFileSync(go, '');
  const second = await h.worker('worker-2', workerEnv);
  const result = await missionResult(handle);
  const recoveredMs = Date.now() - killedAt;
  await second.stop();
  reportFault('worker-kill-setup', recoveredMs, { setupGoneMs, pendingMs });
  expect(result.phase).toBe('completed');
  expect(result.tasks[0]).toMatchObject({ status: 'merged', diffstat: { files: 1, insertions: 1, deletions: 0 } });
  expect(fileAt(repo, names.integrationBranch(missionId), 'slow.txt')).toBe('slow');
  expect(existsSync(pidFile) && liveGroupMembers(Number(readFileSync(pidFile, 'utf8'))).length).toBeFalsy();
  expect(processesIn(worktree)).toEqual([]);
}, 300_000);
