/**
 * Preloaded into the Flotilla CLI the benchmark runs (`node -r lib/bench/hook.js lib/client/cli.js
 * run …`); no part of Flotilla. At exit it writes to $BENCH_HOOK_OUT (JSON, {@link HookReport}):
 * the process's own CPU (`process.resourceUsage()`), its peak RSS (VmHWM of /proc/self/status:
 * this process runs the in-process worker), and the processes it spawned, by program. With
 * BENCH_SPAWN_STACKS=1 it also keeps, for every spawn, its argv and the Flotilla functions on the
 * stack (frames under lib/, async frames included), so a git argv maps to the code that ran it.
 */
import childProcess from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gitSubcommand } from './git-log';

/** What the hook writes. */
export interface HookReport {
  /** CPU of this process alone (every thread), seconds. */
  userCpuS: number;
  systemCpuS: number;
  /** Peak resident set size, MB (VmHWM). */
  peakRssMb: number;
  /** Processes spawned through `child_process.spawn`, by program (basename), git by subcommand. */
  spawns: Record<string, number>;
  /** With BENCH_SPAWN_STACKS=1: each spawn's argv (cut) and Flotilla frames, innermost first. */
  calls?: { argv: string[]; frames: string[] }[];
}

const out = process.env.BENCH_HOOK_OUT;
const withStacks = process.env.BENCH_SPAWN_STACKS === '1';
const libDir = path.resolve(__dirname, '..');
const benchDir = `${__dirname}${path.sep}`;
const spawns: Record<string, number> = {};
const calls: { argv: string[]; frames: string[] }[] = [];

/** Flotilla's own frames of the current stack (files under lib/, not the bench), innermost first. */
function flotillaFrames(): string[] {
  const holder: { stack?: string } = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 40;
  Error.captureStackTrace(holder);
  Error.stackTraceLimit = limit;
  const frames: string[] = [];
  for (const line of (holder.stack ?? '').split('\n').slice(1)) {
    const m = /at (?:async )?(?:(\S+) \()?([^()]+):(\d+):\d+\)?$/.exec(line.trim());
    if (!m || !m[2].startsWith(libDir) || m[2].startsWith(benchDir)) continue;
    frames.push(`${m[1] ?? '<anonymous>'} ${path.relative(libDir, m[2])}:${m[3]}`);
  }
  return frames;
}

if (out) {
  const original = childProcess.spawn;
  const counted = function (this: unknown, file: string, ...rest: unknown[]) {
    const args = Array.isArray(rest[0]) ? (rest[0] as string[]) : [];
    const program = path.basename(String(file));
    const key = program === 'git' ? `git ${gitSubcommand(args)}` : program;
    spawns[key] = (spawns[key] ?? 0) + 1;
    if (withStacks)
      calls.push({ argv: [program, ...args.map((a) => String(a).slice(0, 160))], frames: flotillaFrames() });
    return (original as (...a: unknown[]) => unknown).call(this, file, ...rest);
  };
  childProcess.spawn = counted as typeof childProcess.spawn;
  process.on('exit', () => {
    const usage = process.resourceUsage();
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    const report: HookReport = {
      userCpuS: usage.userCPUTime / 1e6,
      systemCpuS: usage.systemCPUTime / 1e6,
      peakRssMb: hwm ? Number(hwm[1]) / 1024 : usage.maxRSS / 1024,
      spawns,
      ...(withStacks ? { calls } : {}),
    };
    writeFileSync(out, JSON.stringify(report));
  });
}
