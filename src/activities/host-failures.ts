/**
 * The activities' side of the host library's failures (src/git/failure.ts): each `HostFailure`
 * leaves an activity as the ApplicationFailure of the same message, type, retry policy, details
 * and cause, so workflows match on the same error types as ever; and host warnings go to the
 * activity's logger.
 */
import { ApplicationFailure, log } from '@temporalio/activity';
import { HostFailure } from '../git/failure';
import { setHostLog } from '../git/log';

setHostLog(log);

/** `err` as an activity throws it: a {@link HostFailure} as its ApplicationFailure, anything else as is. */
export function activityFailure(err: unknown): unknown {
  if (!(err instanceof HostFailure)) return err;
  const cause = activityFailure(err.cause);
  return ApplicationFailure.create({
    message: err.message,
    type: err.type,
    nonRetryable: err.nonRetryable,
    details: err.details,
    cause: cause instanceof Error ? cause : undefined,
  });
}

/**
 * `activities` with every function wrapped so that what it throws passes through
 * {@link activityFailure}. Each `create…Activities` factory returns its activities through it.
 */
export function adapted<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    out[name] = async (...args: never[]): Promise<unknown> => {
      try {
        return await fn(...args);
      } catch (err) {
        throw activityFailure(err);
      }
    };
  }
  return out as T;
}
