/**
 * Waiting in tests: poll a condition instead of sleeping a fixed time. One implementation for
 * every suite (unit, integration, e2e, faults, cluster).
 */

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `pred` every `intervalMs` (default 200 ms) until it returns a truthy value, and resolves
 * with that value. A `pred` that throws counts as "not yet". After `timeoutMs` (default 60 000 ms)
 * throws an Error naming `what` and the last error `pred` threw.
 */
export async function until<T>(
  what: string,
  pred: () => T | Promise<T>,
  timeoutMs = 60_000,
  intervalMs = 200,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await pred();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`,
      );
    await sleep(intervalMs);
  }
}
