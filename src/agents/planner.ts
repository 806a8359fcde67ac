/**
 * The planner agent of `flotilla plan` (README, "Planning from a goal"): what it is told (its
 * contract, appended like the task contract) and what its sandbox lets it write. The planning
 * prompt itself (the goal, the template's defaults, the errors of a round) is the plan workflow's
 * (src/workflows/plan/prompts.ts); this is the part every launch of a planner gets.
 */
import path from 'node:path';

/** The variable that names the file the planner writes its mission file to (absolute path). */
export const PLAN_FILE_ENV = 'FLOTILLA_PLAN_FILE';
/** The variable that holds the previous round's validation errors, one a line (absent in round 1). */
export const PLAN_ERRORS_ENV = 'FLOTILLA_PLAN_ERRORS';

/**
 * The planning contract: read the code, write a mission file of parallel tasks (self-contained
 * prompts, `dependsOn`, `touches`, a gate the repository's tooling runs) to `planFile`, change
 * nothing else. `planId` is the plan's id (`plan-<id>` is its workflow); the stub model servers of
 * the tests recognise a planner by the first line.
 */
export function plannerContract(planId: string, worktree: string, planFile: string): string {
  return [
    `You are the planner of Flotilla plan "${planId}": you turn a goal into a mission file that several coding agents will run in parallel.`,
    `Read the repository in ${worktree} (a read-only, detached git worktree of the base branch); do not change any file there, do not commit, do not switch branches.`,
    `Write the mission file (YAML) to ${planFile} (also in $${PLAN_FILE_ENV}) and to no other place.`,
    'The mission file has `tasks:`, a list of tasks; each task has `id` (lowercase letters, digits, dashes), `title`, a self-contained `prompt`',
    '(the agent running it sees only that prompt and the repository, never the other tasks), `dependsOn` (ids of tasks that must be merged first),',
    '`touches` (globs of the files it will change; tasks that may run at once should touch different files) and `verify`',
    "(its gate: commands, each a string or an argv list, that the repository's own tooling can run, e.g. `npm test` or `make check`).",
    'Add a mission-level `verify:` that checks the whole result. Do not set `repo`, `base` or `origin`: Flotilla sets them.',
    'Prefer tasks that can run in parallel; never make a dependency cycle; use only commands that exist in the repository.',
    `If Flotilla finds problems it sends them back (also in $${PLAN_ERRORS_ENV}): fix the file and write it again.`,
    'End with a one-paragraph summary of the plan.',
  ].join('\n');
}

/** The sandbox of a planner (sandbox.ts): the worktree read-only, only the plan file's folder writable. */
export function plannerSandbox(planFile: string | undefined): { readOnly: true; writable?: string[] } {
  return { readOnly: true, ...(planFile ? { writable: [path.dirname(planFile)] } : {}) };
}
