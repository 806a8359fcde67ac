/**
 * All activities, bound to one worker's configuration. Workflows import this module as a type
 * only (`import type * as activities`), never its code. Activity names are recorded in workflow
 * histories: never rename one (`checkpoint` is the task's commit, see commit.ts).
 */
import { createAgentActivities } from './agent';
import { createCheckpointActivities } from './checkpoint';
import { createChecksActivities } from './checks';
import { createCleanupActivities } from './cleanup';
import { createCommitActivities } from './commit';
import { createConflictActivities } from './conflict';
import type { ActivityConfig } from './config';
import { createHostActivities } from './host';
import { createLandActivities } from './land';
import { createNamespaceActivities } from './namespace';
import { createNotifyActivities } from './notify';
import { createPlanActivities } from './plan';
import { createPredictActivities } from './predict';
import { createMergeQueueActivities } from './merge-queue';
import { createSyncActivities } from './sync';
import { createWorktreeActivities } from './worktree';

export function createActivities(config: ActivityConfig) {
  return {
    ...createHostActivities(config),
    ...createWorktreeActivities(config),
    ...createAgentActivities(config),
    ...createCheckpointActivities(),
    ...createCommitActivities(),
    ...createConflictActivities(config),
    ...createChecksActivities(config),
    ...createSyncActivities(),
    // The merge queue: queueMerge(Batch), publishRef, verifyAt, removeTaskWorktree(s), predictConflicts.
    ...createMergeQueueActivities(config),
    ...createCleanupActivities(config),
    ...createPredictActivities(),
    ...createLandActivities(config),
    ...createNamespaceActivities(config),
    ...createNotifyActivities(),
    // `flotilla plan`: the planner's worktree and each round's check (its agent is runAgent's).
    ...createPlanActivities(config),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { ActivityConfig } from './config';
// The shapes the merge queue's activities take and return, for the workflows (as types only).
export type * from '../git/merge-queue-types';
