/**
 * What activities need from their worker: where `$FLOTILLA_HOME` is and the worker-specific task
 * queue. Passed to `createActivities` so tests can point them at temp dirs.
 */
import type { AgentSlots } from './agent-slots';

export interface ActivityConfig {
  /** `$FLOTILLA_HOME`: worktrees, transcripts, logs. */
  home: string;
  /** The task queue only this host's workers poll (git and agents run where the repo is). */
  hostQueue: string;
  /** The worker's agent cap and drain (`flotilla worker --agents`, SIGTERM); default: no cap, never drained. */
  agents?: AgentSlots;
}
