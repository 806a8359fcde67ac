/**
 * Transcripts: every raw output line of an agent attempt, as JSON lines, in
 * `$FLOTILLA_HOME/runs/<missionId>/<taskId>/attempt-<n>.jsonl` (a resolver's in
 * `…/<taskId>/resolver/`, paths.ts), every secret's value redacted (src/secrets), mode 0600 in a
 * folder of mode 0700. Written by the agent's launch ({@link TranscriptWriter}), read back by a
 * retried attempt (the session it ran), `flotilla logs` and `watch` ({@link readRecord}).
 *
 * Each line is a {@link TranscriptRecord}: `{ts, stream, line}` for a line the agent wrote, or a
 * `flotilla.attempt` record (what was launched) and a `flotilla.exit` record (how it ended, with
 * the attempt's usage).
 */
import { createWriteStream, existsSync, readdirSync, readFileSync, WriteStream } from 'node:fs';
import path from 'node:path';
import type { Runtime } from '../mission/types';
import type { Redactor } from '../secrets/redact';
import { privateDir, privateFile, secretRedactor } from '../secrets/secrets';
import { agentDir } from './paths';
import type { RuntimeAdapter } from './runtimes/types';

/**
 * One attempt's transcript file. Writing can never crash the worker: a record after
 * {@link close} is dropped (output lines may still arrive from a pipe after the attempt ended), and
 * a write error (a full disk, a deleted directory) is reported to `onError` once and ends writing
 * instead of becoming an unhandled 'error' event (`ERR_STREAM_WRITE_AFTER_END` crashed a worker).
 */
export class TranscriptWriter {
  private readonly out: WriteStream;
  private open = true;
  private closing?: Promise<void>;

  private readonly redactor: Redactor;

  /**
   * Appends to `file` (created with its directory if needed); `secrets`: names whose values are
   * redacted besides every secret's (the agent's `agent.env`).
   */
  constructor(
    readonly file: string,
    private readonly onError: (err: Error) => void = () => undefined,
    secrets: readonly string[] = [],
  ) {
    this.redactor = secretRedactor(secrets);
    privateDir(path.dirname(file));
    this.out = createWriteStream(privateFile(file), { flags: 'a', mode: 0o600 });
    this.out.on('error', (err) => {
      if (this.open) this.onError(err);
      this.open = false;
    });
  }

  /** True until {@link close} is called or a write failed. */
  get writable(): boolean {
    return this.open;
  }

  /** Appends `{ ts, ...obj }` as one line, every string in it redacted; a no-op once closed. */
  record(obj: Record<string, unknown>): void {
    if (!this.open) return;
    this.out.write(`${JSON.stringify(this.redactor.value({ ts: new Date().toISOString(), ...obj }))}\n`);
  }

  /** Flushes and closes the file; resolves when done (also after a write error). Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.open = false;
      if (this.out.destroyed || this.out.writableFinished) return resolve();
      this.out.once('close', resolve);
      this.out.once('error', () => resolve());
      this.out.end();
    });
    return this.closing;
  }
}

/** One line of a transcript, as written; every field optional (a reader meets torn and older lines). */
export interface TranscriptRecord {
  /** When it was written, ISO-8601. */
  ts?: string;
  /** `flotilla.attempt` or `flotilla.exit`; absent on an agent's output line. */
  type?: string;
  /** An agent's output line: which stream it came on, and the line exactly as written (redacted). */
  stream?: 'stdout' | 'stderr';
  line?: string;
  /** `flotilla.attempt`: the attempt, the task's iteration, the runtime, the session resumed. */
  attempt?: number;
  iteration?: number;
  runtime?: Runtime;
  /** `resolver` for a merge-conflict resolver's attempt (absent: a task's agent). */
  role?: string;
  resume?: string | null;
  /** `flotilla.exit`: the exit code, how the launch ended (src/agents/outcome.ts `Ended`), its usage. */
  exitCode?: number | null;
  ended?: string;
  costUsd?: number;
  inputTokens?: number;
  outputTokens?: number;
  turns?: number;
}

/** A transcript line as a record; undefined when it is not a JSON object (a torn last line). */
export function readRecord(raw: string): TranscriptRecord | undefined {
  try {
    const rec: unknown = JSON.parse(raw);
    return rec !== null && typeof rec === 'object' && !Array.isArray(rec) ? (rec as TranscriptRecord) : undefined;
  } catch {
    return undefined;
  }
}

const ATTEMPT_FILE = /^attempt-(\d+)\.jsonl$/;

/** The transcripts in `dir`, in attempt order (`attempt-1.jsonl`, `attempt-2.jsonl`, …); none when `dir` does not exist. */
function attemptFiles(dir: string): string[] {
  return (existsSync(dir) ? readdirSync(dir) : [])
    .map((f) => ({ f, n: Number(ATTEMPT_FILE.exec(f)?.[1] ?? NaN) }))
    .filter((x) => !Number.isNaN(x.n))
    .sort((a, b) => a.n - b.n)
    .map((x) => path.join(dir, x.f));
}

/**
 * The folder holding a task's transcripts: its agent's (`runs/<m>/<task>/`), or with `resolver`
 * its merge-conflict resolver's (`runs/<m>/<task>/resolver/`, written by runAgent with role resolver).
 */
export function transcriptDir(home: string, missionId: string, taskId: string, resolver = false): string {
  return agentDir(home, missionId, taskId, resolver ? 'resolver' : 'task');
}

/** Transcript files of a task's agent (or, with `resolver`, of its resolver), in attempt order. */
export function transcriptFiles(home: string, missionId: string, taskId: string, resolver = false): string[] {
  return attemptFiles(transcriptDir(home, missionId, taskId, resolver));
}

/** The path of the next attempt's transcript in `dir` (`attempt-<n+1>.jsonl`); creates `dir`. */
export function nextTranscript(dir: string): string {
  privateDir(dir);
  const last = attemptFiles(dir).at(-1);
  const n = last ? Number(ATTEMPT_FILE.exec(path.basename(last))?.[1]) : 0;
  return path.join(dir, `attempt-${n + 1}.jsonl`);
}

/** The last agent session the newest transcript in `dir` names (read with the runtime's parser), or null. */
export function sessionInLastTranscript(adapter: RuntimeAdapter, dir: string): string | null {
  const newest = attemptFiles(dir).at(-1);
  if (!newest) return null;
  const parse = adapter.parser();
  let session: string | null = null;
  for (const raw of readFileSync(newest, 'utf8').split('\n')) {
    const rec = readRecord(raw);
    // Skipped: a torn last line (the worker died writing it), Flotilla's own records.
    if (!rec?.stream || typeof rec.line !== 'string') continue;
    try {
      session = parse(rec.line, rec.stream)?.sessionId ?? session;
    } catch {
      // A line the runtime's parser cannot read names no session.
    }
  }
  return session;
}
