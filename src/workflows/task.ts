/**
 * taskWorkflow: one task of a mission, as a child workflow `mission-<missionId>/task-<taskId>`.
 * prepareWorktree -> runAgent -> checkpoint -> task verify (gate); a failing gate sends the
 * output's tail back to the agent (its session resumed) as the next prompt, at most
 * `maxIterations` runs in all. A rate-limited agent waits on a durable timer (no worker, no
 * attempt spent) and then resumes its session. Every activity runs on the host queue.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  getExternalWorkflowHandle,
  isCancellation,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { AgentFailureDetails, AgentUsage, RunAgentResult } from '../activities/agent';
import type { Diffstat } from '../mission/progress';
import type { CommandLine, TaskSpec } from '../mission/types';
import { ACTIVITY_SLACK_MS, SETUP_COMMAND_TIMEOUT_MS, TASK_VERIFY_COMMAND_TIMEOUT_MS } from './limits';
import { TaskStep, taskStepQuery, taskUpdateSignal } from './messages';

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

/** Usage of a whole task: every attempt, iteration and rate-limit round summed. */
export interface TaskUsage extends AgentUsage {
  /** Agent attempts, retries included. */
  attempts: number;
}

export interface TaskResult extends TaskUsage {
  status: 'succeeded' | 'failed';
  branch: string;
  headSha: string | null;
  diffstat: Diffstat | null;
  iterations: number;
  summary: string;
  error: string | null;
}

/** How many rate-limit waits one task may sit through before it fails. */
const MAX_RATE_LIMIT_WAITS = 50;

/** The message of the deepest cause: what actually went wrong. */
export function failureMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  return e instanceof Error ? e.message : String(err);
}

function failureDetails(err: unknown): { type?: string; details?: AgentFailureDetails } {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  if (cause instanceof ApplicationFailure)
    return { type: cause.type ?? undefined, details: cause.details?.[0] as AgentFailureDetails | undefined };
  return {};
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
  ].join('\n');
}

export async function taskWorkflow(input: TaskInput): Promise<TaskResult> {
  const { task } = input;
  const step: TaskStep = { step: 'preparing', iteration: 0, note: null };
  setHandler(taskStepQuery, () => step);
  const usage: TaskUsage = {
    sessionId: null,
    sessionCostUsd: 0,
    sessionInputTokens: 0,
    sessionOutputTokens: 0,
    turns: 0,
    costUsd: 0,
    inputTokens: 0,
    outputTokens: 0,
    attempts: 0,
  };
  const parent = workflowInfo().parent;
  /** Tells the mission (live accounting, budget, status notes); never fails the task. */
  const report = async (note: string | null): Promise<void> => {
    step.note = note;
    if (!parent) return;
    await getExternalWorkflowHandle(parent.workflowId, parent.runId)
      .signal(taskUpdateSignal, { taskId: task.id, usage: { ...usage }, note })
      .catch(() => undefined);
  };
  const add = (u: AgentUsage, attempts: number): void => {
    usage.sessionId = u.sessionId ?? usage.sessionId;
    usage.sessionCostUsd = u.sessionCostUsd;
    usage.sessionInputTokens = u.sessionInputTokens;
    usage.sessionOutputTokens = u.sessionOutputTokens;
    usage.turns += u.turns;
    usage.costUsd += u.costUsd;
    usage.inputTokens += u.inputTokens;
    usage.outputTokens += u.outputTokens;
    usage.attempts += attempts;
  };

  const git = proxyActivities<Activities>({
    taskQueue: input.hostQueue,
    startToCloseTimeout: input.setup.length * SETUP_COMMAND_TIMEOUT_MS + ACTIVITY_SLACK_MS,
    heartbeatTimeout: '1 minute',
    retry: { initialInterval: '2s', maximumInterval: '1 minute', maximumAttempts: 5 },
  });
  const agent = proxyActivities<Activities>({
    taskQueue: input.hostQueue,
    // The agent enforces `timeout` itself and kills its group; this is the backstop.
    startToCloseTimeout: task.agent.timeoutMs + ACTIVITY_SLACK_MS,
    // How fast a dead worker is noticed: the attempt is retried (and the stale group killed) then.
    heartbeatTimeout: '20s',
    // Wait for the kill to finish, so a cancelled task never leaves an agent running.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: '5s',
      backoffCoefficient: 2,
      maximumInterval: '5 minutes',
      maximumAttempts: task.agent.retries + 1,
      nonRetryableErrorTypes: ['AgentNotFound', 'AgentAuth', 'AgentRateLimited'],
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
  const result = (
    status: TaskResult['status'],
    rest: Omit<TaskResult, 'status' | 'branch' | keyof TaskUsage>,
  ): TaskResult => ({
    status,
    branch: wt.branch,
    ...usage,
    ...rest,
  });

  /** One agent run for this iteration, through any number of rate-limit waits. */
  const runAgent = async (prompt: string, iteration: number, resume: string | null): Promise<RunAgentResult> => {
    let waits = 0;
    for (;;) {
      try {
        const run = await agent.runAgent({
          missionId: input.missionId,
          taskId: task.id,
          worktree: wt.worktree,
          branch: wt.branch,
          baseSha: input.baseSha,
          agent: task.agent,
          prompt,
          taskPrompt: task.prompt,
          iteration,
          resumeSessionId: resume,
          repo: input.repo,
          runId: input.runId,
          exclude: input.copy,
          checkpointEveryMs: task.checkpointEveryMs,
          setup: input.setup,
          setupTimeoutMs: SETUP_COMMAND_TIMEOUT_MS,
          ...(resume && resume === usage.sessionId
            ? {
                sessionCostUsd: usage.sessionCostUsd,
                sessionInputTokens: usage.sessionInputTokens,
                sessionOutputTokens: usage.sessionOutputTokens,
              }
            : {}),
        });
        add(run, run.attempt);
        await report(null);
        return run;
      } catch (err) {
        if (isCancellation(err)) throw err;
        const { type, details } = failureDetails(err);
        if (details) add(details, details.attempt);
        else usage.attempts += task.agent.retries + 1;
        if (type !== 'AgentRateLimited' || ++waits > MAX_RATE_LIMIT_WAITS) throw err;
        // A durable timer: nothing runs and nothing is paid while the limit lasts; the session
        // then continues with a short nudge, so no finished turn is repeated.
        const waitMs = Math.max(1000, details?.retryAfterMs ?? 60_000);
        await report(`${failureMessage(err)}; resuming in ${Math.round(waitMs / 1000)}s`);
        await sleep(waitMs);
        resume = details?.sessionId ?? resume;
        prompt = resume ? 'You were interrupted by a rate limit. Continue the task where you stopped.' : prompt;
      }
    }
  };

  let prompt = task.prompt;
  let summary = '';
  let last: { headSha: string; diffstat: Diffstat } | null = null;
  for (let iteration = 1; iteration <= task.maxIterations; iteration++) {
    step.step = 'agent';
    step.iteration = iteration;
    try {
      // Gate iterations continue the same agent session, so it keeps its context.
      const run = await runAgent(prompt, iteration, iteration > 1 ? usage.sessionId : null);
      summary = run.summary;
    } catch (err) {
      if (isCancellation(err)) {
        // The agent is dead (the activity waited for the kill); keep what it left, then stop.
        await CancellationScope.nonCancellable(() => keep('[cancelled]').catch(() => undefined));
        throw err;
      }
      const kept = await keep('[incomplete]').catch(() => null);
      return result('failed', {
        headSha: kept?.headSha ?? null,
        diffstat: kept?.diffstat ?? null,
        iterations: iteration,
        summary,
        error: failureMessage(err),
      });
    }

    step.step = 'checkpoint';
    let ck: Awaited<ReturnType<typeof keep>>;
    try {
      ck = await keep();
    } catch (err) {
      // The worktree is in a state whose commit would lose work (see `checkpoint`): say so.
      return result('failed', {
        headSha: null,
        diffstat: null,
        iterations: iteration,
        summary,
        error: failureMessage(err),
      });
    }
    const unchanged = last !== null && ck.headSha === last.headSha;
    last = { headSha: ck.headSha, diffstat: ck.diffstat };
    if (task.verify.length === 0) return result('succeeded', { ...last, iterations: iteration, summary, error: null });

    step.step = 'verify';
    const gate = await checks.runChecks({
      cwd: wt.worktree,
      commands: task.verify,
      timeoutMs: TASK_VERIFY_COMMAND_TIMEOUT_MS,
      logFile: `${wt.worktree}.verify.log`,
    });
    if (gate.ok) return result('succeeded', { ...last, iterations: iteration, summary, error: null });
    const f = gate.failed!;
    const why = `verify \`${f.command}\` failed (exit ${f.exitCode ?? 'timeout'})`;
    if (unchanged) {
      return result('failed', {
        ...last,
        iterations: iteration,
        summary,
        error: `${why}; iteration ${iteration} changed nothing, so the gate stopped early`,
      });
    }
    if (iteration === task.maxIterations) {
      return result('failed', {
        ...last,
        iterations: iteration,
        summary,
        error: `${why} after ${iteration} iteration${iteration === 1 ? '' : 's'} (maxIterations)`,
      });
    }
    await report(`${why}; iteration ${iteration + 1} of ${task.maxIterations}`);
    prompt = gatePrompt(task, f.command, f.exitCode, f.outputTail, iteration + 1);
  }
  throw ApplicationFailure.nonRetryable('unreachable: gate loop ended without a result');
}
