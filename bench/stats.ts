/** Small statistics for the benchmark: percentiles and min/median/max of repeated runs. */

/** The `p`-th percentile (0-100) of `values`, nearest rank; NaN for none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** p50 and p95 of `values` (and how many), rounded to `digits` decimals. */
export function p50p95(values: number[], digits = 2): { n: number; p50: number; p95: number } {
  return { n: values.length, p50: round(percentile(values, 50), digits), p95: round(percentile(values, 95), digits) };
}

/** Minimum, median and maximum of repeated measurements of one figure. */
export interface Spread {
  min: number;
  median: number;
  max: number;
}

/** The spread of `values` rounded to `digits` decimals; null when there are none. */
export function spread(values: number[], digits = 2): Spread | null {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return null;
  return {
    min: round(Math.min(...finite), digits),
    median: round(percentile(finite, 50), digits),
    max: round(Math.max(...finite), digits),
  };
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** "1.2 (1.1-1.4)": a spread as text. */
export function showSpread(s: Spread | null, unit = ''): string {
  if (!s) return '-';
  return s.min === s.max ? `${s.median}${unit}` : `${s.median}${unit} (${s.min}-${s.max})`;
}
