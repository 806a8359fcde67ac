/**
 * What following a mission costs (`run` and `watch` poll its progress: src/client/commands/
 * follow.ts): 8 tasks whose agents sleep, a standalone `flotilla worker`, and three windows of
 * equal length: nobody watching, one `flotilla watch` (output to a file, as in CI: no live agent
 * lines), nobody watching again. Per window: the dev server's CPU, the worker's, the watcher's,
 * and the server's requests by operation, all per second.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Bench, makeRepo } from './measure';
import { missionFile } from './mission';
import { ownCpuSeconds, procCpu } from './proc';
import { delta, flotillaLib } from './server';
import { round } from './stats';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One window's figures, per second. */
export interface Window {
  name: string;
  seconds: number;
  serverCpuPerS: number;
  workerCpuPerS: number;
  watcherCpuPerS: number;
  frontendRequestsPerS: Record<string, number>;
}

/** The three windows (see above), each `windowS` seconds. */
export async function pollingCost(bench: Bench, windowS = 30): Promise<Window[]> {
  const dir = path.join(bench.work, 'polling');
  const repo = path.join(dir, 'repo');
  makeRepo(repo, bench.realGit);
  const id = `poll-${Math.random().toString(36).slice(2, 7)}`;
  const file = path.join(dir, 'mission.json');
  writeFileSync(file, JSON.stringify(missionFile(id, repo, { tasks: 8, concurrency: 8, waves: 1 }, 'sleep 240')));
  const env = {
    ...process.env,
    FLOTILLA_HOME: path.join(dir, 'home'),
    TEMPORAL_ADDRESS: bench.server.address,
    FLOTILLA_TASK_QUEUE: `bench-${id}`,
    NO_COLOR: '1',
  };
  mkdirSync(env.FLOTILLA_HOME, { recursive: true });
  const cli = flotillaLib('client/cli.js');
  const background = (args: string[], log: string): ChildProcess => {
    const fd = openSync(path.join(dir, log), 'w');
    const child = spawn(process.execPath, [cli, ...args], { env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    return child;
  };
  const worker = background(['worker'], 'worker.out');
  const windows: Window[] = [];
  try {
    execFileSync(process.execPath, [cli, 'start', file], { env, stdio: 'ignore' });
    // Let every agent start and the mission settle.
    await sleep(20_000);
    for (const name of ['nobody watching', 'one `flotilla watch`', 'nobody watching again']) {
      const watcher = name.startsWith('one') ? background(['watch', id], 'watch.out') : undefined;
      if (watcher) await sleep(3_000); // its start (connect, describe) is not polling
      const r0 = await bench.server.requests();
      const s0 = ownCpuSeconds(bench.server.pid);
      const w0 = ownCpuSeconds(worker.pid!);
      const v0 = watcher ? ownCpuSeconds(watcher.pid!) : 0;
      await sleep(windowS * 1000);
      const per = (x: number): number => round(x / windowS, 4);
      const requests = delta(r0, await bench.server.requests());
      windows.push({
        name,
        seconds: windowS,
        serverCpuPerS: per(ownCpuSeconds(bench.server.pid) - s0),
        workerCpuPerS: per(ownCpuSeconds(worker.pid!) - w0),
        watcherCpuPerS: watcher ? per(procCpu(watcher.pid!).user + procCpu(watcher.pid!).system - v0) : 0,
        frontendRequestsPerS: Object.fromEntries(
          Object.entries(requests)
            .filter(([k]) => k.startsWith('frontend:'))
            .map(([k, v]) => [k.slice('frontend:'.length), per(v)]),
        ),
      });
      console.log(`polling, ${name}: ${JSON.stringify(windows[windows.length - 1])}`);
      if (watcher) {
        watcher.kill('SIGTERM');
        await new Promise((r) => watcher.once('exit', r));
      }
    }
  } finally {
    try {
      execFileSync(process.execPath, [cli, 'cancel', id], { env, stdio: 'ignore' });
    } catch {
      // Already over.
    }
    await sleep(3_000);
    worker.kill('SIGTERM');
    await new Promise((r) => (worker.exitCode !== null ? r(undefined) : worker.once('exit', r)));
  }
  return windows;
}
