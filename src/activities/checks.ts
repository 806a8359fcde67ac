/**
 * Commands from the mission file (`setup`, task `verify`, mission `verify`), each in its own
 * process group, heartbeating while it runs so cancellation reaches it; the full output goes to a
 * log file, only its tail goes back into history.
 */
import { Context } from '@temporalio/activity';
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { CommandLine } from '../mission/types';
import { displayCommand, spawnGroup, Tail, terminateGroup, toArgv } from './process';

export interface ChecksInput {
  cwd: string;
  commands: CommandLine[];
  /** Limit for each command, ms. */
  timeoutMs: number;
  /** Full output is appended here. */
  logFile: string;
  /** Names of environment variables passed through (values never enter history). */
  env?: string[];
}

export interface ChecksResult {
  ok: boolean;
  /** The first command that failed, with its exit code (null when killed) and the output's tail. */
  failed: { command: string; exitCode: number | null; outputTail: string; timedOut: boolean } | null;
}

/**
 * Runs `commands` in order in `cwd`, stopping at the first failure. Heartbeats every second when
 * called from an activity. Cancellation kills the running command's group, then rethrows.
 */
export async function runCommands(input: ChecksInput): Promise<ChecksResult> {
  mkdirSync(path.dirname(input.logFile), { recursive: true });
  const ctx = activityContext();
  for (const command of input.commands) {
    const shown = displayCommand(command);
    const notFound = (): ChecksResult => ({
      ok: false,
      failed: {
        command: shown,
        exitCode: 127,
        outputTail: `command not found: ${toArgv(command)[0]}`,
        timedOut: false,
      },
    });
    appendFileSync(input.logFile, `\n$ ${shown}\n`);
    const { child, pgid } = spawnGroup(toArgv(command), { cwd: input.cwd });
    const tail = new Tail(3000);
    const onData = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      tail.push(text);
      appendFileSync(input.logFile, text);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void terminateGroup(pgid);
    }, input.timeoutMs);
    const beat = setInterval(() => ctx?.heartbeat({ command: shown }), 1000);
    const onCancel = (): void => void terminateGroup(pgid);
    ctx?.cancellationSignal.addEventListener('abort', onCancel);
    try {
      const result = await child;
      // The leader is done; anything it left in the background (a dev server, a watcher) goes too.
      await terminateGroup(pgid, 500);
      if (ctx?.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new Error('cancelled');
      // With `reject: false`, execa resolves a failed spawn as a result carrying the errno.
      if ((result as unknown as { code?: string }).code === 'ENOENT') {
        return notFound();
      }
      if (timedOut || result.exitCode !== 0) {
        return {
          ok: false,
          failed: {
            command: shown,
            exitCode: timedOut ? null : (result.exitCode ?? null),
            outputTail: tail.toString(),
            timedOut,
          },
        };
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return notFound();
      }
      throw err;
    } finally {
      clearTimeout(timer);
      clearInterval(beat);
      ctx?.cancellationSignal.removeEventListener('abort', onCancel);
    }
  }
  return { ok: true, failed: null };
}

/**
 * Runs `fn` while heartbeating every 5 s, for activities whose steps (waiting for the repository
 * lock, `git worktree add` in a large repository) do not heartbeat on their own but run under a
 * heartbeat timeout, so a dead worker is noticed quickly.
 */
export async function heartbeating<T>(fn: () => Promise<T>): Promise<T> {
  const ctx = activityContext();
  const beat = setInterval(() => ctx?.heartbeat(), 5000);
  try {
    return await fn();
  } finally {
    clearInterval(beat);
  }
}

/** The activity context, or undefined outside an activity (direct calls from tests). */
export function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

export function createChecksActivities() {
  return {
    /** Runs verify commands (task gate or mission verify); a failure is a result, not an error. */
    async runChecks(input: ChecksInput): Promise<ChecksResult> {
      return runCommands(input);
    },
  };
}
