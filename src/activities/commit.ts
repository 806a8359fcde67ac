/**
 * The `checkpoint` activity: the task's commit on its branch (src/git/commit.ts). Not a WIP
 * checkpoint (that is the `snapshot` activity, checkpoint.ts).
 */
import { commitAndPublish, CommitTaskInput, CommitTaskResult } from '../git/commit';
import { heartbeating } from './checks';
import { adapted } from './host-failures';

export type { CheckpointInput, CheckpointResult, CommitTaskInput, CommitTaskResult } from '../git/commit';

/** The `checkpoint` activity (the task's commit). */
export function createCommitActivities() {
  return adapted({
    /**
     * Commits the task's work on its branch and pushes it to a shared origin (`commitAndPublish`
     * in src/git/commit.ts); heartbeats every 5 s.
     *
     * The name is historical: it is recorded in workflow histories and must stay. It does not take
     * a checkpoint (a WIP snapshot, the `snapshot` activity); it makes the task's commit.
     * @throws non-retryable `WorktreeState`, `CommitMissing` (see `commitTask`); GitError
     */
    async checkpoint(input: CommitTaskInput): Promise<CommitTaskResult> {
      return heartbeating(() => commitAndPublish(input));
    },
  });
}
