/** The `predictConflicts` activity: live conflict prediction for the merge queue (src/git/predict.ts). */
import { predictConflicts } from '../git/predict';
import type { PredictConflictsInput, PredictConflictsResult } from '../git/merge-queue-types';
import { heartbeating } from './checks';
import { adapted } from './host-failures';

/** The `predictConflicts` activity. */
export function createPredictActivities() {
  return adapted({
    /**
     * Live conflict prediction (`predictConflicts` in src/git/predict.ts): `{conflicts, waitFor}`.
     * Read-only. Heartbeats every 5 s and after every merge-tree and diff.
     * @throws non-retryable `GitTooOld`; GitError when git fails
     */
    async predictConflicts(input: PredictConflictsInput): Promise<PredictConflictsResult> {
      return heartbeating((beat) => predictConflicts(input, () => beat()));
    },
  });
}
