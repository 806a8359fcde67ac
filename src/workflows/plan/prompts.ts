/**
 * What the plan workflow tells its planner, round by round: the planning prompt (the goal and
 * what Flotilla adds to the plan) and the follow-up prompt with the problems Flotilla found. The
 * planning contract every launch gets is src/agents/planner.ts's.
 */
import type { PlanInput } from './types';

/** The first round's prompt, restated by a continuation prompt after a crash. */
export function planningPrompt(input: PlanInput): string {
  const fixed = Object.keys(input.defaults);
  return [
    'Plan this goal as a Flotilla mission file:',
    '',
    input.goal.trim(),
    '',
    `The repository is checked out at the tip of branch ${input.base}.`,
    fixed.length
      ? `Flotilla adds these fields from the project's template, which win over yours: ${fixed.join(', ')}.`
      : 'Flotilla adds repo and base itself.',
    'Write the mission file to the path in $FLOTILLA_PLAN_FILE.',
  ].join('\n');
}

/** The prompt of the next round: the problems found in the plan, to be fixed in the same file. */
export function followUpPrompt(round: number, problems: string[]): string {
  return [
    `Flotilla checked the plan you wrote (round ${round}) and found ${problems.length} problem${problems.length === 1 ? '' : 's'}:`,
    ...problems.map((p) => `- ${p}`),
    '',
    'Fix the plan and write the whole mission file again to the path in $FLOTILLA_PLAN_FILE.',
  ].join('\n');
}

/** The Web UI's current details of a plan: its round, its step, its problems and the plan itself. */
export function planDetails(
  input: PlanInput,
  now: { round: number; maxRounds: number; step: string; problems: string[]; yaml: string | null; costUsd: number },
): string {
  return [
    `**plan ${input.id}** on ${input.base} · round ${now.round}/${now.maxRounds} · ${now.step} · $${now.costUsd.toFixed(2)}`,
    ...(now.problems.length ? ['', '**problems found**', ...now.problems.map((p) => `- ${p}`)] : []),
    ...(now.yaml ? ['', '**plan**', '```yaml', now.yaml.trimEnd(), '```'] : []),
  ].join('\n');
}
