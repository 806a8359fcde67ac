/**
 * Commands from the mission file (`setup`, task `verify`, mission `verify`), each in its own
 * process group with the command environment (src/activities/environment.ts: the baseline plus
 * the names the mission's `env:` lists, never the worker's whole environment). Their output goes
 * to a log file (mode 0600) and its tail into the result, both with every secret's value redacted
 * as it streams (src/activities/secrets.ts). `runCommands` reports progress to its caller, which
 * owns the activity's heartbeat: a setup command run inside `runAgent` must not overwrite the
 * agent's heartbeat details with its own.
 */
import { Context } from '@temporalio/activity';
import { appendFileSync } from 'node:fs';
import type { CommandLine } from '../mission/types';
import { commandEnv } from './environment';
import { displayCommand, spawnGroup, Tail, terminateGroup, toArgv } from './process';
import { privateFile, secretRedactor } from './secrets';

/** What {@link runCommands} reports about every second while a command runs. */
export interface CommandProgress {
  command: string;
}

export interface ChecksInput {
  cwd: string;
  commands: CommandLine[];
  /** Limit for each command, ms. */
  timeoutMs: number;
  /** Full output is appended here (redacted, mode 0600). */
  logFile: string;
  /**
   * Names of the worker's environment variables the commands get besides the baseline (the
   * mission's `env:`). Secrets: their values are redacted from the log and the result.
   */
  env?: string[];
  /** Every secret name the mission lists: redacted here too (see CommandNames). */
  redact?: string[];
}

export interface ChecksResult {
  ok: boolean;
  /** The first command that failed, with its exit code (null when killed) and the output's tail. */
  failed: { command: string; exitCode: number | null; outputTail: string; timedOut: boolean } | null;
}

/**
 * Runs `commands` in order in `cwd`, stopping at the first failure, each in a process group with
 * a watchdog that kills the group when this worker dies (see `spawnGroup`). Calls `onProgress`
 * every second while a command runs; heartbeats nothing itself. Cancellation of the calling
 * activity (also the SDK's on a worker shutdown) kills the running command's group, then
 * rethrows. Every secret's value (and `env`'s) is redacted from the log file and the result.
 */
export async function runCommands(
  input: ChecksInput,
  onProgress?: (p: CommandProgress) => void,
): Promise<ChecksResult> {
  const log = privateFile(input.logFile);
  const ctx = activityContext();
  const redactor = secretRedactor([...(input.env ?? []), ...(input.redact ?? [])]);
  const env = commandEnv(input.env ?? []);
  for (const command of input.commands) {
    const shown = redactor.text(displayCommand(command));
    const notFound = (): ChecksResult => ({
      ok: false,
      failed: {
        command: shown,
        exitCode: 127,
        outputTail: redactor.text(`command not found: ${toArgv(command)[0]}`),
        timedOut: false,
      },
    });
    appendFileSync(log, `\n$ ${shown}\n`);
    // With a watchdog, as agents: a worker that dies (SIGKILL) takes the command's group with it,
    // so a setup or gate never runs on in a worktree whose next attempt starts elsewhere.
    const { child, pgid } = spawnGroup(toArgv(command), { cwd: input.cwd, env, watchdog: true });
    const tail = new Tail(3000);
    // One stream for both outputs, so a value split between two chunks is still redacted whole.
    const output = redactor.stream();
    const write = (text: string): void => {
      if (!text) return;
      tail.push(text);
      appendFileSync(log, text);
    };
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => write(output.push(chunk)));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => write(output.push(chunk)));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void terminateGroup(pgid);
    }, input.timeoutMs);
    const beat = setInterval(() => onProgress?.({ command: shown }), 1000);
    const onCancel = (): void => void terminateGroup(pgid);
    ctx?.cancellationSignal.addEventListener('abort', onCancel);
    try {
      const result = await child;
      // The leader is done; anything it left in the background (a dev server, a watcher) goes too.
      await terminateGroup(pgid, 500);
      write(output.end());
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

/** How often {@link heartbeating} beats, ms. */
export const HEARTBEAT_EVERY_MS = 5000;

/**
 * Runs `fn` while heartbeating at once and every {@link HEARTBEAT_EVERY_MS}, for activities whose
 * steps (waiting minutes for the repository lock, `git worktree add` in a large repository) do not
 * heartbeat on their own but run under a heartbeat timeout, so a dead worker is noticed quickly.
 * `fn` gets `beat(details)` to heartbeat progress of its own (the latest details are repeated by
 * the timer). Outside an activity (direct calls from tests) nothing beats.
 */
export async function heartbeating<T>(fn: (beat: (details?: unknown) => void) => Promise<T>): Promise<T> {
  const ctx = activityContext();
  let details: unknown;
  const beat = (d?: unknown): void => {
    if (d !== undefined) details = d;
    ctx?.heartbeat(details);
  };
  beat();
  const timer = setInterval(beat, HEARTBEAT_EVERY_MS);
  try {
    return await fn(beat);
  } finally {
    clearInterval(timer);
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
    /**
     * Runs verify commands (task gate or mission verify); a failure is a result, not an error.
     * Heartbeats at once, `{ command }` every second while a command runs, and every 5 s in
     * between; see {@link runCommands}.
     */
    async runChecks(input: ChecksInput): Promise<ChecksResult> {
      return heartbeating((beat) => runCommands(input, beat));
    },
  };
}
