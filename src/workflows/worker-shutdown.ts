/**
 * A worker that shuts down (Ctrl-C on `flotilla run`, a drained `flotilla worker`) is no task's
 * failure. The activity it was running fails with `WorkerShutdown`: sdk-core's failure for an
 * activity that did not finish within the worker's shutdown grace time (retryable), and the type
 * the agent activity gives its own attempts stopped by a drain (src/activities/agent-slots.ts).
 * The task's activities run again on the next worker of their queue, without counting it as an
 * attempt, up to {@link MAX_WORKER_SHUTDOWNS} times per activity call.
 */
import { CancellationScope, isCancellation } from '@temporalio/workflow';
import { ErrorType } from '../mission/error-types';
import { failureDetails } from '../mission/failures';

/** How often one activity call of a task may lose its worker before that is the task's failure. */
export const MAX_WORKER_SHUTDOWNS = 20;

/**
 * Whether `err` says the activity's worker shut down rather than that the task was stopped: a
 * `WorkerShutdown` failure, or a cancellation while the calling scope was not cancelled (the SDK
 * cancels running activities when its worker shuts down).
 */
export function workerStopped(err: unknown): boolean {
  return (
    failureDetails(err).type === ErrorType.WorkerShutdown ||
    (isCancellation(err) && !CancellationScope.current().consideredCancelled)
  );
}

/**
 * Calls `call` (one activity) again whenever it failed only because its worker shut down: a new
 * activity, with all of its attempts, at most {@link MAX_WORKER_SHUTDOWNS} times. Its retry policy
 * must make `WorkerShutdown` non-retryable (src/workflows/activities.ts), so that a shutdown uses
 * up none of the attempts its real failures get.
 */
export async function despiteShutdowns<T>(call: () => Promise<T>): Promise<T> {
  for (let shutdowns = 0; ;) {
    try {
      return await call();
    } catch (err) {
      if (!workerStopped(err) || ++shutdowns > MAX_WORKER_SHUTDOWNS) throw err;
    }
  }
}
