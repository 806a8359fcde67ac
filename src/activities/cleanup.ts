/**
 * The `removeTaskWorktree` activity: a merged task's worktree removed when nothing in it can be
 * lost (src/git/cleanup.ts).
 */
import { removeTaskWorktree } from '../git/cleanup';
import type { RemoveTaskWorktreeInput, RemoveTaskWorktreeResult } from '../git/merge-queue-types';
import { heartbeating } from './checks';
import type { ActivityConfig } from './config';
import { adapted } from './host-failures';

/** The `removeTaskWorktree` activity, bound to the worker's `$FLOTILLA_HOME`. */
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
  });
}
