/**
 * The merge queue's git activities: `queueMerge`, `queueMergeBatch`, `publishRef` and `verifyAt`
 * (src/git/merge-queue.ts and queue-batch.ts do the git). Here: heartbeats every 5 s (also while
 * the repository lock is waited for), cancellation of the verify commands, error types.
 */
import { publishRef, queueMerge, verifyAt } from '../git/merge-queue';
import { mergeBatch } from '../git/queue-batch';
import type {
  PublishInput,
  QueueMergeBatchInput,
  QueueMergeBatchResult,
  QueueMergeInput,
  QueueMergeResult,
  VerifyAtInput,
  VerifyAtResult,
} from '../git/merge-queue-types';
import { commandOptions, heartbeating } from './checks';
import type { ActivityConfig } from './config';
import { adapted } from './host-failures';

/** The `queueMerge`, `queueMergeBatch`, `publishRef` and `verifyAt` activities. */
export function createMergeQueueActivities(config?: Pick<ActivityConfig, 'home'>) {
  return adapted({
    /**
     * Merges task branch `branch` onto commit `onto` without a worktree and publishes the merge
     * to `ref` by compare-and-swap against `expected` (`queueMerge` in src/git/merge-queue.ts):
     * `{status: 'merged', …}` or `{status: 'conflict', files, withTasks, worktree, …}`.
     * @throws non-retryable `GitTooOld` (git < 2.38), `CandidateMoved` (`ref` holds something
     *   else than `expected`); Error when the task branch does not exist; GitError when git fails
     */
    async queueMerge(input: QueueMergeInput): Promise<QueueMergeResult> {
      return heartbeating(() => queueMerge(input));
    },

    /**
     * Merges a batch of task branches onto the candidate in one activity, up to the first conflict,
     * and moves the candidate (and with `publish`, the integration branch) once by compare-and-swap
     * (`mergeBatch` in src/git/queue-batch.ts).
     * @throws non-retryable `GitTooOld`, `CandidateMoved`; Error when a task branch does not exist;
     *   GitError when git fails
     */
    async queueMergeBatch(input: QueueMergeBatchInput): Promise<QueueMergeBatchResult> {
      return heartbeating(() => mergeBatch(input));
    },

    /**
     * Moves `input.ref` to `input.sha` by compare-and-swap against `input.expected`; a ref already
     * holding `sha` is success (`publishRef` in src/git/merge-queue.ts).
     * @throws non-retryable `CandidateMoved` when the ref holds something else; GitError
     */
    async publishRef(input: PublishInput): Promise<void> {
      await heartbeating(() => publishRef(input));
    },

    /**
     * Runs the mission verify on commit `input.sha` in the integration worktree (`verifyAt` in
     * src/git/merge-queue.ts); `{ command }` heartbeated every second while a command runs;
     * cancellation kills the running command's process group. A failing command is a result.
     * The commands run in the mission verify's runtime namespace (reserved under `$FLOTILLA_HOME`).
     * @throws GitError when the checkout fails (e.g. `sha` is not in the repository)
     */
    async verifyAt(input: VerifyAtInput): Promise<VerifyAtResult> {
      return heartbeating((beat) => verifyAt(input, { ...commandOptions(beat), home: config?.home }));
    },
  });
}
