/**
 * One-line summaries of activities and timers (Temporal's user metadata `summary`), so a
 * workflow's event history and timeline in the Web UI read as a log: "claude · add-greeting ·
 * iteration 2, run 3 (resumes session 1a2b3c4d…)", "merge flotilla/x/tasks/y into …",
 * "rate-limit wait until 14:05:00 UTC". Deterministic in their arguments (workflow time only);
 * user text is cut so a summary stays one short line.
 */
import type { CommandLine } from '../mission/types';

/** Summaries are single lines; the Web UI truncates long ones anyway. */
const MAX_SUMMARY_CHARS = 200;

/** One line, at most {@link MAX_SUMMARY_CHARS}. */
export function line(text: string): string {
  const one = text.replace(/\s*\n\s*/g, ' ');
  return one.length > MAX_SUMMARY_CHARS ? `${one.slice(0, MAX_SUMMARY_CHARS - 1)}…` : one;
}

/** `` `npm test`, `npm run lint` `` (at most three, then how many more). */
export function commands(cmds: CommandLine[]): string {
  const shown = cmds.slice(0, 3).map((c) => `\`${Array.isArray(c) ? c.join(' ') : c}\``);
  return cmds.length > 3 ? `${shown.join(', ')} and ${cmds.length - 3} more` : shown.join(', ');
}

/** The first 8 hex digits of a SHA, or `?` before one is known. */
export const short = (sha: string | null | undefined): string => (sha ? sha.slice(0, 8) : '?');

/** `task-a, task-b and 3 more`. */
export function ids(xs: string[]): string {
  return xs.length > 4 ? `${xs.slice(0, 4).join(', ')} and ${xs.length - 4} more` : xs.join(', ');
}

/** An agent run of a task: runtime, task, gate iteration, run number, the session it resumes. */
export function agentRun(
  runtime: string,
  taskId: string,
  iteration: number,
  run: number,
  resume: string | null,
): string {
  return line(
    `${runtime} · ${taskId} · iteration ${iteration}, run ${run}${resume ? ` (resumes session ${resume.slice(0, 8)}…)` : ''}`,
  );
}

/** `rate-limit wait until 14:05:00 UTC` from the wait's end (epoch ms, workflow time). */
export function rateLimitWait(taskId: string, untilMs: number): string {
  return `rate-limit wait until ${new Date(untilMs).toISOString().slice(11, 19)} UTC · ${taskId}`;
}
