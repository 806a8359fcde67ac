/**
 * The `syncTaskBranch` activity: a task's worktree brought up to a candidate commit of the merge
 * queue before its agent fixes a failed mission verify (src/git/sync.ts).
 */
import { syncTaskBranch, SyncTaskInput } from '../git/sync';
import { heartbeating } from './checks';
import { adapted } from './host-failures';

export type { SyncTaskInput } from '../git/sync';

/** The `syncTaskBranch` activity. */
export function createSyncActivities() {
  return adapted({
    /**
     * Fast-forwards the worktree's branch to `sha` (`syncTaskBranch` in src/git/sync.ts);
     * heartbeats every 5 s.
     * @returns the branch's new HEAD
     * @throws GitError when the fast-forward is refused (changes in the way, a branch that moved)
     */
    async syncTaskBranch(input: SyncTaskInput): Promise<{ headSha: string }> {
      return heartbeating(() => syncTaskBranch(input));
    },
  });
}
