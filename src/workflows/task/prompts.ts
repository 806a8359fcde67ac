/**
 * What a task's agent is told beyond its own prompt: steering messages, a resume after `pause
 * --now`, a retry, a failed gate, a rate-limit wait. Pure. With a `session` the agent remembers the
 * task, so the note is enough; without one (a fresh session) the task's prompt is restated first.
 */
import type { TaskSpec } from '../../mission/types';

/** The nudge that continues a session after a rate-limit wait. */
export const RATE_LIMIT_RESUME_PROMPT = 'You were interrupted by a rate limit. Continue the task where you stopped.';

/** The prompt that delivers steering messages to a resumed session (or restates the task without one). */
export function steerPrompt(task: TaskSpec, messages: string[], session: boolean): string {
  const body = messages.length === 1 ? messages[0] : messages.map((m, i) => `${i + 1}. ${m}`).join('\n');
  const note = `A message from the user about this task:\n\n${body}\n\nTake it into account and continue the task.`;
  return session ? note : `${task.prompt}\n\n---\nYour earlier work on this task is in the worktree. ${note}`;
}

/** The prompt after `pause --now` and `resume`. */
export function resumePrompt(task: TaskSpec, session: boolean): string {
  const note = 'You were paused by the user; your work so far is in the worktree. Continue the task where you stopped.';
  return session ? note : `${task.prompt}\n\n---\n${note}`;
}

/** The first prompt of a task `flotilla retry` runs again. */
export function retryPrompt(task: TaskSpec, error: string | null, session: boolean): string {
  const note = [
    `This task ran before and ended without success${error ? `: ${error}` : ''}.`,
    'The user asked to run it again. The worktree and the task branch hold the earlier work (see git status and git log);',
    'continue the task and do not redo what is already done.',
  ].join(' ');
  return session ? note : `${task.prompt}\n\n---\n${note}`;
}

export function gatePrompt(
  task: TaskSpec,
  command: string,
  exitCode: number | null,
  tail: string,
  iteration: number,
): string {
  return [
    `Your work on task "${task.title}" (${task.id}) is committed, but its verification failed.`,
    `Command: ${command}`,
    `Exit code: ${exitCode ?? 'killed (timeout)'}`,
    'Output (last lines):',
    tail.trim(),
    '',
    `Fix the problem in this worktree so that the command passes. This is iteration ${iteration} of ${task.maxIterations}.`,
  ].join('\n');
}

/**
 * The first prompt of a task the merge queue sends back to its agent (`onVerifyFailure: fix`):
 * the mission verify failed with the task's branch merged, and bisection named this task.
 */
export function fixPrompt(
  task: TaskSpec,
  fix: { command: string; exitCode: number | null; outputTail: string },
  round: number,
  session: boolean,
): string {
  const note = [
    `Your work on task "${task.title}" (${task.id}) was merged into a candidate of the integration branch, and the mission's verification failed there;`,
    'bisecting the merge batch found that your merge is the one that breaks it.',
    'Your branch now holds that candidate (the integration branch with your work merged), so you can run the command yourself.',
    `Command: ${fix.command}`,
    `Exit code: ${fix.exitCode ?? 'killed (timeout)'}`,
    'Output (last lines):',
    fix.outputTail.trim(),
    '',
    `Fix it in this worktree without undoing the other tasks' work. This is fix ${round} of at most ${task.maxIterations}.`,
  ].join('\n');
  return session ? note : `${task.prompt}\n\n---\n${note}`;
}
