/**
 * The `removeTaskWorktree` and `removeTaskWorktrees` activities: merged tasks' worktrees removed
 * when nothing in them can be lost (src/git/cleanup.ts).
 */
import { removeTaskWorktree, removeTaskWorktrees } from '../git/cleanup';
import type {
  RemoveTaskWorktreeInput,
  RemoveTaskWorktreeResult,
  RemoveTaskWorktreesInput,
} from '../git/merge-queue-types';
import { heartbeating } from './checks';
import type { ActivityConfig } from './config';
import { adapted } from './host-failures';

/** The `removeTaskWorktree(s)` activities, bound to the worker's `$FLOTILLA_HOME`. */
export function createCleanupActivities(config: ActivityConfig) {
  return adapted({
    /**
     * Removes a merged task's worktree when nothing in it can be lost (`removeTaskWorktree` in
     * src/git/cleanup.ts): `{removed: true, kept: null}` (also when it was already gone), or
     * `{removed: false, kept}` with the reason and the first few paths. Heartbeats every 5 s
     * (also while it waits for the repository lock; deleting a large node_modules may take a
     * while). With `origin`, in this host's clone of it.
     * @throws GitError when git fails
     */
    async removeTaskWorktree(input: RemoveTaskWorktreeInput): Promise<RemoveTaskWorktreeResult> {
      return heartbeating(() => removeTaskWorktree(config.home, input));
    },

    /**
     * A batch's merged worktrees in one activity (`removeTaskWorktrees` in src/git/cleanup.ts):
     * each task's result in order; every task is tried, the first error thrown after (Temporal
     * retries the whole call; a worktree already removed is `{removed: true}` again). Heartbeats
     * every 5 s.
     * @throws GitError when git fails for one of them
     */
    async removeTaskWorktrees(input: RemoveTaskWorktreesInput): Promise<RemoveTaskWorktreeResult[]> {
      return heartbeating(() => removeTaskWorktrees(config.home, input));
    },
  });
}
