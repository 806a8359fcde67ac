/**
 * The `landMission` activity: a mission's `land:` field, run on the host that holds its
 * repository. The landing itself is src/git/land.ts (the CLI's `flotilla land` runs the same code).
 */
import { landMission } from '../git/land';
import type { LandMissionInput, LandResult } from '../git/land-types';
import { commandOptions, heartbeating } from './checks';
import type { ActivityConfig } from './config';
import { adapted } from './host-failures';

/** The `landMission` activity, bound to the worker's `$FLOTILLA_HOME`. */
export function createLandActivities(config: ActivityConfig) {
  return adapted({
    /**
     * Lands a mission that ended (its `land:` field): see `landMission` in src/git/land.ts. A
     * landing a person must act on is a result (`needs-human`, `failed`), not an error. Runs on
     * the host's queue; heartbeats every 5 s (with `{ command }` while a verify command runs);
     * cancellation kills the running command.
     * @throws GitError when git fails unexpectedly (retryable: a retry that finds the mission
     *   landed reports `alreadyLanded`)
     */
    async landMission(input: LandMissionInput): Promise<LandResult> {
      return heartbeating((beat) => landMission(input, { home: config.home, ...commandOptions(beat) }));
    },
  });
}
