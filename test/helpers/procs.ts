/** The process table (/proc), read by tests that check no process outlives what it belongs to. */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';

/** A process found in /proc: its id, working directory and command line (arguments joined by spaces). */
export interface ProcInfo {
  pid: number;
  cwd: string;
  cmd: string;
}

const inside = (p: string, dir: string): boolean => p === dir || p.startsWith(dir + path.sep);

/**
 * Processes (not zombies, not this one) that belong to a test's directories: their working
 * directory is one of `dirs` or inside it, or (with `cmdline`) their command line names a path
 * inside one. Agents, setup and verify commands run in worktrees; watchdogs and workers in the
 * cwd they were started from; a dev server names its database file.
 */
export function processesOf(dirs: string[], opts: { cmdline?: boolean } = {}): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      if (dirs.some((d) => inside(cwd, d) || (opts.cmdline && cmd.includes(d + path.sep))))
        out.push({ pid: Number(entry), cwd, cmd });
    } catch {
      // Exited, a zombie (no cwd), or not ours to read.
    }
  }
  return out;
}
