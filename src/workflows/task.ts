/**
 * taskWorkflow: one task of a mission, as a child workflow `mission-<missionId>/task-<taskId>`.
 * prepareWorktree -> runAgent -> checkpoint -> task verify (gate); a failing gate sends the
 * output's tail back to the agent as its next prompt, at most `maxIterations` runs in all.
 * Every activity runs on the host queue (the worker holding the repository).
 */
import {
  ActivityCancellationType,
  CancellationScope,
  ActivityFailure,
  ApplicationFailure,
  isCancellation,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { Diffstat } from '../mission/progress';
import type { CommandLine, TaskSpec } from '../mission/types';
import { ACTIVITY_SLACK_MS, SETUP_COMMAND_TIMEOUT_MS, TASK_VERIFY_COMMAND_TIMEOUT_MS } from './limits';
import { TaskStep, taskStepQuery } from './messages';

export interface TaskInput {
  missionId: string;
  /** The mission's first run id: owner of the branches this task makes. */
  runId: string;
  repo: string;
  hostQueue: string;
  /** The integration SHA this task starts from (after the previous waves' merges). */
  baseSha: string;
  task: TaskSpec;
  setup: CommandLine[];
  copy: string[];
}

export interface TaskResult {
  status: 'succeeded' | 'failed';
  branch: string;
  headSha: string | null;
  diffstat: Diffstat | null;
  /** Agent attempts, retries included, over all iterations. */
  attempts: number;
  iterations: number;
  summary: string;
  error: string | null;
}

/** The message of the deepest cause: what actually went wrong. */
export function failureMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  return e instanceof Error ? e.message : String(err);
}

function attemptsOf(err: unknown, fallback: number): number {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  if (cause instanceof ApplicationFailure) {
    const d = cause.details?.[0] as { attempt?: number } | undefined;
    if (typeof d?.attempt === 'number') return d.attempt;
  }
  return fallback;
}

function gatePrompt(task: TaskSpec, command: string, exitCode: number | null, tail: string, iteration: number): string {
  return [
    `Your work on task "${task.title}" (${task.id}) is committed, but its verification failed.`,
    `Command: ${command}`,
    `Exit code: ${exitCode ?? 'killed (timeout)'}`,
    'Output (last lines):',
    tail.trim(),
    '',
    `Fix the problem in this worktree so that the command passes. This is iteration ${iteration} of ${task.maxIterations}.`,
    '',
    'The task, as given:',
    task.prompt,
  ].join('\n');
}

export async function taskWorkflow(input: TaskInput): Promise<TaskResult> {
  const { task } = input;
  const step: TaskStep = { step: 'preparing', iteration: 0 };
  setHandler(taskStepQuery, () => step);

  const git = proxyActivities<Activities>({
    taskQueue: input.hostQueue,
    startToCloseTimeout: input.setup.length * SETUP_COMMAND_TIMEOUT_MS + ACTIVITY_SLACK_MS,
    heartbeatTimeout: '1 minute',
    retry: { initialInterval: '2s', maximumInterval: '1 minute', maximumAttempts: 5 },
  });
  const agent = proxyActivities<Activities>({
    taskQueue: input.hostQueue,
    // The agent enforces `timeout` itself and kills its group; this is the backstop.
    startToCloseTimeout: task.agent.timeoutMs + 5 * 60_000,
    // How fast a dead worker is noticed: the attempt is retried (and the stale group killed) then.
    heartbeatTimeout: '30s',
    // Wait for the kill to finish, so a cancelled task never leaves an agent running.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: '5s',
      backoffCoefficient: 2,
      maximumInterval: '5 minutes',
      maximumAttempts: task.agent.retries + 1,
      nonRetryableErrorTypes: ['AgentNotFound', 'RuntimeUnavailable'],
    },
  });
  const checks = proxyActivities<Activities>({
    taskQueue: input.hostQueue,
    startToCloseTimeout: task.verify.length * TASK_VERIFY_COMMAND_TIMEOUT_MS + ACTIVITY_SLACK_MS,
    heartbeatTimeout: '30s',
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { maximumAttempts: 3 },
  });

  const wt = await git.prepareWorktree({
    missionId: input.missionId,
    runId: input.runId,
    taskId: task.id,
    repo: input.repo,
    baseSha: input.baseSha,
    setup: input.setup,
    copy: input.copy,
    setupTimeoutMs: SETUP_COMMAND_TIMEOUT_MS,
  });

  /** Commits what the agent left on the task branch; `note` marks work kept after a failure. */
  const keep = (note?: string) =>
    git.checkpoint({
      worktree: wt.worktree,
      taskId: task.id,
      title: task.title,
      branch: wt.branch,
      baseSha: input.baseSha,
      exclude: input.copy,
      note,
    });

  let attempts = 0;
  let prompt = task.prompt;
  let summary = '';
  let last: { headSha: string; diffstat: Diffstat } | null = null;
  for (let iteration = 1; iteration <= task.maxIterations; iteration++) {
    step.step = 'agent';
    step.iteration = iteration;
    try {
      const run = await agent.runAgent({
        missionId: input.missionId,
        taskId: task.id,
        worktree: wt.worktree,
        agent: task.agent,
        prompt,
        iteration,
      });
      attempts += run.attempt;
      summary = run.summary;
    } catch (err) {
      if (isCancellation(err)) {
        // The agent is dead (the activity waited for the kill); keep what it left, then stop.
        await CancellationScope.nonCancellable(() => keep('[cancelled]').catch(() => undefined));
        throw err;
      }
      attempts += attemptsOf(err, task.agent.retries + 1);
      const error = failureMessage(err);
      const kept = await keep('[incomplete]').catch(() => null);
      return {
        status: 'failed',
        branch: wt.branch,
        headSha: kept?.headSha ?? null,
        diffstat: kept?.diffstat ?? null,
        attempts,
        iterations: iteration,
        summary,
        error,
      };
    }

    step.step = 'checkpoint';
    let ck: Awaited<ReturnType<typeof keep>>;
    try {
      ck = await keep();
    } catch (err) {
      // The worktree is in a state whose commit would lose work (see `checkpoint`): say so.
      return {
        status: 'failed',
        branch: wt.branch,
        headSha: null,
        diffstat: null,
        attempts,
        iterations: iteration,
        summary,
        error: failureMessage(err),
      };
    }
    const unchanged = last !== null && ck.headSha === last.headSha;
    last = { headSha: ck.headSha, diffstat: ck.diffstat };
    if (task.verify.length === 0) {
      return { status: 'succeeded', branch: wt.branch, ...last, attempts, iterations: iteration, summary, error: null };
    }

    step.step = 'verify';
    const gate = await checks.runChecks({
      cwd: wt.worktree,
      commands: task.verify,
      timeoutMs: TASK_VERIFY_COMMAND_TIMEOUT_MS,
      logFile: `${wt.worktree}.verify.log`,
    });
    if (gate.ok) {
      return { status: 'succeeded', branch: wt.branch, ...last, attempts, iterations: iteration, summary, error: null };
    }
    const f = gate.failed!;
    const why = `verify \`${f.command}\` failed (exit ${f.exitCode ?? 'timeout'})`;
    if (unchanged) {
      return {
        status: 'failed',
        branch: wt.branch,
        ...last,
        attempts,
        iterations: iteration,
        summary,
        error: `${why}; iteration ${iteration} changed nothing, so the gate stopped early`,
      };
    }
    if (iteration === task.maxIterations) {
      return {
        status: 'failed',
        branch: wt.branch,
        ...last,
        attempts,
        iterations: iteration,
        summary,
        error: `${why} after ${iteration} iteration${iteration === 1 ? '' : 's'} (maxIterations)`,
      };
    }
    prompt = gatePrompt(task, f.command, f.exitCode, f.outputTail, iteration + 1);
  }
  throw ApplicationFailure.nonRetryable('unreachable: gate loop ended without a result');
}
