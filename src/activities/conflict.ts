/**
 * The activities of `onMergeConflict: resolve` (src/git/conflict.ts and conflict-check.ts do the
 * git): `prepareConflict` sets the conflicting merge up in a worktree of its own for the resolver
 * agent, `checkResolution` checks what it did without trusting it, `commitResolution` commits and
 * publishes it, `dropConflict` gives up on it. Each heartbeats every 5 s (also while the
 * repository lock is waited for); run them with a heartbeat timeout of about 30 s.
 */
import { checkResolution } from '../git/conflict-check';
import { commitResolution, dropConflict, prepareConflict } from '../git/conflict';
import type {
  CheckResolutionInput,
  CheckResolutionResult,
  CommitResolutionInput,
  CommitResolutionResult,
  DropConflictInput,
  PrepareConflictInput,
  PrepareConflictResult,
} from '../git/merge-queue-types';
import { commandOptions, heartbeating } from './checks';
import type { ActivityConfig } from './config';
import { adapted } from './host-failures';

/**
 * The `prepareConflict` activity: the merge set up in `<task worktree>.conflict` (see
 * `prepareConflict` in src/git/conflict.ts), `{ command }` heartbeated while a setup command runs,
 * cancellation killing it.
 * @throws retryable `SetupFailed` (its output redacted); Error when the task branch is missing,
 *   already contained in `onto`, or git fails
 */
function prepareConflictActivity(config: ActivityConfig, input: PrepareConflictInput): Promise<PrepareConflictResult> {
  return heartbeating((beat) => prepareConflict(config.home, input, commandOptions(beat)));
}

/**
 * The `checkResolution` activity: no conflict markers left, nothing outside the conflicted files
 * changed, each side's additions kept (see `checkResolution` in src/git/conflict-check.ts).
 * @returns `ok` and each problem in words a resolver can act on
 * @throws Error when the worktree is gone or git fails
 */
function checkResolutionActivity(input: CheckResolutionInput): Promise<CheckResolutionResult> {
  return heartbeating(() => checkResolution(input));
}

/**
 * The `commitResolution` activity: the checked resolution committed as the merge, published by
 * compare-and-swap, the conflict worktree removed (see `commitResolution` in src/git/conflict.ts).
 * @throws non-retryable `CandidateMoved`, `WorktreeState`, `WorktreeLost`
 */
function commitResolutionActivity(input: CommitResolutionInput): Promise<CommitResolutionResult> {
  return heartbeating(() => commitResolution(input));
}

/**
 * The `dropConflict` activity: the merge aborted and the conflict worktree removed; idempotent.
 * @throws non-retryable `WorktreeState` when `worktree` is not a conflict worktree path
 */
function dropConflictActivity(input: DropConflictInput): Promise<void> {
  return heartbeating(() => dropConflict(input));
}

/**
 * The `prepareConflict`, `checkResolution`, `commitResolution` and `dropConflict` activities,
 * bound to the worker's `$FLOTILLA_HOME`.
 */
export function createConflictActivities(config: ActivityConfig) {
  return adapted({
    prepareConflict: (input: PrepareConflictInput) => prepareConflictActivity(config, input),
    checkResolution: checkResolutionActivity,
    commitResolution: commitResolutionActivity,
    dropConflict: dropConflictActivity,
  });
}
