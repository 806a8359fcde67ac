/**
 * Nothing a worker starts outlives it, and nothing a process group starts outlives the group.
 *
 * - **Tags.** Every group `spawnGroup` starts gets `FLOTILLA_GROUP=<worker>.<n>` in its
 *   environment, which every process it starts inherits, also one that leaves the group with
 *   `setsid` or a double fork (a dev server a gate daemonized, a tool command an agent started in
 *   a session of its own). Killing a group then also kills the processes that carry its tag
 *   ({@link killTagged}), found by reading `/proc/<pid>/environ` (proc(5)). A process that clears
 *   its own environment (`env -i`) is not found: PID namespaces (`agent.sandbox: bwrap`) cover
 *   that case for agents.
 * - **One watchdog per worker.** A tiny Node process (its own group, started on the first watched
 *   group) holds a pipe from the worker. The worker tells it which groups to watch (`+<pgid>`,
 *   `-<pgid>` lines). When the worker dies, even by SIGKILL (which runs no exit handler), the
 *   kernel closes the pipe and the watchdog stops every watched group and every process tagged by
 *   this worker: SIGTERM (Claude Code stops the tool commands it runs in groups of their own),
 *   SIGKILL 2 s later for what is left, then it exits. Without /proc (not Linux) only the groups
 *   are stopped.
 */
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';

/** The environment variable that tags a group's processes: `FLOTILLA_GROUP=<worker tag>.<n>`. */
export const GROUP_TAG_VAR = 'FLOTILLA_GROUP';

/** This process's tag: 12 hex digits, random per process (a restarted worker gets another). */
const WORKER_TAG = randomBytes(6).toString('hex');
let groupsTagged = 0;

/** A new tag for a group this process starts: `<worker tag>.<n>`. */
export function newGroupTag(): string {
  groupsTagged += 1;
  return `${WORKER_TAG}.${groupsTagged}`;
}

/**
 * The PIDs of processes (other than this one) whose environment holds `FLOTILLA_GROUP=<tag>`,
 * or, with `prefix`, a tag that starts with `tag`. Read from `/proc/<pid>/environ` (NUL-separated
 * `NAME=value` entries, proc(5)); processes of other users and ones that exit meanwhile are
 * skipped. Empty without /proc.
 */
export function taggedProcesses(tag: string, prefix = false): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const wanted = Buffer.from(`${GROUP_TAG_VAR}=${tag}`);
  const found: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let environ: Buffer;
    try {
      environ = readFileSync(`/proc/${entry}/environ`);
    } catch {
      continue;
    }
    for (let at = environ.indexOf(wanted); at >= 0; at = environ.indexOf(wanted, at + 1)) {
      const startsEntry = at === 0 || environ[at - 1] === 0;
      const next = environ[at + wanted.length];
      const ends = next === undefined || next === 0;
      if (startsEntry && (ends || prefix)) {
        found.push(Number(entry));
        break;
      }
    }
  }
  return found;
}

/**
 * Sends `signal` to every process tagged `tag` (see {@link taggedProcesses}; `prefix`: every tag
 * that starts with it); returns how many.
 */
export function killTagged(tag: string, signal: NodeJS.Signals = 'SIGKILL', prefix = false): number {
  const pids = taggedProcesses(tag, prefix);
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Gone meanwhile.
    }
  }
  return pids.length;
}

/** The watchdog's program (`node -e`): argv[1] is the worker's tag; stdin carries `+pgid`/`-pgid` lines. */
const WATCHDOG = `
const fs = require('fs');
const prefix = Buffer.from(${JSON.stringify(GROUP_TAG_VAR)} + '=' + process.argv[1] + '.');
const groups = new Set();
let buffered = '';
const tagged = () => {
  let out = [];
  try {
    for (const e of fs.readdirSync('/proc')) {
      if (!/^\\d+$/.test(e) || Number(e) === process.pid) continue;
      try {
        const env = fs.readFileSync('/proc/' + e + '/environ');
        const at = env.indexOf(prefix);
        if (at === 0 || (at > 0 && env[at - 1] === 0)) out.push(Number(e));
      } catch {}
    }
  } catch {}
  return out;
};
const signalAll = (s) => {
  for (const g of groups) { try { process.kill(-g, s); } catch {} }
  for (const p of tagged()) { try { process.kill(p, s); } catch {} }
};
const anyAlive = () => {
  for (const g of groups) { try { process.kill(-g, 0); return true; } catch (e) { if (e.code === 'EPERM') return true; } }
  return tagged().length > 0;
};
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  signalAll('SIGTERM');
  const end = Date.now() + 2000;
  setInterval(() => {
    if (!anyAlive()) process.exit(0);
    if (Date.now() > end) { signalAll('SIGKILL'); process.exit(0); }
  }, 100);
};
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  const lines = buffered.split('\\n');
  buffered = lines.pop();
  for (const l of lines) {
    const pgid = Number(l.slice(1));
    if (!(pgid > 1)) continue;
    if (l[0] === '+') groups.add(pgid); else groups.delete(pgid);
  }
});
process.stdin.on('end', stop);
process.stdin.on('error', stop);
`;

/** SIGKILLs every process this worker tagged (its exit hook: synchronous). */
export function killAllTagged(): void {
  killTagged(`${WORKER_TAG}.`, 'SIGKILL', true);
}

let watchdog: { stdin: Writable; pid?: number } | null | undefined;

/** The worker's watchdog, started on first use; null when it cannot start (no Node to spawn?). */
function theWatchdog(): { stdin: Writable; pid?: number } | null {
  if (watchdog !== undefined) return watchdog;
  try {
    const dog = spawn(process.execPath, ['-e', WATCHDOG, WORKER_TAG], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
      env: {},
    });
    dog.on('error', () => (watchdog = null));
    dog.stdin.on('error', () => undefined);
    // Neither the watchdog nor its pipe keeps the worker's event loop alive.
    dog.unref();
    (dog.stdin as unknown as { unref?: () => void }).unref?.();
    watchdog = { stdin: dog.stdin, pid: dog.pid };
  } catch {
    // No watchdog: PID files still let the next attempt on this host kill a group left behind.
    watchdog = null;
  }
  return watchdog;
}

/**
 * Ends the watchdog of a worker that exits in order (its exit hook, synchronous: SIGKILL): the
 * hook itself has just stopped every group and tagged process, which is all the watchdog would do
 * on the pipe's end, so it goes now instead of a moment after the worker (a scan right after the
 * worker's exit would find it still there).
 */
export function endWatchdog(): void {
  if (!watchdog?.pid) return;
  try {
    process.kill(watchdog.pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

/** Has the worker's watchdog stop group `pgid` (and every process this worker tagged) if the worker dies. */
export function watchGroup(pgid: number): void {
  theWatchdog()?.stdin.write(`+${pgid}\n`);
}

/** The group is gone (or stopped by the worker itself): the watchdog forgets it. */
export function unwatchGroup(pgid: number): void {
  if (watchdog) watchdog.stdin.write(`-${pgid}\n`);
}
