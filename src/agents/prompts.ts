/**
 * What an agent is told when an attempt continues interrupted work: the continuation prompt
 * restates the task and says what the worktree already holds, so a resumed (or fresh) session does
 * not redo finished work. What the worktree holds is read by the caller (git), the text is here.
 */
import type { AgentRole } from './paths';

/** The task's prompts, as `runAgent` gets them. */
export interface TaskPrompts {
  /** The task as given. */
  taskPrompt: string;
  /** The instruction of this activity: the task's prompt, the gate's failures or a steering message. */
  prompt: string;
  /** `resolver`: the agent resolves a merge conflict (RunAgentInput.role); its prompt says so. */
  role?: AgentRole;
}

/** Why an attempt continues earlier work, as the continuation prompt says it. */
export type Interruption = 'worktree-rebuilt' | 'stopped' | 'failed' | 'session-lost';

const WHY: Record<Interruption, string> = {
  'worktree-rebuilt':
    'its worktree was deleted; Flotilla rebuilt it from the task branch and your latest checkpoint, so changes made after that checkpoint may be missing',
  stopped: 'the worker or the agent stopped before it finished',
  failed: 'it failed',
  'session-lost': 'its session could not be resumed',
};

/**
 * Why a retried attempt (attempt > 1) continues: its worktree was rebuilt (by this attempt or the
 * one before), the previous attempt heartbeat (it was running: a worker or agent stop), or it failed.
 */
export function interruptionOf(rebuilt: boolean, previousHeartbeat: boolean): Interruption {
  if (rebuilt) return 'worktree-rebuilt';
  return previousHeartbeat ? 'stopped' : 'failed';
}

/**
 * The prompt of an attempt that continues interrupted work; `state` says what the worktree holds
 * (src/activities/agent-worktree.ts: `worktreeSummary` for a task, `mergeSummary` for a resolver).
 */
export function continuationPrompt(task: TaskPrompts, why: Interruption, state: string): string {
  const what = task.role === 'resolver' ? 'merge resolution' : task.role === 'planner' ? 'plan' : 'task';
  return [
    `Your previous run on this ${what} was interrupted (${WHY[why]}). Continue the ${what}; do not redo work that is already done.`,
    '',
    state,
    '',
    `The ${what}, as given:`,
    task.taskPrompt,
    ...(task.prompt !== task.taskPrompt ? ['', 'The latest instruction you were working on:', task.prompt] : []),
  ].join('\n');
}
