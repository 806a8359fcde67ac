/**
 * Where Flotilla's git processes are started from: a small helper process (the *spawner*), not the
 * worker itself.
 *
 * Why: Node starts a child with fork() and exec(), and fork() copies the parent's page tables, so
 * its cost grows with the parent's resident memory. Measured on the 2-core AMD EPYC (Node 20,
 * Linux 6.18): about 1.4 ms of CPU per process from a 56 MB process, 6.5 ms from one of 300 MB,
 * 15 ms from one of 580 MB. A worker (Temporal's core, two V8 isolates, the workflow cache) holds
 * 250-350 MB, and a task starts about 16 git processes: spawning alone was 38% of the worker's CPU
 * in a 100-task mission (`npm run bench:profile`). The spawner is a bare `node -e` process of
 * about 40 MB that starts each git process for the worker and sends back its exit code and output
 * over the IPC channel.
 *
 * Nothing about the commands changes: the same argv (never a shell), working directory,
 * environment (the worker's own plus the call's, as execa builds it), stdin, and the whole output.
 * When the spawner cannot be used (it failed to start, or a request could not be sent) the call
 * runs git directly, as before; a spawner that dies while git runs fails the call as a killed git
 * would. The spawner dies with the worker: it exits when its IPC channel closes (the worker
 * exited or was killed); a new one is started on the next call.
 * `FLOTILLA_GIT_SPAWNER=0` turns it off.
 */
import { ChildProcess, spawn } from 'node:child_process';
import execa from 'execa';

/** What one git process did: its exit code (undefined when it could not start) and its output, untouched. */
export interface GitRun {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they arrived (with `all`). */
  all: string;
  /** Why it could not start, when it could not. */
  message?: string;
}

/** How to run it. */
export interface GitRunOptions {
  cwd?: string;
  /** Added to the worker's environment (as execa's `env` with `extendEnv`). */
  env?: Record<string, string>;
  /** Written to its stdin, which is closed after; absent: stdin is /dev/null. */
  input?: string;
}

interface Reply {
  id: number;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  all: string;
  message?: string;
}

/** The spawner's program (run with `node -e`: nothing to build or find on disk). */
const SPAWNER = `
const { spawn } = require('node:child_process');
process.on('disconnect', () => process.exit(0));
process.on('message', (q) => {
  const out = [], err = [], all = [];
  let sent = false;
  const reply = (r) => { if (!sent) { sent = true; process.send({ id: q.id, ...r }); } };
  let child;
  try {
    child = spawn(q.file, q.args, { cwd: q.cwd, env: q.env, stdio: [q.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  } catch (e) {
    return reply({ exitCode: null, stdout: '', stderr: '', all: '', message: String(e && e.message) });
  }
  child.stdout.on('data', (d) => { out.push(d); all.push(d); });
  child.stderr.on('data', (d) => { err.push(d); all.push(d); });
  child.on('error', (e) => reply({ exitCode: null, stdout: '', stderr: '', all: '', message: String(e && e.message) }));
  child.on('close', (code) => reply({ exitCode: code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), all: Buffer.concat(all).toString('utf8') }));
  if (q.input !== undefined) { child.stdin.on('error', () => {}); child.stdin.end(q.input); }
});
`;

let spawner: ChildProcess | null = null;
let broken = process.env.FLOTILLA_GIT_SPAWNER === '0';
let nextId = 1;
/** Requests sent and not answered yet, with the spawner each went to. */
const pending = new Map<number, { to: ChildProcess; resolve: (r: Reply) => void; reject: (e: Error) => void }>();

/** The running spawner, started on first use; null when it cannot be used. */
function theSpawner(): ChildProcess | null {
  if (broken) return null;
  if (spawner?.connected) return spawner;
  try {
    const child = spawn(process.execPath, ['-e', SPAWNER], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: {} });
    child.on('message', (r: Reply) => {
      const p = pending.get(r.id);
      if (!p) return;
      pending.delete(r.id);
      idle(child);
      p.resolve(r);
    });
    // Only this spawner's requests fail with it: a newer one's go on.
    const gone = (): void => {
      if (spawner === child) spawner = null;
      for (const [id, p] of pending) {
        if (p.to !== child) continue;
        pending.delete(id);
        p.reject(new Error('the git spawner exited'));
      }
    };
    child.on('exit', gone);
    child.on('disconnect', gone);
    child.on('error', () => {
      broken = true;
      gone();
    });
    spawner = child;
    idle(child);
    return child;
  } catch {
    broken = true;
    return null;
  }
}

/** Lets the process exit while the spawner has nothing to do (it is never what keeps a worker up). */
function idle(child: ChildProcess): void {
  for (const p of pending.values()) if (p.to === child) return;
  child.unref();
  (child.channel as unknown as { unref?: () => void } | undefined)?.unref?.();
}

function busy(child: ChildProcess): void {
  child.ref();
  (child.channel as unknown as { ref?: () => void } | undefined)?.ref?.();
}

/** Runs git directly from this process (the fallback). */
async function direct(args: string[], opts: GitRunOptions): Promise<GitRun> {
  const r = await execa('git', args, {
    cwd: opts.cwd,
    env: opts.env,
    reject: false,
    all: true,
    stripFinalNewline: false,
    ...(opts.input === undefined ? { stdin: 'ignore' as const } : { input: opts.input }),
  });
  return {
    exitCode: r.exitCode,
    stdout: r.stdout ?? '',
    stderr: r.stderr ?? '',
    all: r.all ?? '',
    ...(r.exitCode === undefined ? { message: (r as { message?: string }).message ?? 'git could not start' } : {}),
  };
}

/**
 * Runs `git args` through the spawner (see the file's comment), or directly when it cannot be used.
 * Never rejects for git's own failures: a non-zero exit or a git that could not start is in the
 * result (`exitCode`, `message`). Output is returned whole, final newlines kept.
 * @throws Error when the spawner died while the command ran (what git did is unknown)
 */
export async function runGit(args: string[], opts: GitRunOptions = {}): Promise<GitRun> {
  const child = theSpawner();
  if (!child) return direct(args, opts);
  const id = nextId++;
  const env = { ...process.env, ...opts.env };
  let sent = true;
  const r = await new Promise<Reply>((resolve, reject) => {
    pending.set(id, { to: child, resolve, reject });
    busy(child);
    child.send({ id, file: 'git', args, cwd: opts.cwd, env, input: opts.input }, (err) => {
      if (!err || !pending.has(id)) return;
      pending.delete(id);
      idle(child);
      sent = false;
      reject(err);
    });
  }).catch((err: Error) => {
    // Never delivered: git did not run, so it runs here.
    if (!sent) return null;
    // The spawner went away while git may have run: as if a git process were killed. The caller
    // fails; its activity's retry finds what the command did (every step is idempotent).
    throw new Error(`git ${args[0] ?? ''}: ${err.message} before git answered`);
  });
  if (r === null) return direct(args, opts);
  return {
    exitCode: r.exitCode ?? undefined,
    stdout: r.stdout,
    stderr: r.stderr,
    all: r.all,
    ...(r.message !== undefined ? { message: r.message } : {}),
  };
}

/** The running spawner's process id, if one runs (for diagnostics and tests). */
export function gitSpawnerPid(): number | undefined {
  return spawner?.connected ? spawner.pid : undefined;
}

/**
 * Ends the spawner, if one runs, and waits for it to exit (a later call to {@link runGit} starts a
 * new one): its CPU and its git processes' then count as this process's children's (rusage), as
 * when git ran directly. A worker calls it when its last activity has ended.
 */
export async function stopGitSpawner(): Promise<void> {
  const child = spawner;
  if (!child) return;
  spawner = null;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  busy(child);
  if (child.connected) child.disconnect();
  else child.kill();
  await exited;
}

/**
 * {@link runGit} with stdout and stderr as execa gives them by default: one final newline
 * stripped (unless `stripFinalNewline: false`). For the callers that read git's answer themselves.
 * @throws as {@link runGit}
 */
export async function runGitTrimmed(
  args: string[],
  opts: GitRunOptions & { stripFinalNewline?: boolean } = {},
): Promise<GitRun> {
  const r = await runGit(args, opts);
  if (opts.stripFinalNewline === false) return r;
  return {
    ...r,
    stdout: stripFinalNewline(r.stdout),
    stderr: stripFinalNewline(r.stderr),
    all: stripFinalNewline(r.all),
  };
}

/** `text` without one final newline (`\n` or `\r\n`), as execa's `stripFinalNewline` does. */
export function stripFinalNewline(text: string): string {
  if (text.endsWith('\r\n')) return text.slice(0, -2);
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}
