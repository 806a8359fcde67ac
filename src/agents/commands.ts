/**
 * Commands from the mission file (`setup`, task `verify`, mission `verify`; also a resolution's
 * checks and `land`'s verify), each in its own process group with the command environment
 * (environment.ts: the baseline plus the names the mission's `env:` lists, never the worker's
 * whole environment). Their output goes to a log file (mode 0600) and its tail into the result,
 * both with every secret's value redacted as it streams (src/secrets). The caller owns
 * cancellation (an AbortSignal) and progress reports (the activity heartbeats them: a setup
 * command run inside `runAgent` must not overwrite the agent's heartbeat details with its own).
 */
import { appendFileSync } from 'node:fs';
import type { CommandLine } from '../mission/types';
import type { Redactor } from '../secrets/redact';
import { privateFile, secretRedactor } from '../secrets/secrets';
import { commandEnv } from './environment';
import type { NamespaceRequest } from '../mission/types';
import { displayCommand, spawnGroup, Tail, terminateGroup, toArgv } from './process';

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
  /**
   * The runtime namespace the commands run in (namespace.ts): the activity reserves it and passes
   * its variables as {@link CommandRunOptions.env}. Absent: none.
   */
  namespace?: NamespaceRequest;
}

export interface ChecksResult {
  ok: boolean;
  /** The first command that failed, with its exit code (null when killed) and the output's tail. */
  failed: { command: string; exitCode: number | null; outputTail: string; timedOut: boolean } | null;
}

/** How {@link runCommands} is stopped and heard from. */
export interface CommandRunOptions {
  /** Aborted: the running command's group is killed and `runCommands` throws the signal's reason. */
  signal?: AbortSignal;
  /** Called every second while a command runs. */
  onProgress?: (p: CommandProgress) => void;
  /** Variables the commands get over the command environment: the runtime namespace's (namespace.ts `namespaceEnv`). */
  env?: Record<string, string>;
}

/** What every command of one {@link runCommands} call shares. */
interface CommandRun extends Omit<CommandRunOptions, 'env'> {
  input: ChecksInput;
  log: string;
  redactor: Redactor;
  env: NodeJS.ProcessEnv;
}

/**
 * Runs `commands` in order in `cwd`, stopping at the first failure, each in a process group with
 * a watchdog that kills the group when this worker dies (see `spawnGroup`). A failure is a result,
 * not an error. Every secret's value (and `env`'s) is redacted from the log file and the result.
 * @throws the signal's reason (or an Error) after killing the running command's group, when
 *   `signal` aborts
 */
export async function runCommands(input: ChecksInput, opts: CommandRunOptions = {}): Promise<ChecksResult> {
  const run: CommandRun = {
    ...opts,
    input,
    log: privateFile(input.logFile),
    redactor: secretRedactor([...(input.env ?? []), ...(input.redact ?? [])]),
    env: commandEnv(input.env ?? [], process.env, opts.env),
  };
  for (const command of input.commands) {
    const failed = await runCommand(run, command);
    if (failed) return { ok: false, failed };
  }
  return { ok: true, failed: null };
}

/** Runs one command; resolves to its failure, or null when it exited 0. */
async function runCommand(run: CommandRun, command: CommandLine): Promise<ChecksResult['failed']> {
  const { input, log, redactor, signal } = run;
  const shown = redactor.text(displayCommand(command));
  const notFound = (): ChecksResult['failed'] => ({
    command: shown,
    exitCode: 127,
    outputTail: redactor.text(`command not found: ${toArgv(command)[0]}`),
    timedOut: false,
  });
  appendFileSync(log, `\n$ ${shown}\n`);
  // With a watchdog, as agents: a worker that dies (SIGKILL) takes the command's group with it,
  // so a setup or gate never runs on in a worktree whose next attempt starts elsewhere.
  const { child, pgid } = spawnGroup(toArgv(command), { cwd: input.cwd, env: run.env, watchdog: true });
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
  const beat = setInterval(() => run.onProgress?.({ command: shown }), 1000);
  const onAbort = (): void => void terminateGroup(pgid);
  signal?.addEventListener('abort', onAbort);
  try {
    const result = await child;
    // The leader is done; anything it left in the background (a dev server, a watcher) goes too.
    await terminateGroup(pgid, 500);
    write(output.end());
    if (signal?.aborted) throw signal.reason ?? new Error('cancelled');
    // With `reject: false`, execa resolves a failed spawn as a result carrying the errno.
    if ((result as unknown as { code?: string }).code === 'ENOENT') return notFound();
    if (!timedOut && result.exitCode === 0) return null;
    return {
      command: shown,
      exitCode: timedOut ? null : (result.exitCode ?? null),
      outputTail: tail.toString(),
      timedOut,
    };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return notFound();
    throw err;
  } finally {
    clearTimeout(timer);
    clearInterval(beat);
    signal?.removeEventListener('abort', onAbort);
  }
}
