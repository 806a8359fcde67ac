/**
 * What the task's and the mission's activities carry that the report reads (every field optional:
 * a payload of another shape reads as empty), and the short texts the report makes of them.
 * The shapes are the activities' own (src/activities: `runAgent`'s input and result, `runChecks`'s
 * and `verifyAt`'s result); only the fields the report shows are named here.
 */

/** `runAgent`'s input, as far as the report reads it. */
export interface AgentInput {
  taskId?: string;
  iteration?: number;
  role?: 'task' | 'resolver';
  resumeSessionId?: string | null;
}

/** `runAgent`'s result (or a failure's or cancellation's details), as far as the report reads it. */
export interface AgentOutput {
  attempt?: number;
  /** USD, when the agent reported it. */
  costUsd?: number;
  inputTokens?: number;
  outputTokens?: number;
  turns?: number;
  summary?: string;
  exitCode?: number;
}

/** `runChecks`'s and `verifyAt`'s result: whether the commands passed, and the first that failed. */
export interface Checks {
  ok?: boolean;
  failed?: { command: string; exitCode: number | null; outputTail: string; timedOut?: boolean } | null;
}

/** ` · $0.1234` for a cost in USD; empty for none (0 or unknown). */
export const money = (usd: number | undefined): string => (usd ? ` · $${usd.toFixed(4)}` : '');

/** The last `lines` lines of an output, trailing whitespace trimmed; null when empty. */
export const tail = (text: string | undefined, lines = 12): string | null => {
  const t = (text ?? '').trimEnd();
  return t ? t.split('\n').slice(-lines).join('\n') : null;
};

/** Which command of a check failed and how: `` `npm test` failed (exit 1) ``; `failed` when unknown. */
export const checksFailure = (c: Checks | undefined): string =>
  c?.failed ? `\`${c.failed.command}\` failed (exit ${c.failed.exitCode ?? 'timeout'})` : 'failed';

/** A text's first line, at most 300 characters (for a failure's one-line message). */
export function firstLine(text: string): string {
  return text.split('\n')[0].slice(0, 300);
}
