/**
 * The `prepareIntegration` and `prepareWorktree` activities: the mission's integration worktree
 * and one worktree per task, made (or found again) by src/git/worktree.ts. Here only the activity
 * part: heartbeats, cancellation of setup commands, error types.
 */
import {
  ensureTaskWorktree,
  prepareIntegration,
  PrepareIntegrationInput,
  PrepareIntegrationResult,
  PrepareWorktreeInput,
  PrepareWorktreeResult,
} from '../git/worktree';
import { commandOptions, heartbeating } from './checks';
import type { ActivityConfig } from './config';
import { adapted } from './host-failures';

export type {
  PrepareIntegrationInput,
  PrepareIntegrationResult,
  PrepareWorktreeInput,
  PrepareWorktreeResult,
} from '../git/worktree';

/** The `prepareIntegration` and `prepareWorktree` activities, bound to the worker's `$FLOTILLA_HOME`. */
export function createWorktreeActivities(config: ActivityConfig) {
  return adapted({
    /**
     * Records the base SHA (first call), creates the integration branch from it and its worktree
     * (detached), and provisions it: see `prepareIntegration` in src/git/worktree.ts.
     * Heartbeats every 5 s (with `{ command }` while a setup command runs).
     * @throws non-retryable `BaseMissing` when the base branch is gone, `BranchTaken` when the
     *   integration branch belongs to another mission run; retryable `SetupFailed`
     */
    async prepareIntegration(input: PrepareIntegrationInput): Promise<PrepareIntegrationResult> {
      return heartbeating((beat) => prepareIntegration(config.home, input, commandOptions(beat)));
    },

    /**
     * Creates (or reuses) the task's branch from `baseSha` and its worktree, copies the
     * mission's `copy` files that the worktree lacks, and runs `setup` once per worktree. A lost
     * worktree is rebuilt from the branch plus its latest checkpoint (see `ensureTaskWorktree` in
     * src/git/worktree.ts). Heartbeats every 5 s (with `{ command }` while a setup command runs).
     * @throws non-retryable `BranchTaken`; retryable `SetupFailed` when a setup command fails
     */
    async prepareWorktree(input: PrepareWorktreeInput): Promise<PrepareWorktreeResult> {
      return heartbeating((beat) => ensureTaskWorktree(config.home, input, commandOptions(beat)));
    },
  });
}
