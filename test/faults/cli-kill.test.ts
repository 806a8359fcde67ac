/**
 * Crash matrix, case 4: `./flotilla run FILE` itself (the CLI, with its in-process worker) is
 * SIGKILLed in the middle of a mission, as a closed laptop lid or a killed terminal would. The
 * embedded dev server it started runs on (detached); the agents it started (each in its own
 * process group) die with it, killed by their watchdogs (PID files remain the backstop).
 *  (a) `./flotilla run FILE` again: it attaches to the running mission instead of failing with
 *      "already running", says so, and brings a worker that finishes it;
 *  (b) `./flotilla worker` picks the mission up while `./flotilla watch ID` follows it.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { names } from '../../src/mission/types';
import { CliResult, cliArgv, runCli } from '../helpers/cli';
import { makeRepo, tempDir } from '../helpers/git';
import { processAlive } from '../helpers/missions';
import {
  agentPidFile,
  agentStarts,
  devServerPort,
  expectOneMergePerTask,
  faultAgentArgv,
  fileAt,
  flotillaEnv,
  Harness,
  liveGroupMembers,
  processesIn,
  readPgid,
  reportFault,
  until,
} from './harness';

const h = new Harness();
const home = tempDir('flotilla-faults-cli-home-');
const queue = 'faults-cli';
const TASKS = ['one', 'two'];
let address = '';

const cliEnv = (): NodeJS.ProcessEnv => ({ ...process.env, ...flotillaEnv({ address, home, queue }) });

/** Runs `./flotilla ARGS` to its end. */
function flotilla(args: string[], timeoutMs = 240_000): Promise<CliResult> {
  return runCli(args, { env: cliEnv(), launcher: true, timeoutMs });
}

beforeAll(async () => {
  address = `127.0.0.1:${await devServerPort()}`;
  h.watch(path.join(home, 'worktrees'));
});

afterAll(async () => {
  // The dev server the first `run` started (detached) outlives every CLI: stop it as a user would.
  const rec = path.join(home, 'server.json');
  const pid = existsSync(rec) ? (JSON.parse(readFileSync(rec, 'utf8')) as { pid: number }).pid : undefined;
  const stop = await flotilla(['server', 'stop'], 60_000);
  if (pid && processAlive(pid)) process.kill(pid, 'SIGKILL');
  await h.cleanup();
  expect(stop.stdout).toMatch(/stopped the Temporal dev server/);
}, 90_000);

/** A mission file (JSON, which is YAML too) of two tasks in one wave, each a fault agent. */
function missionFile(missionId: string): { file: string; repo: string; starts: (task: string) => string } {
  const repo = makeRepo();
  const starts = (task: string): string => path.join(h.dir, `${missionId}-${task}.starts`);
  const file = path.join(h.dir, `${missionId}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      {
        id: missionId,
        repo,
        concurrency: 2,
        agent: { runtime: 'command', retries: 2 },
        tasks: TASKS.map((id) => ({ id, prompt: `do ${id}`, agent: { command: faultAgentArgv(starts(id)) } })),
      },
      null,
      2,
    ),
  );
  return { file, repo, starts };
}

/**
 * Starts `./flotilla run FILE`, waits until both agents run, SIGKILLs the CLI's process group and
 * checks that the agents died with it.
 */
async function runAndKill(name: string, file: string, missionId: string, starts: (task: string) => string) {
  const cli = h.spawn(name, cliArgv(['run', file], { launcher: true }), { env: cliEnv() });
  await until(
    'both agents to run',
    () => {
      if (cli.exited()) throw new Error(`run exited early:\n${cli.output()}`);
      return TASKS.every((t) => agentStarts(starts(t)).length === 1 && readPgid(agentPidFile(home, missionId, t)));
    },
    120_000,
  );
  const pgids = TASKS.map((t) => readPgid(agentPidFile(home, missionId, t))!);
  const killedAt = Date.now();
  cli.crash();
  await cli.exit;
  // The agents die with the CLI's in-process worker (their watchdogs), not at the next attempt.
  await until('the agents to die with their worker', () => pgids.every((g) => liveGroupMembers(g).length === 0), 5000);
  return { killedAt, pgids, output: cli.output() };
}

/** Waits for the second attempt of every task; returns the time it took since `since`. */
async function secondAttempts(starts: (task: string) => string, since: number): Promise<number> {
  await until('the second attempts', () => TASKS.every((t) => agentStarts(starts(t)).length >= 2), 180_000);
  return Date.now() - since;
}

function expectMissionDone(missionId: string, repo: string, starts: (task: string) => string, pgids: number[]): void {
  expectOneMergePerTask(repo, missionId, TASKS);
  for (const [i, t] of TASKS.entries()) {
    // No work lost: part1 from the attempt the crash orphaned, part2 from the one after it.
    const branch = names.taskBranch(missionId, t);
    expect([fileAt(repo, branch, 'part1.txt'), fileAt(repo, branch, 'part2.txt')]).toEqual([
      'written before the fault',
      'written after the fault',
    ]);
    expect(fileAt(repo, names.integrationBranch(missionId), 'part2.txt')).toBe('written after the fault');
    // The orphan was dead before the next attempt started, and is dead now.
    expect(agentStarts(starts(t)).map((s) => s.earlierAlive)).toEqual([0, 0]);
    expect(liveGroupMembers(pgids[i])).toEqual([]);
    expect(existsSync(agentPidFile(home, missionId, t))).toBe(false);
  }
  expect(processesIn(path.join(home, 'worktrees', missionId))).toEqual([]);
}

test('(a) `flotilla run` SIGKILLed; `flotilla run FILE` again follows the running mission to its end', async () => {
  const missionId = 'fault-cli-rerun';
  const { file, repo, starts } = missionFile(missionId);
  const { killedAt, pgids, output } = await runAndKill('run-1', file, missionId, starts);
  expect(output).toMatch(/starting the embedded dev server/);

  const again = h.spawn('run-2', cliArgv(['run', file], { launcher: true }), { env: cliEnv() });
  const recoveredMs = await secondAttempts(starts, killedAt);
  const { code } = await again.exit;
  reportFault('cli-kill (run again)', recoveredMs);
  const out = again.output();
  expect(code).toBe(0);
  expect(out).toMatch(
    new RegExp(`mission ${missionId} is already running \\(workflow mission-${missionId}, started .*\\): following it`),
  );
  expect(out).toMatch(/worker: in-process/);
  expect(out).toMatch(new RegExp(`mission ${missionId} completed in .*: 2/2 tasks merged`));
  expect(out).not.toMatch(/starting the embedded dev server/);
  expectMissionDone(missionId, repo, starts, pgids);
}, 300_000);

test('(b) `flotilla run` SIGKILLed; `flotilla worker` picks the mission up while `flotilla watch` follows', async () => {
  const missionId = 'fault-cli-worker';
  const { file, repo, starts } = missionFile(missionId);
  const { killedAt, pgids } = await runAndKill('run-3', file, missionId, starts);

  const worker = h.spawn('worker', cliArgv(['worker'], { launcher: true }), { env: cliEnv() });
  await until('the worker to start', () => /flotilla worker: task queues/.test(worker.output()), 60_000);
  const watched = flotilla(['watch', missionId]);
  const recoveredMs = await secondAttempts(starts, killedAt);
  const watch = await watched;
  reportFault('cli-kill (worker + watch)', recoveredMs);
  expect(watch.code).toBe(0);
  expect(watch.stdout).toMatch(new RegExp(`mission ${missionId} completed in .*: 2/2 tasks merged`));
  // The worker did the work: watch found it polling and ran none of its own.
  expect(watch.stdout).not.toMatch(/worker: in-process/);
  expectMissionDone(missionId, repo, starts, pgids);
  await worker.stop();
}, 300_000);
