/**
 * The one secret rule: which of the worker's environment variables are secrets. Every value of a
 * secret is redacted from everything Flotilla writes (Temporal history through the worker's
 * redaction boundary, src/worker/redaction.ts; transcripts, command logs and the report through
 * {@link secretRedactor}). A variable is a secret when:
 * - its name ends in `_API_KEY`, `_TOKEN` or `_SECRET`, or contains `PASSWORD` (any case);
 * - it is one of the agent runtimes' credential variables ({@link CREDENTIAL_VARIABLES});
 * - it is one of the worker's Temporal credentials ({@link TEMPORAL_CREDENTIAL});
 * - a mission names it (`agent.env`, `resolver.env`, `env:`): the activities that pass it to a
 *   process learn it from their input ({@link namesListedIn}, {@link learnSecretNames}), unless
 *   it is one of the {@link BASELINE_ENV} or a `FLOTILLA_*` setting.
 */
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { Redactor } from './redact';

/**
 * Credential variables the agent CLIs read that the name patterns miss (or that are worth naming):
 * Claude Code's (`ANTHROPIC_*`, Bedrock's AWS credentials, `ANTHROPIC_CUSTOM_HEADERS`, which may
 * carry an Authorization header), Codex CLI's (`OPENAI_API_KEY`, `CODEX_*`), GitHub's CLI, and
 * OpenTelemetry export headers. Read from the strings of the claude and codex binaries we ship.
 */
export const CREDENTIAL_VARIABLES: readonly string[] = [
  'ANTHROPIC_API_KEY',
  'ANTHROPIC_AUTH_TOKEN',
  'ANTHROPIC_CUSTOM_HEADERS',
  'ANTHROPIC_FOUNDRY_API_KEY',
  'CLAUDE_CODE_OAUTH_TOKEN',
  'CLAUDE_CODE_CLIENT_KEY_PASSPHRASE',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_BEARER_TOKEN_BEDROCK',
  'OPENAI_API_KEY',
  'CODEX_API_KEY',
  'CODEX_ACCESS_TOKEN',
  'CODEX_AUTH',
  'GH_TOKEN',
  'GITHUB_TOKEN',
  'OTEL_EXPORTER_OTLP_HEADERS',
];

/**
 * The worker's own Temporal credentials, as the Temporal CLI and `@temporalio/envconfig` name them:
 * the API key, the TLS client key (a path or the PEM itself), extra gRPC headers (which carry
 * tokens), the codec server's Authorization header. Other `TEMPORAL_*` settings (address,
 * namespace, certificates) are not secret; no `TEMPORAL_*` variable ever reaches an agent or a
 * command (src/agents/environment.ts).
 */
export const TEMPORAL_CREDENTIAL = /^TEMPORAL_(API_KEY|TLS_(CLIENT_)?KEY(_DATA|_PATH)?|GRPC_META_.+|CODEC_AUTH)$/;

/**
 * Variables every agent and command gets from the worker besides the ones the mission names
 * (src/agents/environment.ts). Never secrets, even when a mission lists one: their values
 * are parts of every path and command (redacting `HOME`'s would break them all).
 */
export const BASELINE_ENV: readonly string[] = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LC_ALL',
  'LC_CTYPE',
  'TZ',
  'TMPDIR',
  'TERM',
];

const SECRET_NAME = /(_API_KEY|_TOKEN|_SECRET)$|PASSWORD/i;
const BASELINE = new Set(BASELINE_ENV);
const CREDENTIALS = new Set(CREDENTIAL_VARIABLES);
/** An environment variable's name, as mission files write them. */
export const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** True when `name` is a secret by the rule alone (patterns, runtimes' credentials, Temporal's). */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name) || CREDENTIALS.has(name) || TEMPORAL_CREDENTIAL.test(name);
}

/** Names missions listed that this process has seen (the worker's life long: never forgotten). */
const learned = new Set<string>();

/**
 * Records `names` (variables a mission passes to a process) as secrets for this process's life;
 * {@link BASELINE_ENV} names and Flotilla's own `FLOTILLA_*` settings are not secrets by being
 * listed (a `FLOTILLA_*_TOKEN` still is, by the rule).
 */
export function learnSecretNames(names: Iterable<string>): void {
  for (const n of names) if (secretWhenListed(n)) learned.add(n);
}

/** Whether a mission listing `name` makes it a secret (see {@link learnSecretNames}). */
function secretWhenListed(name: string): boolean {
  return VARIABLE_NAME.test(name) && !BASELINE.has(name) && !name.startsWith('FLOTILLA_');
}

/**
 * Every secret's name: the variables of `env` that are secret by the rule, the names learned from
 * missions, and `extra` (names a mission lists, filtered as {@link learnSecretNames} does).
 */
export function secretNames(extra: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): string[] {
  return [...new Set([...Object.keys(env).filter(isSecretName), ...learned, ...extra.filter(secretWhenListed)])];
}

/** A Redactor of every secret's value (see {@link secretNames}); cheap, so made per use. */
export function secretRedactor(extra: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): Redactor {
  return new Redactor(secretNames(extra, env), env);
}

/** Keys under which activity inputs list the names of variables passed to processes. */
const LISTING_KEYS = new Set(['env', 'redact']);

/**
 * The variable names an activity's input lists anywhere in it: every array of names under a key
 * `env` (a mission's `env:`, an `agent.env`, ChecksInput.env) or `redact` (every secret name the
 * mission lists: `CommandNames` in src/workflows/mission-types.ts). Walks at most 8 levels deep.
 */
export function namesListedIn(value: unknown, depth = 0): string[] {
  if (depth > 8 || value === null || typeof value !== 'object') return [];
  if (Array.isArray(value)) return value.flatMap((v) => namesListedIn(v, depth + 1));
  const out: string[] = [];
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (LISTING_KEYS.has(key) && Array.isArray(v) && v.every((n) => typeof n === 'string' && VARIABLE_NAME.test(n)))
      out.push(...(v as string[]));
    else out.push(...namesListedIn(v, depth + 1));
  }
  return out;
}

/**
 * Makes `file` ready for output only its owner may read: the folders made on the way created mode
 * 0700 (an existing folder keeps its mode: it may be the user's), the file created (or changed
 * to) mode 0600. Returns `file`. For transcripts, command logs, the worker's log and the report.
 */
export function privateFile(file: string): string {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600);
  return file;
}

/** Creates `dir` (a folder of Flotilla's own, under FLOTILLA_HOME) or changes it to mode 0700. */
export function privateDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  return dir;
}
