/**
 * Keeps secrets out of workflow history. The mission names the variables its agents get
 * (`agent.env`); their values live only in the worker's environment, and an agent or a command may
 * still print one (a failing `curl` echoing its token, a summary quoting `.env`). Everything an
 * activity returns or throws passes through a {@link Redactor} first.
 */

/**
 * The variables that hold the worker's own Temporal credentials, as the Temporal CLI names them
 * (`TEMPORAL_API_KEY`, `TEMPORAL_TLS_*`, `TEMPORAL_GRPC_META_*`, `TEMPORAL_CODEC_*`).
 */
export const WORKER_SECRET = /^TEMPORAL_(API_KEY|TLS_.+|GRPC_META_.+|CODEC_.+)$/;

/** Values shorter than this are left alone: `1`, `on` or `dev` would shred ordinary text. */
export const MIN_REDACTED_LENGTH = 4;

/** Replaces the values of named environment variables with `[redacted:NAME]`. */
export class Redactor {
  private readonly pairs: Array<[value: string, name: string]>;

  /**
   * `names`: the variables whose values must not leave the worker; `env` (default
   * `process.env`): where their values are read. Values shorter than
   * {@link MIN_REDACTED_LENGTH} characters are not redacted.
   */
  constructor(names: readonly string[] = [], env: NodeJS.ProcessEnv = process.env) {
    const seen = new Set<string>();
    this.pairs = [];
    // The worker's Temporal credentials are redacted whatever the mission names.
    const all = [...names, ...Object.keys(env).filter((n) => WORKER_SECRET.test(n))];
    for (const name of all) {
      const value = env[name];
      if (value === undefined || value.length < MIN_REDACTED_LENGTH || seen.has(value)) continue;
      seen.add(value);
      this.pairs.push([value, name]);
    }
    // Longest first: a value that contains another is replaced whole.
    this.pairs.sort((a, b) => b[0].length - a[0].length);
  }

  /** True when there is nothing to redact (no named variable holds a long enough value). */
  get empty(): boolean {
    return this.pairs.length === 0;
  }

  /** `text` with every occurrence of a named value replaced by `[redacted:NAME]`. */
  text(text: string): string;
  text(text: string | null | undefined): string | null | undefined;
  text(text: string | null | undefined): string | null | undefined {
    if (!text || this.empty) return text;
    let out = text;
    for (const [value, name] of this.pairs) out = out.split(value).join(`[redacted:${name}]`);
    return out;
  }

  /**
   * An Error (or ApplicationFailure) with its message redacted, in place, so its type, flags and
   * details stay as they were. The stack is redacted too: its first line repeats the message.
   */
  error<E>(err: E): E {
    if (this.empty || !(err instanceof Error)) return err;
    err.message = this.text(err.message);
    if (err.stack) err.stack = this.text(err.stack);
    return err;
  }

  /**
   * Runs `fn`; whatever it throws leaves with its message redacted. For activity bodies, so no
   * failure message carries a named value into history.
   */
  async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.error(err);
    }
  }
}

/** Redacts the values of `names` (read from `process.env`) in `text`; see {@link Redactor}. */
export function redact(text: string, names: readonly string[]): string {
  return new Redactor(names).text(text);
}
