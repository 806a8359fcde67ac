/**
 * Failure patterns shared by the agent runtimes. Sources: the Anthropic API's error types
 * (`authentication_error`, `rate_limit_error`, `overloaded_error`; HTTP 401/429/529), Claude
 * Code's messages ("Invalid API key", "Please run /login", "OAuth token has expired", "usage
 * limit reached|<epoch seconds>"), the OpenAI API's (401 `invalid_api_key`, 429
 * `rate_limit_exceeded`, "Please try again in 20s").
 */
import type { FailureClass } from './types';

const AUTH = [
  /\b401\b/,
  /authentication_error/i,
  /invalid[ _-]?(x-)?api[ _-]?key/i,
  /incorrect api key/i,
  /please run \/login/i,
  /\blogin required\b/i,
  /not logged in/i,
  /oauth token (has )?expired/i,
  /unauthorized/i,
];
const RATE = [/\b429\b/, /\b529\b/, /rate[_ ]limit/i, /overloaded/i, /usage limit/i, /too many requests/i, /quota/i];

/** Milliseconds to wait, from the texts an agent printed, or undefined when none was given. */
export function retryDelayFrom(text: string, now = Date.now()): number | undefined {
  // Claude Code: "Claude AI usage limit reached|1735689600" (reset time, epoch seconds).
  const epoch = /usage limit reached\|(\d{9,11})/i.exec(text);
  if (epoch) return Math.max(0, Number(epoch[1]) * 1000 - now);
  const header = /retry[- ]after["':= ]+(\d+(?:\.\d+)?)/i.exec(text);
  if (header) return Math.round(Number(header[1]) * 1000);
  const tryIn = /try again in (\d+(?:\.\d+)?)\s*(ms|s|sec|seconds|m|min|minutes)?\b/i.exec(text);
  if (tryIn) {
    const unit = (tryIn[2] ?? 's').toLowerCase();
    const factor = unit === 'ms' ? 1 : unit.startsWith('m') && unit !== 'ms' ? 60_000 : 1000;
    return Math.round(Number(tryIn[1]) * factor);
  }
  return undefined;
}

/** Classifies failure texts; `sessionMissing` matches a runtime's "no such session" message. */
export function classifyText(texts: string[], sessionMissing?: RegExp): FailureClass {
  const all = texts.filter(Boolean).join('\n');
  const message = lastMeaningful(texts) ?? 'agent failed';
  if (sessionMissing?.test(all)) return { kind: 'session_not_found', message };
  if (AUTH.some((re) => re.test(all))) return { kind: 'auth', message };
  if (RATE.some((re) => re.test(all))) return { kind: 'rate_limit', message, retryAfterMs: retryDelayFrom(all) };
  return { kind: 'other', message };
}

function lastMeaningful(texts: string[]): string | undefined {
  for (let i = texts.length - 1; i >= 0; i--) {
    const t = texts[i]?.trim();
    if (t) return t.split('\n').filter(Boolean).slice(-3).join(' | ').slice(0, 600);
  }
  return undefined;
}
