/**
 * The `snapshot` activity: a WIP checkpoint of a task's worktree (src/git/checkpoint.ts), kept
 * after a failure or a cancellation.
 */
import { snapshotTask, SnapshotActivityResult, SnapshotInput } from '../git/checkpoint';
import { heartbeating } from './checks';
import { adapted } from './host-failures';

export type { SnapshotActivityResult, SnapshotInput } from '../git/checkpoint';

/** The `snapshot` activity. */
export function createCheckpointActivities() {
  return adapted({
    /**
     * Records the worktree's full state under `refs/flotilla/checkpoints/<missionId>/<taskId>`
     * without committing on the task branch (see `snapshotTask` in src/git/checkpoint.ts).
     * Idempotent (an unchanged worktree makes no new commit). Heartbeats every 5 s.
     * @returns the latest snapshot; `worktreeGone` when the worktree no longer exists
     * @throws Error (retryable) when git fails for another reason
     */
    async snapshot(input: SnapshotInput): Promise<SnapshotActivityResult> {
      return heartbeating(() => snapshotTask(input));
    },
  });
}
