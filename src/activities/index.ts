/**
 * All activities, bound to one worker's configuration. Workflows import this module as a type
 * only (`import type * as activities`), never its code. Activity names are recorded in workflow
 * histories: never rename one (`checkpoint` is the task's commit, see commit.ts).
 */
import { createAgentActivities } from './agent';
import { createCheckpointActivities } from './checkpoint';
import { createChecksActivities } from './checks';
import { createCommitActivities } from './commit';
import { createConflictActivities } from './conflict';
import type { ActivityConfig } from './config';
import { createHostActivities } from './host';
import { createMergeActivities } from './merge';
import { createWorktreeActivities } from './worktree';

export function createActivities(config: ActivityConfig) {
  return {
    ...createHostActivities(config),
    ...createWorktreeActivities(config),
    ...createAgentActivities(config),
    ...createCheckpointActivities(),
    ...createCommitActivities(),
    ...createMergeActivities(),
    ...createConflictActivities(config),
    ...createChecksActivities(),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { ActivityConfig } from './config';
