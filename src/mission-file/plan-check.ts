/**
 * One round's check of a planner's plan (`flotilla plan`): the file the planner wrote, with the
 * template's defaults and the repository, base and id Flotilla sets, written as a mission file
 * and loaded by the same loader as `run` (schema, dependencies, cycles, `touches` overlaps, the
 * repository and base), then its commands checked against the repository (gate-commands.ts).
 * Reads the planner's file; writes only `missionFile`. Client and worker side (Node APIs).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import YAML from 'yaml';
import { MissionFileError, type MissionProblem } from './errors';
import { gateCommandProblems } from './gate-commands';
import { loadMission } from './load';
import { parseMissionText } from './parse';

export interface PlanCheckInput {
  /** What the planner wrote ($FLOTILLA_PLAN_FILE). */
  planFile: string;
  /** Where the complete mission file goes (the one that is checked and handed back). */
  missionFile: string;
  /** The repository (absolute) and base branch the plan is for. */
  repo: string;
  base: string;
  /** The mission id, unless the template sets one. */
  id: string;
  /** The template's fields (plan-template.ts `defaults`): they win over the planner's. */
  defaults: Record<string, unknown>;
  /** The repository at its base, where gate commands are looked for (the planner's worktree). */
  worktree: string;
}

export interface PlanCheckResult {
  /** The mission file's text as checked (null when the planner wrote none). */
  yaml: string | null;
  /** What is wrong, one line each (`field: reason (fix: ...)`); empty for a valid plan. */
  problems: string[];
  /** Task ids per wave, for a valid plan. */
  waves?: string[][];
}

/** Where the mission runs is not the planner's choice: these fields of its plan are dropped. */
const FLOTILLA_SETS = ['id', 'origin', 'scaffold', 'repo', 'base', 'planner'];

const line = (p: MissionProblem): string => `${p.path || '(file)'}: ${p.reason} (fix: ${p.fix})`;

/**
 * Checks the planner's plan; never throws for what the planner wrote (that is the result).
 * @throws only for I/O errors writing `missionFile`
 */
export async function checkPlanFile(input: PlanCheckInput): Promise<PlanCheckResult> {
  if (!existsSync(input.planFile))
    return {
      yaml: null,
      problems: [`(file): no plan was written (fix: write the mission file to ${input.planFile})`],
    };
  let data: unknown;
  try {
    data = parseMissionText(input.planFile, readFileSync(input.planFile, 'utf8'));
  } catch (err) {
    if (err instanceof MissionFileError) return { yaml: null, problems: err.problems.map(line) };
    throw err;
  }
  const plan =
    data !== null && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>) : {};
  // Flotilla's own fields: where the mission runs is not the planner's choice.
  const planned = Object.fromEntries(Object.entries(plan).filter(([k]) => !FLOTILLA_SETS.includes(k)));
  const mission: Record<string, unknown> = {
    id: input.id,
    ...planned,
    ...input.defaults,
    repo: input.repo,
    base: input.base,
  };
  const yaml = YAML.stringify(mission, { lineWidth: 0 });
  writeFileSync(input.missionFile, yaml);
  // The commands are checked whatever else is wrong, so one round reports everything.
  const gates = gateCommandProblems(mission, input.worktree).map(line);
  try {
    const loaded = await loadMission(input.missionFile, { checkRepo: true });
    return { yaml, problems: gates, ...(gates.length === 0 ? { waves: loaded.waves } : {}) };
  } catch (err) {
    if (err instanceof MissionFileError) return { yaml, problems: [...err.problems.map(line), ...gates] };
    throw err;
  }
}
