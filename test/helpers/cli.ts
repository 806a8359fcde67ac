/**
 * The `flotilla` CLI as a user runs it, for tests: the built CLI (`node lib/client/cli.js`, so
 * `npm run build` first; `npm test` does) or the `./flotilla` launcher. One place spawns it, so
 * every test reads exit codes and output the same way.
 */
import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { freeLoopbackPort } from '../../src/worker/metrics-server';

export const ROOT = path.resolve(__dirname, '..', '..');
/** The built CLI. */
export const CLI_JS = path.join(ROOT, 'lib', 'client', 'cli.js');
/** The launcher a user runs (installs and builds what is missing first). */
export const LAUNCHER = path.join(ROOT, 'flotilla');

export interface CliOptions {
  /** Added to this process's environment (TEMPORAL_ADDRESS, FLOTILLA_HOME, ...). */
  env?: NodeJS.ProcessEnv;
  /** Working directory; default the repository root. */
  cwd?: string;
  /** Run `./flotilla` instead of `node lib/client/cli.js`. */
  launcher?: boolean;
  /** SIGKILL after this long, ms (default 240 000); the result then says `signal: 'SIGKILL'`. */
  timeoutMs?: number;
}

export interface CliResult {
  /** The exit code; null when a signal ended the process. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** From spawn to exit, ms. */
  ms: number;
}

export interface CliProcess {
  child: ChildProcess;
  pid: number;
  /** Output so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when the process exited, with all of its output. */
  result: Promise<CliResult>;
  /** Resolves once stdout or stderr matches `pattern`; rejects after `timeoutMs` or an exit first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  kill(signal?: NodeJS.Signals): void;
}

/** The argv that runs the CLI with `args` (for harnesses that spawn processes their own way). */
export function cliArgv(args: string[], opts: Pick<CliOptions, 'launcher'> = {}): string[] {
  return opts.launcher ? [LAUNCHER, ...args] : [process.execPath, CLI_JS, ...args];
}

/** Starts the CLI with `args`; see {@link CliProcess}. */
export function spawnCli(args: string[], opts: CliOptions = {}): CliProcess {
  const [cmd, ...argv] = cliArgv(args, opts);
  const started = Date.now();
  const child = spawn(cmd, argv, {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  const notify = (): void => waiters.forEach((w) => w());
  child.stdout!.setEncoding('utf8').on('data', (d: string) => ((stdout += d), notify()));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => ((stderr += d), notify()));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 240_000);
  let exited = false;
  const result = new Promise<CliResult>((resolve) =>
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      exited = true;
      notify();
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    }),
  );
  return {
    child,
    pid: child.pid!,
    stdout: () => stdout,
    stderr: () => stderr,
    result,
    kill: (signal = 'SIGTERM') => void child.kill(signal),
    waitFor: (pattern, timeoutMs = 60_000) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (pattern.test(stdout) || pattern.test(stderr)) done(null);
          else if (exited) done(new Error(`the CLI exited before printing ${pattern}:\n${stdout}\n${stderr}`));
        };
        const timeout = setTimeout(
          () => done(new Error(`timed out waiting for ${pattern}:\n${stdout}\n${stderr}`)),
          timeoutMs,
        );
        function done(err: Error | null): void {
          clearTimeout(timeout);
          waiters.delete(check);
          if (err) reject(err);
          else resolve();
        }
        waiters.add(check);
        check();
      }),
  };
}

/** Runs the CLI with `args` to its end. */
export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return spawnCli(args, opts).result;
}

/**
 * Runs the CLI's entry point (`main` of src/client/cli.ts) in this process, with `opts.env` added
 * to `process.env` and `opts.cwd` as the working directory for the call, and returns what it
 * printed and the exit code it set, as {@link runCli} does for a process. For commands that end
 * without a server (bad input, `validate`): about 1 ms a call where a process costs about 1 s.
 * Calls must not overlap (they share `process`); `launcher` and `timeoutMs` are ignored. What a
 * process proves on top (the exit code a shell sees, no lingering handle) needs {@link runCli}.
 */
export async function runCliInProcess(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  // Loaded on first use: most suites spawn the built CLI and need none of the client's modules.
  const { main } = await import('../../src/client/cli');
  const started = Date.now();
  const saved = { env: { ...process.env }, cwd: process.cwd(), exitCode: process.exitCode };
  const out = { stdout: '', stderr: '' };
  const writeOut = process.stdout.write;
  const writeErr = process.stderr.write;
  const capture =
    (key: 'stdout' | 'stderr') =>
    (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      out[key] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      done?.();
      return true;
    };
  process.stdout.write = capture('stdout') as typeof process.stdout.write;
  process.stderr.write = capture('stderr') as typeof process.stderr.write;
  try {
    for (const [k, v] of Object.entries(opts.env ?? {})) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    process.chdir(opts.cwd ?? ROOT);
    process.exitCode = undefined;
    await main([process.execPath, CLI_JS, ...args]);
    return { code: Number(process.exitCode ?? 0), signal: null, ...out, ms: Date.now() - started };
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
    for (const k of Object.keys(process.env)) if (!(k in saved.env)) delete process.env[k];
    Object.assign(process.env, saved.env);
    process.chdir(saved.cwd);
    process.exitCode = saved.exitCode;
  }
}

/**
 * Starts `flotilla worker --metrics 127.0.0.1:PORT` on a free loopback port and waits until it
 * serves. A port found free can be taken before the worker binds it (a dev server started beside it
 * picks its own metrics port from the same pool), so on "the port is in use" it tries a fresh port,
 * up to three times. Resolves with the running worker and its port.
 */
export async function spawnMetricsWorker(
  opts: CliOptions,
  extraArgs: string[] = [],
): Promise<{ worker: CliProcess; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freeLoopbackPort();
    const worker = spawnCli(['worker', '--metrics', `127.0.0.1:${port}`, ...extraArgs], opts);
    try {
      await worker.waitFor(/metrics at http:/, 120_000);
      return { worker, port };
    } catch (err) {
      worker.kill('SIGKILL');
      if (attempt >= 3 || !/the port is in use/.test(worker.stderr())) throw err;
    }
  }
}
