/**
 * taskWorkflow: one task of a mission, as a child workflow `mission-<missionId>/task-<taskId>`.
 * prepareWorktree -> runAgent -> checkpoint -> task verify (gate); a failing gate sends the
 * output's tail back to the agent (its session resumed) as the next prompt, at most
 * `maxIterations` runs in all. A rate-limited agent waits on a durable timer (no worker, no
 * attempt spent) and then resumes its session. Every activity runs on the host queue.
 *
 * Control from the mission: `hold` (`pause --now`) stops the agent, whose attempt ends with a
 * checkpoint, and waits for `release`, which resumes the session; a steering message interrupts
 * the agent the same way and resumes its session with the message (or, queued, is delivered when
 * the agent's current run ends). Messages never consume gate iterations.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
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
import { holdSignal, releaseSignal, steerTaskSignal, TaskStep, taskStepQuery, taskUpdateSignal } from './messages';

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
  /** Set when `flotilla retry` runs the task again: its usage so far and how it ended. */
  retry?: { usage: TaskUsage; error: string | null };
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
  // An agent stopped by `pause --now` or a steering message reports its usage with the cancellation.
  if (cause instanceof CancelledFailure) return { details: cause.details?.[0] as AgentFailureDetails | undefined };
  return {};
}

/** The prompt that delivers steering messages to a resumed session (or restates the task without one). */
function steerPrompt(task: TaskSpec, messages: string[], session: boolean): string {
  const body = messages.length === 1 ? messages[0] : messages.map((m, i) => `${i + 1}. ${m}`).join('\n');
  const note = `A message from the user about this task:\n\n${body}\n\nTake it into account and continue the task.`;
  return session ? note : `${task.prompt}\n\n---\nYour earlier work on this task is in the worktree. ${note}`;
}

/** The prompt after `pause --now` and `resume`. */
function resumePrompt(task: TaskSpec, session: boolean): string {
  const note = 'You were paused by the user; your work so far is in the worktree. Continue the task where you stopped.';
  return session ? note : `${task.prompt}\n\n---\n${note}`;
}

/** The first prompt of a task `flotilla retry` runs again. */
function retryPrompt(task: TaskSpec, error: string | null, session: boolean): string {
  const note = [
    `This task ran before and ended without success${error ? `: ${error}` : ''}.`,
    'The user asked to run it again. The worktree and the task branch hold the earlier work (see git status and git log);',
    'continue the task and do not redo what is already done.',
  ].join(' ');
  return session ? note : `${task.prompt}\n\n---\n${note}`;
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
  // A retried task goes on counting from where its earlier run stopped.
  const prior = input.retry?.usage;
  const usage: TaskUsage = {
    sessionId: prior?.sessionId ?? null,
    sessionCostUsd: prior?.sessionCostUsd ?? 0,
    sessionInputTokens: prior?.sessionInputTokens ?? 0,
    sessionOutputTokens: prior?.sessionOutputTokens ?? 0,
    turns: prior?.turns ?? 0,
    costUsd: prior?.costUsd ?? 0,
    inputTokens: prior?.inputTokens ?? 0,
    outputTokens: prior?.outputTokens ?? 0,
    attempts: prior?.attempts ?? 0,
  };
  const parent = workflowInfo().parent;
  /** Tells the mission (live accounting, budget, status notes); never fails the task. */
  const report = async (note: string | null, held?: boolean): Promise<void> => {
    step.note = note;
    if (!parent) return;
    await getExternalWorkflowHandle(parent.workflowId, parent.runId)
      .signal(taskUpdateSignal, { taskId: task.id, usage: { ...usage }, note, held })
      .catch(() => undefined);
  };

  /** `pause --now` holds the task until `release`. */
  let held = false;
  /** Why the running agent is being stopped, when the task itself stopped it. */
  let interrupt: 'hold' | 'steer' | null = null;
  /** The scope of the agent run in flight, which `hold` and a steering message cancel. */
  let agentScope: CancellationScope | null = null;
  /** Steering messages not yet delivered to the agent. */
  const inbox: string[] = [];
  const stopAgent = (why: 'hold' | 'steer'): void => {
    if (!agentScope || interrupt) return;
    interrupt = why;
    agentScope.cancel();
  };
  setHandler(holdSignal, () => {
    held = true;
    stopAgent('hold');
  });
  setHandler(releaseSignal, () => {
    held = false;
  });
  setHandler(steerTaskSignal, ({ message, queue }) => {
    inbox.push(message);
    if (!queue) stopAgent('steer');
  });
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
    // Git activities heartbeat every 5 s: a worker killed mid-merge is noticed in 20 s and the
    // retry finishes its merge (test:faults measured 62 s to recovery with a 1-minute timeout).
    heartbeatTimeout: '20s',
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
  /** Records the worktree's state under the task's checkpoint ref; the task branch is not touched. */
  const stash = (note: string) =>
    git.snapshot({
      worktree: wt.worktree,
      repo: input.repo,
      missionId: input.missionId,
      taskId: task.id,
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

  /**
   * Runs the agent until it ends on its own with nothing left in the inbox: a `hold` or a steering
   * message stops the run (its attempt ends with a checkpoint) and the session resumes afterwards.
   */
  const converse = async (prompt: string, iteration: number, resume: string | null): Promise<RunAgentResult> => {
    for (;;) {
      if (held) {
        step.step = 'held';
        await report('paused (--now): the agent was stopped after a checkpoint; `flotilla resume` continues it', true);
        await condition(() => !held);
        step.step = 'agent';
        await report(null, false);
        // Messages sent while held go with the resume.
        if (inbox.length > 0) prompt = steerPrompt(task, inbox.splice(0), resume !== null);
      }
      const scope = new CancellationScope();
      agentScope = scope;
      try {
        const run = await scope.run(() => runAgent(prompt, iteration, resume));
        if (inbox.length === 0) return run;
        // Queued messages: the agent's run ended, so its session continues with them.
        resume = usage.sessionId;
        prompt = steerPrompt(task, inbox.splice(0), resume !== null);
      } catch (err) {
        // The workflow's own cancellation (the mission cancelled) always wins over an interrupt.
        if (!isCancellation(err) || !interrupt || CancellationScope.current().consideredCancelled) throw err;
        const { details } = failureDetails(err);
        if (details) add(details, details.attempt);
        resume = usage.sessionId ?? resume;
        prompt =
          inbox.length > 0 ? steerPrompt(task, inbox.splice(0), resume !== null) : resumePrompt(task, resume !== null);
      } finally {
        agentScope = null;
        interrupt = null;
      }
    }
  };

  let resume: string | null = input.retry ? usage.sessionId : null;
  let prompt = input.retry ? retryPrompt(task, input.retry.error, resume !== null) : task.prompt;
  let summary = '';
  let last: { headSha: string; diffstat: Diffstat } | null = null;
  /** The head the gate last failed on: an iteration that leaves it unchanged cannot pass. */
  let failedGateSha: string | null = null;
  for (let iteration = 1; iteration <= task.maxIterations;) {
    step.step = 'agent';
    step.iteration = iteration;
    try {
      // Gate iterations and steering continue the same agent session, so it keeps its context.
      const run = await converse(prompt, iteration, resume);
      summary = run.summary;
    } catch (err) {
      // Versioning: missions started before WIP checkpoints committed `[cancelled]` and
      // `[incomplete]` work on the task branch; their histories replay that way.
      const toRef = patched('wip-checkpoints');
      if (isCancellation(err)) {
        // The agent is dead (the activity waited for the kill and took a checkpoint); this one
        // also covers a task cancelled while no attempt ran (held, between attempts).
        await CancellationScope.nonCancellable(() =>
          (toRef ? stash('[cancelled]') : keep('[cancelled]')).then(
            () => undefined,
            () => undefined,
          ),
        );
        throw err;
      }
      if (toRef) {
        // The task branch only ever gets the clean final commit: unfinished work goes to the
        // checkpoint ref, and the worktree keeps it for `flotilla retry`.
        const kept = await stash('[incomplete]').catch(() => null);
        return result('failed', {
          headSha: null,
          diffstat: null,
          iterations: iteration,
          summary,
          error: `${failureMessage(err)}${kept?.sha ? ` (its work is kept in checkpoint ${kept.sha.slice(0, 12)}, ${kept.ref})` : ''}`,
        });
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
    const unchanged = ck.headSha === failedGateSha;
    last = { headSha: ck.headSha, diffstat: ck.diffstat };
    resume = usage.sessionId;
    if (inbox.length > 0) {
      // A message queued while the work was being committed: deliver it before the gate.
      prompt = steerPrompt(task, inbox.splice(0), resume !== null);
      continue;
    }
    if (task.verify.length === 0) return result('succeeded', { ...last, iterations: iteration, summary, error: null });

    step.step = 'verify';
    const gate = await checks.runChecks({
      cwd: wt.worktree,
      commands: task.verify,
      timeoutMs: TASK_VERIFY_COMMAND_TIMEOUT_MS,
      logFile: `${wt.worktree}.verify.log`,
    });
    if (inbox.length > 0) {
      // A message that arrived during the gate goes to the agent first; the gate runs again after.
      prompt = steerPrompt(task, inbox.splice(0), resume !== null);
      continue;
    }
    if (gate.ok) return result('succeeded', { ...last, iterations: iteration, summary, error: null });
    const f = gate.failed!;
    const why = `verify \`${f.command}\` failed (exit ${f.exitCode ?? 'timeout'})`;
    failedGateSha = last.headSha;
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
    iteration++;
    prompt = gatePrompt(task, f.command, f.exitCode, f.outputTail, iteration);
  }
  throw ApplicationFailure.nonRetryable('unreachable: gate loop ended without a result');
}
