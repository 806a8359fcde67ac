/**
 * What an agent's PID file records, and how a reader tells a live agent group from a stale file.
 *
 * A PID alone is not an identity: after a reboot, or once the kernel reuses the number, the same
 * PID names an unrelated process, and killing "the group in the PID file" would kill someone
 * else's processes. So the file records, with the group's id (its leader's PID), the leader's
 * start time and the boot it started in (Linux: `/proc/<pid>/stat` field 22, `starttime`, in
 * clock ticks since boot, see proc(5); `/proc/sys/kernel/random/boot_id`, a UUID new at every
 * boot). A reader acts on the file only when both still match.
 *
 * File format (one line): `<pgid> <starttime> <boot_id>`; hosts without /proc write `<pgid>`.
 */
import { existsSync, readFileSync } from 'node:fs';

/** Who a process is: its PID plus what makes it unique over time. */
export interface ProcessIdentity {
  pid: number;
  /** `/proc/<pid>/stat` field 22: when it started, clock ticks after boot (a decimal string). */
  startTime: string;
  /** `/proc/sys/kernel/random/boot_id`. */
  bootId: string;
}

const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

/** True on hosts whose processes can be identified (Linux /proc). */
export function canIdentifyProcesses(): boolean {
  return existsSync(BOOT_ID_FILE);
}

/**
 * The start time of process `pid`, or undefined when it does not exist (or there is no /proc).
 * Field 22 counts from the `stat` line's start; the second field (the command name, in
 * parentheses) may hold spaces and parentheses, so fields are counted after its last `)`.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After ") " come field 3 (state), 4, ...: field 22 is the 20th of them.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** This boot's id, or undefined without /proc. */
export function bootId(): string | undefined {
  try {
    return readFileSync(BOOT_ID_FILE, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The identity of the running process `pid`, or undefined when it is gone or not identifiable. */
export function identify(pid: number): ProcessIdentity | undefined {
  const startTime = processStartTime(pid);
  const boot = bootId();
  return startTime && boot ? { pid, startTime, bootId: boot } : undefined;
}

/** The PID file's line for group `pgid`: its leader's identity when it can be read. */
export function pidFileLine(pgid: number): string {
  const id = identify(pgid);
  return id ? `${pgid} ${id.startTime} ${id.bootId}\n` : `${pgid}\n`;
}

/** What a PID file says: the group id and, when recorded, its leader's identity. Undefined: unreadable. */
export function readPidFile(file: string): { pgid: number; identity?: ProcessIdentity } | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const [pid, startTime, boot] = text.trim().split(/\s+/);
  const pgid = Number(pid);
  if (!Number.isInteger(pgid) || pgid <= 1) return undefined;
  return { pgid, identity: startTime && boot ? { pid: pgid, startTime, bootId: boot } : undefined };
}

/**
 * Whether the group recorded in a PID file may be the one that wrote it, judged from its
 * leader's identity:
 * - another boot, or the leader's PID now belongs to a process that started at another time: no
 *   (the file is stale; the PID was reused);
 * - same boot and the leader is gone: yes, for as long as the group lives (Linux does not hand
 *   out a PID that is still some group's id, so a live group with that id is still ours);
 * - a file without an identity on a host that can identify processes (someone else wrote it):
 *   no, it cannot be trusted;
 * - a host without /proc: yes (nothing better to go on).
 */
export function sameGroup(recorded: { pgid: number; identity?: ProcessIdentity }): boolean {
  if (!canIdentifyProcesses()) return true;
  const id = recorded.identity;
  if (!id) return false;
  if (id.bootId !== bootId()) return false;
  const now = processStartTime(recorded.pgid);
  return now === undefined || now === id.startTime;
}
