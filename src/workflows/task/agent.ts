/**
 * A task's conversation with its agent: runs of `runAgent` through rate-limit waits, `pause --now`
 * holds and steering messages, all continuing one agent session. Every run's usage goes into the
 * task's ledger here and nowhere else.
 */
import {
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { RunAgentResult } from '../../activities/agent';
import { ErrorType } from '../../mission/error-types';
import { failureDetails, failureMessage } from '../../mission/failures';
import { addAgentRun, sessionBaseFor, TaskUsage } from '../../mission/usage';
import { hostLost } from '../activities';
import { SETUP_COMMAND_TIMEOUT_MS } from '../limits';
import { agentRun, rateLimitWait } from '../summaries';
import { holdSignal, releaseSignal, steerTaskSignal, taskUpdateSignal } from '../messages';
import { RATE_LIMIT_RESUME_PROMPT, resumePrompt, steerPrompt } from './prompts';
import { MAX_WORKER_SHUTDOWNS, workerStopped } from '../worker-shutdown';
import type { TaskInput } from './types';
import type { TaskSteps } from './steps';

/** How many rate-limit waits one task may sit through before it fails. */
const MAX_RATE_LIMIT_WAITS = 50;
const WORKER_STOPPED_PROMPT =
  'The worker running you stopped; your work so far is in the worktree. Continue the task where you stopped.';

export class TaskAgent {
  /** `pause --now` holds the task until `release`. */
  private held = false;
  /** Why the running agent is being stopped, when the task itself stopped it. */
  private interrupt: 'hold' | 'steer' | null = null;
  /** The scope of the agent run in flight, which `hold` and a steering message cancel. */
  private agentScope: CancellationScope | null = null;
  /** Steering messages not yet delivered to the agent. */
  private readonly inbox: string[] = [];

  constructor(
    private readonly input: TaskInput,
    /** The task's ledger, shared with the workflow (its result carries it). */
    readonly usage: TaskUsage,
    /** The task's activities and (once prepared) its worktree. */
    private readonly steps: TaskSteps,
  ) {
    setHandler(holdSignal, () => {
      this.held = true;
      this.stopAgent('hold');
    });
    setHandler(releaseSignal, () => {
      this.held = false;
    });
    setHandler(steerTaskSignal, ({ message, queue }) => {
      this.inbox.push(message);
      if (!queue) this.stopAgent('steer');
    });
  }

  private stopAgent(why: 'hold' | 'steer'): void {
    if (!this.agentScope || this.interrupt) return;
    this.interrupt = why;
    this.agentScope.cancel();
  }

  /** Tells the mission (live accounting, budget, status notes, its host); never fails the task. */
  async report(note: string | null, held?: boolean, host?: string): Promise<void> {
    const parent = workflowInfo().parent;
    if (!parent) return;
    await getExternalWorkflowHandle(parent.workflowId, parent.runId)
      .signal(taskUpdateSignal, {
        taskId: this.input.task.id,
        usage: { ...this.usage },
        note,
        held,
        ...(host ? { host } : {}),
      })
      .catch(() => undefined);
  }

  /**
   * Tells the mission the usage of the agent run that just ended, when the task goes on (a gate, a
   * steering message): a task that ends now tells it with its result instead. Not awaited: the
   * signal command goes out with the next step's in the same workflow task.
   */
  reportRun(): void {
    void this.report(null);
  }

  /** The prompt that delivers waiting steering messages, or null when there are none. */
  takeMessages(resume: string | null): string | null {
    return this.inbox.length > 0 ? steerPrompt(this.input.task, this.inbox.splice(0), resume !== null) : null;
  }

  /**
   * Runs the agent until it ends on its own with nothing left in the inbox: a `hold` or a steering
   * message stops the run (its attempt ends with a checkpoint) and the session resumes afterwards.
   */
  async converse(prompt: string, iteration: number, resume: string | null): Promise<RunAgentResult> {
    const { task } = this.input;
    for (;;) {
      if (this.held) {
        this.steps.step('held (pause --now)');
        await this.report(
          'paused (--now): the agent was stopped after a checkpoint; `flotilla resume` continues it',
          true,
        );
        await condition(() => !this.held);
        await this.report(null, false);
        // Messages sent while held go with the resume.
        prompt = this.takeMessages(resume) ?? prompt;
      }
      const scope = new CancellationScope();
      this.agentScope = scope;
      try {
        const run = await scope.run(() => this.runAgent(prompt, iteration, resume));
        // Queued messages: the agent's run ended, so its session continues with them.
        resume = this.usage.sessionId;
        const next = this.takeMessages(resume);
        if (next === null) return run;
        this.reportRun();
        prompt = next;
      } catch (err) {
        // The workflow's own cancellation (the mission cancelled) always wins over an interrupt.
        if (!isCancellation(err) || !this.interrupt || CancellationScope.current().consideredCancelled) throw err;
        const { details } = failureDetails(err);
        if (details) addAgentRun(this.usage, details, details.attempt);
        resume = this.usage.sessionId ?? resume;
        prompt = this.takeMessages(resume) ?? resumePrompt(task, resume !== null);
      } finally {
        this.agentScope = null;
        this.interrupt = null;
      }
    }
  }

  /** One agent run for this iteration, through any number of rate-limit waits. */
  private async runAgent(prompt: string, iteration: number, resume: string | null): Promise<RunAgentResult> {
    const { input, usage } = this;
    const { task } = input;
    for (let waits = 0, shutdowns = 0; ;) {
      try {
        const { acts, wt, details } = this.steps;
        details.runs++;
        this.steps.step(`agent running (${task.agent.runtime})`);
        const summary = agentRun(task.agent.runtime, task.id, iteration, details.runs, resume);
        // The run reserves the namespace again; only its own success may say it released it.
        this.steps.namespaceReleased = false;
        const run = await acts.runAgent.executeWithOptions({ summary }, [
          {
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
            repo: this.steps.repo,
            runId: input.runId,
            exclude: input.copy,
            checkpointEveryMs: task.checkpointEveryMs,
            setup: input.setup,
            setupTimeoutMs: SETUP_COMMAND_TIMEOUT_MS,
            ...(input.env?.length ? { setupEnv: input.env } : {}),
            ...(input.redact?.length ? { redact: input.redact } : {}),
            namespace: this.steps.namespace,
            // The attempt commits the work itself when the agent ends well (no commit activity after).
            commitTitle: task.title,
            // Without a gate the task ends after its commit: its namespace goes with the commit.
            ...(task.verify.length === 0 ? { releaseNamespaceAfterCommit: true } : {}),
            ...sessionBaseFor(usage, resume),
          },
        ]);
        addAgentRun(usage, run, run.attempt);
        this.steps.namespaceReleased = run.namespaceReleased === true;
        details.lastEventAt = run.lastEventAt;
        details.retrying = null;
        return run;
      } catch (err) {
        // The task's host is gone (a placed task): the task moves to another host (workflow.ts).
        if (this.steps.placed && hostLost(err)) throw err;
        if (workerStopped(err) && ++shutdowns <= MAX_WORKER_SHUTDOWNS) {
          // The worker running the agent shut down (Ctrl-C on `run`, a worker drained) and the
          // attempts ran out meanwhile: not the agent's failure. Its session goes on elsewhere.
          const { details } = failureDetails(err);
          if (details) addAgentRun(usage, details, details.attempt);
          resume = details?.sessionId ?? usage.sessionId ?? resume;
          prompt = resume ? WORKER_STOPPED_PROMPT : prompt;
          this.steps.details.retrying = `the agent's worker stopped (${failureMessage(err)}); its session goes on`;
          continue;
        }
        if (isCancellation(err)) throw err;
        const { type, details } = failureDetails(err);
        // Without details (a timeout, a lost worker) every attempt the policy allowed was spent.
        if (details) addAgentRun(usage, details, details.attempt);
        else usage.attempts += task.agent.retries + 1;
        if (type !== ErrorType.AgentRateLimited || ++waits > MAX_RATE_LIMIT_WAITS) throw err;
        // A durable timer: nothing runs and nothing is paid while the limit lasts; the session
        // then continues with a short nudge, so no finished turn is repeated.
        const waitMs = Math.max(1000, details?.retryAfterMs ?? 60_000);
        const until = Date.now() + waitMs;
        this.steps.step('waiting out a rate limit');
        this.steps.details.retrying = `${failureMessage(err)}; resuming at ${new Date(until).toISOString().slice(11, 19)} UTC`;
        await this.report(`${failureMessage(err)}; resuming in ${Math.round(waitMs / 1000)}s`);
        await sleep(waitMs, { summary: rateLimitWait(task.id, until) });
        resume = details?.sessionId ?? resume;
        prompt = resume ? RATE_LIMIT_RESUME_PROMPT : prompt;
      }
    }
  }
}
