/**
 * Transcripts: every raw output line of an agent attempt, as JSON lines, in
 * `$FLOTILLA_HOME/runs/<missionId>/<taskId>/attempt-<n>.jsonl` (read back by `flotilla logs`),
 * every secret's value redacted (src/activities/secrets.ts), mode 0600 in a folder of mode 0700.
 */
import { createWriteStream, existsSync, readdirSync, readFileSync, WriteStream } from 'node:fs';
import path from 'node:path';
import type { Redactor } from './redact';
import type { RuntimeAdapter } from './runtimes/types';
import { privateDir, privateFile, secretRedactor } from './secrets';

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

const ATTEMPT_FILE = /^attempt-(\d+)\.jsonl$/;

/** The path of the next attempt's transcript in `dir` (`attempt-<n+1>.jsonl`); creates `dir`. */
export function nextTranscript(dir: string): string {
  privateDir(dir);
  const used = readdirSync(dir)
    .map((f) => ATTEMPT_FILE.exec(f)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number);
  return path.join(dir, `attempt-${used.length === 0 ? 1 : Math.max(...used) + 1}.jsonl`);
}

/** The last agent session the newest transcript in `dir` names (read with the runtime's parser), or null. */
export function sessionInLastTranscript(adapter: RuntimeAdapter, dir: string): string | null {
  const numbered = (existsSync(dir) ? readdirSync(dir) : [])
    .map((f) => ({ f, n: Number(ATTEMPT_FILE.exec(f)?.[1] ?? NaN) }))
    .filter((x) => !Number.isNaN(x.n))
    .sort((a, b) => b.n - a.n);
  if (numbered.length === 0) return null;
  const parse = adapter.parser();
  let session: string | null = null;
  for (const raw of readFileSync(path.join(dir, numbered[0].f), 'utf8').split('\n')) {
    try {
      const rec = JSON.parse(raw) as { stream?: 'stdout' | 'stderr'; line?: unknown };
      if (!rec.stream || typeof rec.line !== 'string') continue;
      session = parse(rec.line, rec.stream)?.sessionId ?? session;
    } catch {
      // A torn last line (the worker died writing it).
    }
  }
  return session;
}
