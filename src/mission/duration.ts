/**
 * Durations as written in mission files: `500ms`, `30s`, `10m`, `2h`, `1d`, or combinations such
 * as `1h30m`. Returns milliseconds, or `undefined` when the text is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(trimmed)) return undefined;
  const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  for (const m of trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) {
    total += Number(m[1]) * unitMs[m[2]];
  }
  return Math.round(total);
}

/** Formats milliseconds for people: `1h 2m`, `45s`, `850ms`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

/**
 * How long a mission, a task or a conflict's resolution took, ms: wall time from its first start
 * (`startedAt`, ISO-8601) to its end (`endedAt`), or to `now` (epoch ms) while it goes on. Pauses,
 * blocks, waits for a merge or a person, and retries all count: it is not the time agents worked.
 * Null before it started. The one definition every view uses (`status`, `run`/`watch`, the Web
 * UI's details, the report), so they agree.
 */
export function wallTimeMs(
  startedAt: string | null | undefined,
  endedAt: string | null | undefined,
  now: number,
): number | null {
  if (!startedAt) return null;
  return Math.max(0, (endedAt ? Date.parse(endedAt) : now) - Date.parse(startedAt));
}
