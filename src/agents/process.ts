/**
 * Child processes in their own process group: started with execa (argv only, `detached: true`
 * makes the child a group leader via setsid), killed as a whole group together with the processes
 * that left it (their `FLOTILLA_GROUP` tag, watchdog.ts), never left behind when the worker exits,
 * even by SIGKILL (the worker's watchdog). PID files let the next attempt find and kill a group a
 * worker left that had no watchdog (see `killStaleGroup`).
 */
import execa from 'execa';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CommandLine } from '../mission/types';
import { pidFileLine, readPidFile, sameGroup } from './pid-file';
import {
  GROUP_TAG_VAR,
  endWatchdog,
  killAllTagged,
  killTagged,
  newGroupTag,
  taggedProcesses,
  unwatchGroup,
  watchGroup,
} from './watchdog';

/** The groups this process started and has not seen end, with their tags (watchdog.ts). */
const liveGroups = new Map<number, string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous; SIGKILL to a group is, and leaves no orphan behind a
  // worker that shuts down (a SIGKILLed worker runs no handler: the PID file covers that case).
  process.on('exit', () => {
    for (const pgid of liveGroups.keys()) killGroup(pgid, 'SIGKILL');
    killAllTagged();
    endWatchdog();
  });
}

/** True while any process of group `pgid` exists (`kill(-pgid, 0)`). */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Sends `signal` to every process of group `pgid`; a group that is gone is not an error. */
export function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group has already exited.
  }
}

/**
 * SIGTERM to the group and to the processes that left it but carry its tag (a `setsid` daemon,
 * see watchdog.ts), then SIGKILL after `graceMs` (ms) if anything is still alive. Resolves once
 * all of them are gone (or 5 s after SIGKILL, which the kernel does not let a process ignore).
 */
export async function terminateGroup(pgid: number, graceMs = 2000): Promise<void> {
  const tag = liveGroups.get(pgid);
  const signal = (s: NodeJS.Signals): void => {
    killGroup(pgid, s);
    if (tag) killTagged(tag, s);
  };
  const alive = (): boolean => groupAlive(pgid) || (tag !== undefined && taggedProcesses(tag).length > 0);
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive() && Date.now() < deadline) await sleep(100);
  if (alive()) signal('SIGKILL');
  const hard = Date.now() + 5000;
  while (alive() && Date.now() < hard) await sleep(50);
  liveGroups.delete(pgid);
  unwatchGroup(pgid);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A mission-file command as argv: a string runs under `sh -c` (the user's own script), an array as is. */
export function toArgv(command: CommandLine): string[] {
  return typeof command === 'string' ? ['sh', '-c', command] : [...command];
}

/** How a command shows in messages. */
export function displayCommand(command: CommandLine): string {
  return typeof command === 'string' ? command : command.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ');
}

export interface GroupProcess {
  child: execa.ExecaChildProcess<string>;
  pgid: number;
}

/**
 * Starts `argv` as the leader of a new process group, stdout and stderr piped, stdin closed (or
 * `input` written to it);
 * `watchdog`: the worker's watchdog kills the group when this process dies (watchdog.ts). Every
 * group gets its own `FLOTILLA_GROUP` tag, which {@link terminateGroup} follows to the processes
 * that left the group.
 * `env` is the whole environment the group gets, nothing of the worker's added: build it with
 * src/agents/environment.ts (`commandEnv`, `agentEnv`).
 * @throws Error with `code: 'ENOENT'` when the program does not exist (from spawn)
 */
export function spawnGroup(
  argv: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; watchdog?: boolean; input?: string },
): GroupProcess {
  installExitHook();
  const tag = newGroupTag();
  const child = execa(argv[0], argv.slice(1), {
    cwd: opts.cwd,
    env: { ...opts.env, [GROUP_TAG_VAR]: tag },
    extendEnv: false,
    detached: true,
    ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
    reject: false,
    buffer: false,
    // Cancellation, timeouts and stalls kill the group ourselves; execa's own kill would only
    // reach the leader.
    cleanup: false,
  });
  const pgid = child.pid ?? -1;
  if (pgid > 0) {
    liveGroups.set(pgid, tag);
    if (opts.watchdog) watchGroup(pgid);
  }
  void child.then(
    () => undefined,
    () => undefined,
  );
  return { child, pgid };
}

/**
 * PID file of the agent group of a task: `$FLOTILLA_HOME/runs/<missionId>/<taskId>/agent.pid`,
 * with the group leader's identity (start time, boot: see pid-file.ts) so that a stale file is
 * never taken for a live agent.
 */
export function writePidFile(file: string, pgid: number): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, pidFileLine(pgid));
}

/** Removes the PID file only if it still names `pgid` (a later attempt may own it by now). */
export function removePidFile(file: string, pgid: number): void {
  if (readPidFile(file)?.pgid === pgid) rmSync(file, { force: true });
}

/**
 * The process group a PID file names, when it is alive and still the group that wrote the file
 * (its leader's start time and boot match: `sameGroup`); undefined otherwise (no file, a stale one).
 */
export function recordedGroup(file: string): number | undefined {
  const recorded = readPidFile(file);
  return recorded && sameGroup(recorded) && groupAlive(recorded.pgid) ? recorded.pgid : undefined;
}

/**
 * Kills the process group recorded in `file` if it is still alive and still the group that wrote
 * the file: an agent left by an earlier attempt whose worker died. Two agents must never run in
 * one worktree at once. A stale file (another boot, a reused PID, no identity) is removed and
 * nothing is killed.
 * @returns the pgid killed, or undefined when there was none
 */
export async function killStaleGroup(file: string): Promise<number | undefined> {
  if (!existsSync(file)) return undefined;
  const pgid = recordedGroup(file);
  rmSync(file, { force: true });
  if (pgid === undefined) return undefined;
  await terminateGroup(pgid, 1000);
  return pgid;
}

/** Keeps the last `max` characters of what is appended. */
export class Tail {
  private text = '';
  constructor(private readonly max = 4000) {}
  push(chunk: string): void {
    this.text += chunk;
    if (this.text.length > this.max * 2) this.text = this.text.slice(-this.max);
  }
  toString(): string {
    return this.text.length > this.max ? `…${this.text.slice(-this.max)}` : this.text;
  }
}
