/**
 * What an agent is told when an attempt continues interrupted work: the continuation prompt
 * restates the task and says what the worktree already holds, so a resumed (or fresh) session does
 * not redo finished work.
 */
import { git } from './git';

/** The task's prompts, as `runAgent` gets them. */
export interface TaskPrompts {
  /** The task as given. */
  taskPrompt: string;
  /** The instruction of this activity: the task's prompt, the gate's failures or a steering message. */
  prompt: string;
  /** `resolver`: the agent resolves a merge conflict (RunAgentInput.role); its prompt says so. */
  role?: 'task' | 'resolver';
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
 * What the worktree holds against the task's base (`git diff --stat base...HEAD` and
 * `git status --short`, at most 40 lines), for the continuation prompt. Never throws.
 */
export async function worktreeSummary(worktree: string, baseSha: string): Promise<string> {
  try {
    const committed = (await git(worktree, ['diff', '--stat', `${baseSha}...HEAD`])).trim();
    const pending = (await git(worktree, ['status', '--short'])).trim();
    return [
      committed
        ? `Committed on the task branch since it started:\n${committed}`
        : 'Nothing is committed on the task branch yet.',
      pending
        ? `Uncommitted changes in the worktree:\n${pending.split('\n').slice(0, 40).join('\n')}`
        : 'No uncommitted changes.',
    ].join('\n');
  } catch {
    return '(the worktree state could not be read)';
  }
}

/**
 * What a conflict worktree holds for a resolver's continuation prompt: `git status --short` (at
 * most 40 lines; `UU` = still unmerged, `M` = staged). Never throws.
 */
export async function mergeSummary(worktree: string): Promise<string> {
  try {
    const status = (await git(worktree, ['status', '--short', '--untracked-files=all'])).trim();
    return status
      ? `The merge in progress, as \`git status --short\` shows it now:\n${status.split('\n').slice(0, 40).join('\n')}`
      : 'git status shows no changes: the merge is no longer in progress.';
  } catch {
    return '(the worktree state could not be read)';
  }
}

/**
 * The prompt of an attempt that continues interrupted work; `state` from {@link worktreeSummary}
 * (a task) or {@link mergeSummary} (a resolver).
 */
export function continuationPrompt(task: TaskPrompts, why: Interruption, state: string): string {
  const what = task.role === 'resolver' ? 'merge resolution' : 'task';
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
