/**
 * `flotilla plan GOAL [--repo DIR] [--out FILE] [--planner RUNTIME] [--model M] [--from TEMPLATE]
 * [--run]`: a planner agent writes the mission (src/client/plan.ts, src/workflows/plan/); the
 * valid plan is written to `--out`, printed as `validate` prints it, and with `--run` run.
 * Exit codes: 0 valid (or the mission's with `--run`), 1 invalid after the last round (the plan is
 * kept in `--out`) or the planner failed, 2 bad input.
 */
import { Command } from 'commander';
import path from 'node:path';
import { loadMission } from '../../mission-file/load';
import { loadConfig, workflowUrl } from '../config';
import { CliError, EXIT } from '../errors';
import { planRequest, planResult, PlanOptions, startPlan, writePlan } from '../plan';
import { renderPlan } from '../render-plan';
import { ensureSearchAttributes } from '../search-attributes';
import { workerPolling } from '../visibility';
import { installRuntime, RunningWorkers, startWorkers } from '../workers';
import { say, warn, withConnection } from './context';
import { ensureService, startAndMaybeFollow } from './run';

/**
 * Runs `wait` (the plan's result); Ctrl-C (SIGINT/SIGTERM) cancels the plan, so that no planner
 * is left waiting for a worker that left with this process: the plan workflow stops its agent and
 * removes its worktree, then `wait` ends with the cancellation (exit 130). A second Ctrl-C exits
 * at once.
 */
async function untilInterrupted<T>(
  workflowId: string,
  cancel: () => Promise<unknown>,
  wait: () => Promise<T>,
): Promise<T> {
  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) process.exit(EXIT.interrupted);
    interrupted = true;
    warn(`\ninterrupted: cancelling plan ${workflowId} (its planner is stopped, its worktree removed)`);
    cancel().catch((err: Error) => warn(`could not cancel ${workflowId}: ${err.message}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await wait();
  } catch (err) {
    if (interrupted) throw new CliError(`plan ${workflowId} cancelled`, EXIT.interrupted);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Plans; returns the exit code, and whether `--run` should start the plan. */
async function plan(goal: string, opts: PlanOptions): Promise<number> {
  const config = loadConfig();
  // Bad input fails here, before any server or worker starts.
  const { input, out } = await planRequest(goal, opts);
  const shown = path.relative(process.cwd(), out) || out;
  await ensureService(config);
  const result = await withConnection(config, async ({ client, connection }) => {
    await ensureSearchAttributes(connection, config.namespace);
    let inProcess: RunningWorkers | undefined;
    if (!(await workerPolling(connection, config.namespace, config.taskQueue, { standaloneOnly: true }))) {
      installRuntime(config, true);
      inProcess = await startWorkers(config, { inProcess: true });
    }
    try {
      const workflowId = await startPlan(client, config.taskQueue, input);
      say(
        `planning ${input.id} (workflow ${workflowId}) on ${input.repo}, base ${input.base}, planner ${input.planner.runtime}${input.planner.sandbox ? ' (sandbox bwrap)' : ''}`,
      );
      const url = workflowUrl(config, workflowId);
      if (url) say(`  Web UI: ${url}`);
      return await untilInterrupted(
        workflowId,
        () => client.workflow.getHandle(workflowId).cancel(),
        () => planResult(client, workflowId),
      );
    } finally {
      await inProcess?.stop();
    }
  });
  if (result.yaml !== null) {
    const backup = writePlan(out, result.yaml);
    if (backup) say(`  (the file that was at ${shown} is kept as ${path.relative(process.cwd(), backup) || backup})`);
  }
  const cost = `planner: ${result.rounds} round${result.rounds === 1 ? '' : 's'}, $${result.usage.costUsd.toFixed(2)}`;
  if (result.status === 'invalid') {
    warn(`the plan is still invalid after ${result.rounds} rounds (${cost}):`);
    for (const p of result.problems) warn(`  - ${p}`);
    warn(
      result.yaml !== null
        ? `the plan is kept in ${shown}: fix it, then \`flotilla validate ${shown}\``
        : 'the planner wrote no plan',
    );
    return EXIT.failed;
  }
  const loaded = await loadMission(out, { checkRepo: true });
  say(renderPlan(loaded.spec, loaded.waves, shown));
  if (result.summary) say(`  planner's summary: ${result.summary.split('\n')[0]}`);
  say(`  ${cost}`);
  say(`valid: written to ${shown}${opts.run ? '' : `; run it with \`flotilla run ${shown}\``}`);
  return EXIT.ok;
}

/** Adds `flotilla plan` to the program. */
export function register(program: Command): void {
  program
    .command('plan')
    .description('have a planner agent write a mission file for a goal, check it, and write it to --out')
    .argument('<goal>', 'what the mission should achieve: text, or @FILE.md')
    .option('--repo <dir>', 'the repository to plan on (default: the current directory)')
    .option('--out <file>', 'where the plan goes', 'mission.yaml')
    .option('--planner <runtime>', "the planner agent: claude, codex or command (default: the template's, else claude)")
    .option('--model <model>', "the planner's model")
    .option('--from <template>', 'a mission file without tasks: its planner: block and defaults')
    .option('--run', 'run the mission once the plan is valid')
    .action(async (goal: string, opts: PlanOptions) => {
      const code = await plan(goal, opts);
      if (code !== EXIT.ok || !opts.run) {
        process.exitCode = code;
        return;
      }
      await startAndMaybeFollow(opts.out ?? 'mission.yaml', {}, true);
    });
}
