/**
 * What activities need from their worker: where `$FLOTILLA_HOME` is and the worker-specific task
 * queue. Passed to `createActivities` so tests can point them at temp dirs.
 */
import path from 'node:path';
import { resolverDir, runDir } from '../agents/paths';
import type { AgentSlots } from './agent-slots';

export interface ActivityConfig {
  /** `$FLOTILLA_HOME`: worktrees, transcripts, logs. */
  home: string;
  /** The task queue only this host's workers poll (git and agents run where the repo is). */
  hostQueue: string;
  /** The worker's agent cap and drain (`flotilla worker --agents`, SIGTERM); default: no cap, never drained. */
  agents?: AgentSlots;
}

export const paths = {
  worktreesRoot: (home: string, missionId: string, runKey: string): string =>
    path.join(home, 'worktrees', missionId, runKey),
  /** A task's agent files and worktree notes: `runs/<missionId>/<taskId>` (src/agents/paths.ts). */
  runDir,
  /** The task's merge-conflict resolver's files (src/agents/paths.ts). */
  resolverDir,
};
