/**
 * What the benchmark reads from Linux's /proc (proc(5)) and the machine it runs on.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

let ticks: number | undefined;

/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`, 100 on Linux). */
export function clockTicks(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** CPU times of a process, seconds: its own (all threads) and its waited-for children's. */
export interface ProcCpu {
  user: number;
  system: number;
  childUser: number;
  childSystem: number;
}

/**
 * /proc/<pid>/stat fields 14-17 (utime, stime, cutime, cstime) in seconds.
 * @throws when the process does not exist
 */
export function procCpu(pid: number): ProcCpu {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const t = (i: number): number => Number(fields[i - 3]) / clockTicks();
  return { user: t(14), system: t(15), childUser: t(16), childSystem: t(17) };
}

/** A process's own CPU seconds (user + system), or NaN when it is gone. */
export function ownCpuSeconds(pid: number): number {
  try {
    const c = procCpu(pid);
    return c.user + c.system;
  } catch {
    return NaN;
  }
}

/** The 1, 5 and 15 minute load averages (/proc/loadavg). */
export function loadAverage(): [number, number, number] {
  const [a, b, c] = readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number);
  return [a, b, c];
}

/** A `key:  value kB` line of /proc/<pid>/status in MB (e.g. VmHWM, the peak RSS), or NaN. */
export function statusMb(pid: number | 'self', key: string): number {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

function versionOf(file: string, args: string[]): string {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim()
      .split('\n')[0];
  } catch {
    return 'unknown';
  }
}

/** The machine the figures come from. */
export interface Machine {
  cpu: string;
  cores: number;
  memoryGb: number;
  kernel: string;
  node: string;
  git: string;
  temporal: string;
}

/** Describes this machine; `git` and `temporal` are the binaries the benchmark runs. */
export function machine(git: string, temporal: string): Machine {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    git: versionOf(git, ['--version']),
    temporal: versionOf(temporal, ['--version']),
  };
}
