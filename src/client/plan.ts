/**
 * `flotilla plan GOAL` (README, "Planning from a goal"), the client's part: the goal and the
 * template read and checked (bad input exits 2 before anything starts), the planner agent chosen,
 * the plan workflow started (`plan-<id>`, src/workflows/plan/) with a worker in this process when
 * no standalone worker polls, and its result written to `--out` and printed as `validate` prints
 * a mission.
 */
import { Client, WorkflowFailedError } from '@temporalio/client';
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { probeBwrap } from '../agents/sandbox';
import { mergeAgent } from '../mission-file/load';
import { loadTemplate, type PlanTemplate } from '../mission-file/plan-template';
import { checkRepo } from '../mission-file/repo-checks';
import type { RawAgent } from '../mission-file/schema';
import { failureMessage } from '../mission/failures';
import { SEARCH_ATTRIBUTE_KEYS, type AgentSpec, type Runtime } from '../mission/types';
import { withoutUrlCredentials } from '../mission/url-credentials';
import { planWorkflow, planWorkflowId, type PlanInput, type PlanResult } from '../workflows/plan';
import { CliError, EXIT } from './errors';

export interface PlanOptions {
  repo?: string;
  out?: string;
  planner?: string;
  model?: string;
  from?: string;
  run?: boolean;
}

/** What `plan` starts, once the input is checked. */
export interface PlanRequest {
  input: PlanInput;
  /** Absolute path the plan is written to. */
  out: string;
}

const RUNTIMES: readonly Runtime[] = ['claude', 'codex', 'command'];
/** Fields of a template that say where the mission runs: Flotilla sets them from `--repo`, never the template's defaults. */
const WHERE = ['repo', 'base', 'origin', 'scaffold', 'id'];

/**
 * The goal: the text itself, or `@file.md`'s contents.
 * @throws CliError exit 2 when it is empty, or the file cannot be read
 */
export function readGoal(arg: string): string {
  let goal = arg;
  if (arg.startsWith('@')) {
    const file = path.resolve(arg.slice(1));
    if (!existsSync(file) || !statSync(file).isFile())
      throw new CliError(
        `goal file not found: ${file} (pass the goal as text, or @FILE with a file that exists)`,
        EXIT.invalid,
      );
    goal = readFileSync(file, 'utf8');
  }
  if (!goal.trim())
    throw new CliError(
      'the goal is empty: say what the mission should achieve, e.g. flotilla plan "add a --verbose flag"',
      EXIT.invalid,
    );
  return goal;
}

/**
 * The planner agent: the template's `planner:` block, `--planner` and `--model` over it, the
 * mission file's agent defaults under it; in the bwrap sandbox when the block does not say and
 * this host can make one.
 * @throws CliError exit 2 for an unknown runtime, or `command` without a command
 */
export async function plannerAgent(template: PlanTemplate | undefined, opts: PlanOptions): Promise<AgentSpec> {
  if (opts.planner !== undefined && !RUNTIMES.includes(opts.planner as Runtime))
    throw new CliError(`--planner ${opts.planner}: unknown runtime (use one of: ${RUNTIMES.join(', ')})`, EXIT.invalid);
  const raw: RawAgent = { ...(template?.planner ?? {}) };
  if (opts.planner) raw.runtime = opts.planner as Runtime;
  if (opts.model) raw.model = opts.model;
  if (raw.runtime !== 'command') delete raw.command;
  else if (!raw.command)
    throw new CliError(
      'the command planner needs its command: a template (--from) with `planner: { runtime: command, command: [...] }`',
      EXIT.invalid,
    );
  const agent = mergeAgent(undefined, raw);
  if (raw.sandbox === undefined) {
    const available = await probeBwrap().then(
      () => true,
      () => false,
    );
    if (available) agent.sandbox = 'bwrap';
  }
  return agent;
}

/** A plan id from the goal's first words and the time: `add-a-verbose-flag-m4x9k2`. */
export function planIdFor(goal: string, now = Date.now()): string {
  const words = goal.toLowerCase().match(/[a-z0-9]+/g) ?? [];
  const slug = words.slice(0, 5).join('-').slice(0, 40).replace(/-+$/, '') || 'plan';
  return `${slug}-${now.toString(36).slice(-6)}`;
}

/**
 * Checks everything `plan` is given before anything starts.
 * @throws CliError or MissionFileError, exit 2
 */
export async function planRequest(goalArg: string, opts: PlanOptions): Promise<PlanRequest> {
  const goal = readGoal(goalArg);
  const template = opts.from ? loadTemplate(path.resolve(opts.from)) : undefined;
  const planner = await plannerAgent(template, opts);
  const defaults = { ...(template?.defaults ?? {}) };
  const templateDir = template ? path.dirname(template.file) : process.cwd();
  const repoArg = opts.repo
    ? path.resolve(opts.repo)
    : typeof defaults.repo === 'string'
      ? path.resolve(templateDir, defaults.repo)
      : process.cwd();
  const where = template?.file ?? '--repo';
  const { repo, base } = await checkRepo(where, repoArg, defaults.base as string | undefined, true);
  const id = typeof defaults.id === 'string' ? defaults.id : planIdFor(goal);
  for (const k of WHERE) delete defaults[k];
  const out = path.resolve(opts.out ?? 'mission.yaml');
  if (!existsSync(path.dirname(out)))
    throw new CliError(`--out ${opts.out}: folder ${path.dirname(out)} does not exist`, EXIT.invalid);
  return { input: { id, repo, base, goal, planner, defaults }, out };
}

/** Starts the plan's workflow on `taskQueue` (the shared one); `planWorkflow` is its type. */
export async function startPlan(client: Client, taskQueue: string, input: PlanInput): Promise<string> {
  const workflowId = planWorkflowId(input.id);
  const firstLine = input.goal.trim().split('\n')[0];
  await client.workflow.start(planWorkflow, {
    workflowId,
    taskQueue,
    args: [input],
    typedSearchAttributes: [
      { key: SEARCH_ATTRIBUTE_KEYS.repo, value: withoutUrlCredentials(input.repo) },
      { key: SEARCH_ATTRIBUTE_KEYS.runtime, value: [input.planner.runtime] },
      { key: SEARCH_ATTRIBUTE_KEYS.costUsd, value: 0 },
    ],
    staticSummary: `plan: ${firstLine.length > 100 ? `${firstLine.slice(0, 99)}…` : firstLine}`,
    staticDetails: [`**goal** (planner: ${input.planner.runtime})`, '', input.goal.trim()].join('\n'),
  });
  return workflowId;
}

/**
 * Waits for the plan's result.
 * @throws CliError exit 1 when the plan workflow failed (the planner could not run, ...)
 */
export async function planResult(client: Client, workflowId: string): Promise<PlanResult> {
  try {
    return (await client.workflow.getHandle(workflowId).result()) as PlanResult;
  } catch (err) {
    if (err instanceof WorkflowFailedError)
      throw new CliError(`plan ${workflowId} failed: ${failureMessage(err.cause ?? err)}`, EXIT.failed);
    throw err;
  }
}

/**
 * Writes the plan to `out`. A different file already there is kept as `<out>.bak` (the previous
 * backup replaced): nothing a person wrote is lost.
 * @returns the backup's path, when one was made
 */
export function writePlan(out: string, yaml: string): string | undefined {
  let backup: string | undefined;
  if (existsSync(out) && readFileSync(out, 'utf8') !== yaml) {
    backup = `${out}.bak`;
    copyFileSync(out, backup);
  }
  writeFileSync(out, yaml);
  return backup;
}
