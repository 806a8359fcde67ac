/**
 * The shapes of the plan workflow (`flotilla plan`, README "Planning from a goal"): its input and
 * its result. Recorded in workflow histories: add optional fields only.
 */
import type { AgentSpec } from '../../mission/types';
import type { TaskUsage } from '../../mission/usage';

/** The plan workflow's id for plan `id` (also the mission id it proposes, unless a template sets one). */
export const planWorkflowId = (id: string): string => `plan-${id}`;

/** How many rounds (planner run, then check) a plan gets by default. */
export const DEFAULT_PLAN_ROUNDS = 3;

export interface PlanInput {
  /** The plan's id: its workflow is `plan-<id>`; the mission id of the plan. */
  id: string;
  /** The repository (absolute path on the worker's host) and the base branch to plan on. */
  repo: string;
  base: string;
  /** The goal, as the user wrote it. */
  goal: string;
  /** The planner agent (runtime, model, command, args, env, timeouts, sandbox). */
  planner: AgentSpec;
  /** The template's fields besides `planner:` (they go into the plan and win over the planner's). */
  defaults: Record<string, unknown>;
  /** At most this many rounds (default {@link DEFAULT_PLAN_ROUNDS}). */
  maxRounds?: number;
}

export interface PlanResult {
  /** `valid`: the last round's plan passed every check; `invalid`: the rounds ran out. */
  status: 'valid' | 'invalid';
  rounds: number;
  /** The plan as a mission file (YAML), null when the planner wrote nothing readable. */
  yaml: string | null;
  /** The last round's problems, one a line (empty when valid). */
  problems: string[];
  /** Task ids per wave, for a valid plan. */
  waves?: string[][];
  /** The planner's usage over every round (the usage ledger, src/mission/usage.ts). */
  usage: TaskUsage;
  /** The planner's last words (its summary of the plan). */
  summary: string;
}
