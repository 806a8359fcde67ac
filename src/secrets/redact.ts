/**
 * Redaction: the values of named environment variables replaced by `[redacted:NAME]` in text, in
 * JSON-like values (strings only, structure kept), in errors, and in output streams cut into
 * chunks. Which variables are secrets is decided in one place, src/secrets/secrets.ts
 * (`secretRedactor`); this file only knows how to take values out.
 */

/** Values shorter than this are left alone: `1`, `on` or `dev` would shred ordinary text. */
export const MIN_REDACTED_LENGTH = 4;

/** Lines of a multi-line value (a PEM key) at least this long are redacted on their own too. */
const MIN_LINE_LENGTH = 8;

/** A git object id: a 4-character secret may occur in one by chance, which leaks nothing. */
const OBJECT_ID = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

/** How deep {@link Redactor.value} and {@link Redactor.error} go into nested values. */
const MAX_DEPTH = 32;

/** Replaces the values of named environment variables with `[redacted:NAME]`. */
export class Redactor {
  private readonly pairs: Array<[value: string, name: string]> = [];
  private readonly values = new Set<string>();

  /**
   * `names`: the variables whose values must not leave the worker; `env` (default
   * `process.env`): where their values are read. Values shorter than
   * {@link MIN_REDACTED_LENGTH} characters are not redacted. Each value is also redacted as JSON
   * escapes it (a value with quotes or backslashes, inside an agent's JSON line), and each line of
   * a multi-line value on its own (line-by-line outputs).
   */
  constructor(names: readonly string[] = [], env: NodeJS.ProcessEnv = process.env) {
    const add = (value: string, name: string): void => {
      if (value.length < MIN_REDACTED_LENGTH || this.pairs.some(([v]) => v === value)) return;
      this.pairs.push([value, name]);
    };
    for (const name of new Set(names)) {
      const value = env[name];
      if (value === undefined || value.length < MIN_REDACTED_LENGTH) continue;
      this.values.add(value);
      add(value, name);
      add(JSON.stringify(value).slice(1, -1), name);
      for (const line of value.split(/\r?\n/)) if (line.trim().length >= MIN_LINE_LENGTH) add(line.trim(), name);
    }
    // Longest first: a value that contains another is replaced whole.
    this.pairs.sort((a, b) => b[0].length - a[0].length);
  }

  /** True when there is nothing to redact (no named variable holds a long enough value). */
  get empty(): boolean {
    return this.pairs.length === 0;
  }

  /** True when some value to redact occurs in `text` (a quick test before parsing anything). */
  occursIn(text: string): boolean {
    return this.pairs.some(([value]) => text.includes(value));
  }

  /** `text` with every occurrence of a named value replaced by `[redacted:NAME]`. */
  text(text: string): string;
  text(text: string | null | undefined): string | null | undefined;
  text(text: string | null | undefined): string | null | undefined {
    if (!text || this.empty) return text;
    let out = text;
    for (const [value, name] of this.pairs) if (out.includes(value)) out = out.split(value).join(`[redacted:${name}]`);
    return out;
  }

  /**
   * `value` with every string in it redacted (see {@link text}); object keys, numbers and the
   * structure are kept, so JSON stays valid and typed. Returns `value` itself when nothing changed.
   * A git object id is left alone unless it is a secret's value itself.
   */
  value<T>(value: T, depth = 0): T {
    if (this.empty || depth > MAX_DEPTH) return value;
    if (typeof value === 'string') {
      if (OBJECT_ID.test(value) && !this.values.has(value)) return value;
      return this.text(value) as T;
    }
    if (value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) {
      const out = value.map((v: unknown) => this.value(v, depth + 1));
      return out.some((v, i) => v !== value[i]) ? (out as T) : value;
    }
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return value;
    let changed = false;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[k] = this.value(v, depth + 1);
      changed ||= out[k] !== v;
    }
    return changed ? (out as T) : value;
  }

  /**
   * An Error (or ApplicationFailure) redacted in place, so its class, type and flags stay as they
   * were: its message and stack (whose first line repeats the message), its `details` (an
   * ApplicationFailure's), and its `cause` chain. A thrown string comes back redacted.
   */
  error<E>(err: E, depth = 0): E {
    if (this.empty || depth > MAX_DEPTH) return err;
    if (typeof err === 'string') return this.text(err) as E;
    if (!(err instanceof Error)) return err;
    err.message = this.text(err.message);
    if (err.stack) err.stack = this.text(err.stack);
    const withDetails = err as unknown as { details?: unknown };
    if (Array.isArray(withDetails.details)) {
      // ApplicationFailure's `details` is readonly in its type, not at run time.
      Object.defineProperty(err, 'details', { value: this.value(withDetails.details), configurable: true });
    }
    if (err.cause !== undefined) err.cause = this.error(err.cause, depth + 1);
    // A TemporalFailure decoded from a received failure is sent back as that proto, unredacted:
    // without it, the SDK's failure converter builds the failure from what was redacted here.
    const decoded = err as unknown as { failure?: unknown };
    if (decoded.failure) decoded.failure = undefined;
    return err;
  }

  /**
   * Runs `fn`; whatever it throws leaves redacted (see {@link error}). For code that writes what
   * it catches somewhere the worker's boundary does not reach (the CLI's own `land`).
   */
  async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.error(err);
    }
  }

  /**
   * A redactor for one output stream cut into chunks anywhere (a value may be split between two
   * chunks): `push(chunk)` returns what can be written now, redacted; `end()` the rest. What is
   * held back is never longer than the longest value, plus an occurrence that spans the cut.
   */
  stream(): { push(chunk: string): string; end(): string } {
    const hold = Math.max(0, ...this.pairs.map(([v]) => v.length - 1));
    let pending = '';
    return {
      push: (chunk: string): string => {
        if (this.empty) return chunk;
        pending += chunk;
        let cut = pending.length - hold;
        // An occurrence that starts before the cut and ends after it is held back whole.
        for (let moved = true; moved && cut > 0;) {
          moved = false;
          for (const [value] of this.pairs) {
            const at = pending.indexOf(value, Math.max(0, cut - value.length + 1));
            if (at >= 0 && at < cut) {
              cut = at;
              moved = true;
            }
          }
        }
        if (cut <= 0) return '';
        const out = pending.slice(0, cut);
        pending = pending.slice(cut);
        return this.text(out);
      },
      end: (): string => {
        const out = this.text(pending);
        pending = '';
        return out;
      },
    };
  }
}
