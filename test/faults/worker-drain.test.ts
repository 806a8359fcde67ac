/**
 * Drain: a real `flotilla worker` gets SIGTERM while two `command` agents run. It stops polling,
 * stops and checkpoints both agents at once, says so, and exits 0; no agent process outlives it.
 * A second worker of the same host queue (same FLOTILLA_HOME and host id) resumes both tasks, and
 * the mission completes with one merge per task: a drain never fails a task. One task has
 * retries left (Temporal retries the attempt), the other none (the task workflow starts a new
 * activity: `worker-shutdown-not-a-failure`).
 */
import path from 'node:path';
import { names } from '../../src/mission/types';
import { git, makeRepo } from '../helpers/git';
import { bashAgent, mission, task } from '../helpers/missions';
import { missionResult } from '../helpers/outcome';
import {
  agentPidFile,
  agentStarts,
  expectOneMergePerTask,
  faultAgentArgv,
  faultSuite,
  fileAt,
  flotillaEnv,
  liveGroupMembers,
  processesIn,
  readPgid,
  reportFault,
  startMissionOn,
  until,
} from './harness';

const { h, home, server } = faultSuite('drain');

test('SIGTERM drains a worker: agents checkpoint and stop, it exits 0, the next worker of the host resumes every task', async () => {
  const queue = 'faults-drain';
  const workerEnv = flotillaEnv({ address: server().address, home, queue, host: 'drain-host' });
  const first = await h.worker('drain-worker-1', workerEnv);
  const repo = makeRepo();
  const missionId = 'fault-drain';
  const starts = (id: string): string => path.join(h.dir, `${id}.starts`);
  const agent = (id: string, retries: number) => ({
    agent: {
      ...bashAgent(''),
      command: faultAgentArgv(starts(id)),
      retries,
      timeoutMs: 180_000,
      idleTimeoutMs: 180_000,
    },
  });
  const spec = mission(missionId, repo, [task('a', '', agent('a', 0)), task('b', '', agent('b', 2))]);
  const handle = await startMissionOn(server().env.client, queue, spec);

  // Both agents run and have written their first part.
  const worktrees = path.join(home, 'worktrees', missionId);
  await until(
    'both agents running',
    () => agentStarts(starts('a')).length === 1 && agentStarts(starts('b')).length === 1,
    90_000,
  );
  const pgids = await until('both PID files', () => {
    const p = ['a', 'b'].map((id) => readPgid(agentPidFile(home, missionId, id)));
    return p.every((x) => x !== undefined) ? (p as number[]) : undefined;
  });
  await until('part1.txt in both worktrees', () => processesIn(worktrees).length >= 2);

  const termAt = Date.now();
  process.kill(first.pid, 'SIGTERM');
  const exit = await first.exit;
  const drainMs = Date.now() - termAt;
  expect(exit).toEqual({ code: 0, signal: null });
  expect(first.output()).toMatch(/SIGTERM: draining: 2 agents checkpointing .*no new work/);
  expect(first.output()).toContain('flotilla worker: drained, stopped');
  // No orphan: both agent groups died with the drain, before the worker exited.
  for (const pgid of pgids) expect(liveGroupMembers(pgid)).toEqual([]);
  expect(processesIn(worktrees)).toEqual([]);
  // The work done so far is checkpointed.
  for (const id of ['a', 'b'])
    expect(git(repo, 'show', `${names.checkpointRef(missionId, id)}:part1.txt`)).toBe('written before the fault');
  // Not failed: the tasks wait for a worker of their host.
  const during = await server().env.client.workflow.getHandle(names.taskWorkflowId(missionId, 'a')).describe();
  expect(during.status.name).toBe('RUNNING');

  const restartAt = Date.now();
  const second = await h.worker('drain-worker-2', workerEnv);
  await until(
    'both agents resumed',
    () => agentStarts(starts('a')).length === 2 && agentStarts(starts('b')).length === 2,
    90_000,
  );
  const resumeMs = Date.now() - restartAt;
  const result = await missionResult(handle);
  await second.stop();

  expect(result.phase).toBe('completed');
  for (const t of result.tasks) expect(t).toMatchObject({ status: 'merged', error: null });
  // Each resumed attempt started with no earlier agent alive.
  for (const id of ['a', 'b']) expect(agentStarts(starts(id))[1].earlierAlive).toBe(0);
  for (const file of ['part1.txt', 'part2.txt'])
    for (const id of ['a', 'b']) expect(fileAt(repo, names.taskBranch(missionId, id), file)).toBeDefined();
  expectOneMergePerTask(repo, missionId, ['a', 'b']);
  reportFault('worker-drain (SIGTERM)', resumeMs, { drainMs });
}, 300_000);
