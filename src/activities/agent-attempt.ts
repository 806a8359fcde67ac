/**
 * One attempt of `runAgent`, the Temporal side of it, in three steps:
 * - {@link AgentAttempt.prepare}: kill a group an earlier attempt left, rebuild a lost worktree or
 *   checkpoint what the interrupted attempt left, and choose the prompt (the continuation prompt
 *   on a retry) and the session to resume;
 * - {@link AgentAttempt.launch}: run the agent (src/agents/attempt.ts), observed by the heartbeat,
 *   stopped by the activity's cancellation or the worker's drain;
 * - {@link AgentAttempt.settle}: commit the task's work when the agent ended well and the workflow
 *   asked for it (`commitTitle`), else take the final checkpoint; then return the result or throw
 *   the outcome's failure (agent-failures.ts), always with {@link AgentFailureDetails}.
 * The agent itself (processes, streams, timeouts, the outcome) is the agent library's
 * (src/agents); git (checkpoints, a rebuild) is agent-checkpoints.ts and agent-worktree.ts. Usage
 * starts from the usage ledger's {@link activityStart} and is metered by its RunMeter: the attempt
 * copies no counters by hand.
 */
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { Launched, launchAttempt } from '../agents/attempt';
import { releaseNamespace, withNamespace } from '../agents/namespace';
import { endedLabel, outcomeFailure } from '../agents/outcome';
import { agentDir, agentPidFile } from '../agents/paths';
import { killStaleGroup } from '../agents/process';
import { continuationPrompt, interruptionOf } from '../agents/prompts';
import { runtimes } from '../agents/runtimes';
import type { RuntimeAdapter } from '../agents/runtimes/types';
import { sessionInLastTranscript } from '../agents/transcript';
import type {
  AgentCommit,
  AgentFailureDetails,
  AgentHeartbeat,
  AgentUsage,
  RunAgentInput,
  RunAgentResult,
} from '../agents/types';
import { commitAndPublish } from '../git/commit';
import { formatDuration } from '../mission/duration';
import { ErrorType } from '../mission/error-types';
import { activityStart } from '../mission/usage';
import { AttemptCheckpoints } from './agent-checkpoints';
import { agentFailure } from './agent-failures';
import { canRebuild, needsRebuild, rebuildWorktree, stateSummary } from './agent-worktree';
import type { ActivityConfig } from './config';
import { AgentHeartbeater, previousHeartbeat } from './heartbeat';
import { activityFailure } from './host-failures';
import type { PrepareWorktreeResult } from '../git/worktree';

export class AgentAttempt {
  readonly attempt: number;
  /** The attempt's usage, live: the meter updates it, heartbeats and failures carry it. */
  readonly usage: AgentUsage;
  private readonly adapter: RuntimeAdapter;
  private readonly prev: Partial<AgentHeartbeat> | undefined;
  /** The agent's folder: transcripts and PID file (a resolver's apart from the task agent's). */
  private readonly dir: string;
  private readonly pidFile: string;
  private readonly checkpoints: AttemptCheckpoints;
  private readonly heartbeat: AgentHeartbeater;
  private rebuiltNow = false;
  /** Aborted when the activity is cancelled or the worker drains: either stops the agent. */
  private readonly stopSignal: AbortSignal;

  constructor(
    private readonly config: ActivityConfig,
    private readonly input: RunAgentInput,
    private readonly ctx: Context,
    drain?: AbortSignal,
  ) {
    this.stopSignal = drain ? AbortSignal.any([ctx.cancellationSignal, drain]) : ctx.cancellationSignal;
    this.attempt = ctx.info.attempt;
    this.adapter = runtimes[input.agent.runtime];
    this.prev = previousHeartbeat(ctx.info);
    this.usage = activityStart(input, this.prev);
    // `logs --resolver` shows a resolver's transcripts alone, and its retry never resumes (or kills) the task's agent.
    this.dir = agentDir(config.home, input.missionId, input.taskId, input.role);
    this.pidFile = agentPidFile(this.dir);
    // A conflict worktree is not the task's work: it never goes to the task's checkpoint ref.
    const checkpointed = input.role === 'resolver' ? { ...input, exclude: undefined } : input;
    this.checkpoints = new AttemptCheckpoints(checkpointed, this.attempt, ctx.log, this.prev?.checkpointSha ?? null);
    this.heartbeat = new AgentHeartbeater(ctx, this.usage, this.attempt, () => this.checkpoints.sha);
  }

  /** What every failure of this attempt carries. */
  details(extra: Partial<AgentFailureDetails> = {}): AgentFailureDetails {
    return { ...this.usage, attempt: this.attempt, checkpointSha: this.checkpoints.sha, ...extra };
  }

  /**
   * Gets the worktree ready and returns the prompt to launch with.
   * @throws non-retryable `WorktreeLost` when the worktree is gone and cannot be rebuilt;
   *   `SetupFailed` from a rebuild's setup; CancelledFailure when cancelled meanwhile
   */
  async prepare(): Promise<string> {
    const { input, ctx, attempt } = this;
    const stale = await killStaleGroup(this.pidFile);
    if (stale) ctx.log.warn('killed an agent process group left by an earlier attempt', { pgid: stale });
    await this.heartbeat.during(async () => {
      if (needsRebuild(this.config.home, input)) {
        await this.rebuild();
        this.rebuiltNow = true;
      } else if (attempt > 1) {
        // What the interrupted attempt left, recorded before this one changes anything.
        await this.checkpoints.take(`before attempt ${attempt}`);
      }
    });
    if (this.stopSignal.aborted) {
      // Cancelled while the worktree was being rebuilt or checkpointed: launch nothing.
      await this.heartbeat.during(() => this.checkpoints.take(`attempt ${attempt} cancelled before it started`));
      throw new CancelledFailure('agent cancelled before it started');
    }
    if (attempt === 1) return input.prompt;
    if (this.usage.sessionId === null && input.agent.runtime !== 'command') {
      // A worker that died within a heartbeat interval of the agent's start never reported the
      // session; the interrupted attempt's transcript names it.
      this.usage.sessionId = sessionInLastTranscript(this.adapter, this.dir);
      if (this.usage.sessionId)
        ctx.log.info('resuming the session named in the last transcript', { sessionId: this.usage.sessionId });
    }
    const why = interruptionOf(!!this.prev?.worktreeRebuilt || this.rebuiltNow, !!ctx.info.heartbeatDetails);
    return continuationPrompt(input, why, await stateSummary(input));
  }

  /**
   * Launches the agent with `prompt`, in its runtime namespace (reserved on this host, see
   * src/agents/namespace.ts); when the session to resume is gone, once more with a fresh one.
   */
  launch(prompt: string): Promise<Launched> {
    const { input, config } = this;
    return withNamespace(config.home, input.namespace, input.worktree, (namespaceEnv) =>
      this.launchIn(prompt, namespaceEnv),
    );
  }

  private launchIn(prompt: string, namespaceEnv: Record<string, string>): Promise<Launched> {
    return launchAttempt(
      {
        adapter: this.adapter,
        input: this.input,
        dir: this.dir,
        usage: this.usage,
        pidFile: this.pidFile,
        attempt: this.attempt,
        signal: this.stopSignal,
        log: this.ctx.log,
        observer: this.heartbeat,
        onTick: (now) => this.checkpoints.tick(now),
        flotillaHome: this.config.home,
        namespaceEnv,
        stateSummary: () => stateSummary(this.input),
      },
      prompt,
    );
  }

  /**
   * Turns the launch's outcome into the result, or throws (see `runAgent` for the failures).
   * The final checkpoint (or, for an agent that ended well, the task's commit) is made before
   * anything is thrown.
   */
  async settle({ outcome, resumed, transcript, startedAt }: Launched): Promise<RunAgentResult> {
    const { attempt, adapter } = this;
    if (outcome.ended === 'lost') await this.recoverLostWorktree(Date.now() - startedAt);
    const cancelled = outcome.ended === 'cancelled';
    const failure = cancelled
      ? null
      : outcomeFailure(outcome, this.input.agent, adapter.install, () =>
          adapter.classify(outcome.exitCode, outcome.errors, outcome.stderrTail),
        );
    // An agent that ended well gets its commit, which keeps its work; any other end a checkpoint.
    const commit = cancelled || failure ? undefined : await this.commit();
    if (!commit) await this.heartbeat.during(() => this.checkpoints.take(`attempt ${attempt} ${endedLabel(outcome)}`));
    // The usage travels with the cancellation: a stopped (steered, held) agent's session resumes.
    if (cancelled) throw new CancelledFailure('agent cancelled; its process group was killed', [this.details()]);
    if (failure) throw agentFailure(failure, this.details());
    return {
      ...this.usage,
      attempt,
      exitCode: 0,
      durationMs: Date.now() - startedAt,
      transcript,
      summary: outcome.summary,
      events: outcome.events,
      lastEventAt: new Date(outcome.lastEventAt).toISOString(),
      resumed,
      checkpointSha: this.checkpoints.sha,
      ...(commit ? { commit, namespaceReleased: await this.releaseAfterCommit() } : {}),
    };
  }

  /**
   * Releases the task's namespace after its commit when the workflow asked for it
   * (`releaseNamespaceAfterCommit`). A failure is logged, never thrown: the workflow's own
   * `releaseNamespace` then runs at the task's end. @returns whether it was released
   */
  private async releaseAfterCommit(): Promise<boolean> {
    const { input, config } = this;
    if (!input.releaseNamespaceAfterCommit || !input.namespace || config.home === undefined) return false;
    try {
      await releaseNamespace(config.home, input.namespace);
      return true;
    } catch (err) {
      this.ctx.log.warn('releasing the namespace after the commit failed; the workflow releases it', {
        error: (err as Error).message,
      });
      return false;
    }
  }

  /**
   * The task's commit on its branch, when the workflow asked for it (`commitTitle`, a task's agent
   * only): undefined when not asked or when it failed (logged; the workflow's commit step then runs
   * and reports why, and the caller takes the final checkpoint instead).
   */
  private async commit(): Promise<AgentCommit | undefined> {
    const { input } = this;
    if (input.commitTitle === undefined || input.role === 'resolver' || !input.exclude) return undefined;
    const { worktree, taskId, branch, baseSha, exclude } = input;
    try {
      // A periodic checkpoint in flight ends first: it must not land after the commit.
      await this.checkpoints.settled();
      const commit = await this.heartbeat.during(() =>
        commitAndPublish({ worktree, taskId, title: input.commitTitle!, branch, baseSha, exclude }),
      );
      // Nothing new to commit, the branch tip unchanged: an earlier checkpoint on that tip would be
      // restored into a re-made worktree (edits the agent undid since), so the final one replaces it.
      if (!commit.committed && this.checkpoints.sha)
        await this.heartbeat.during(() =>
          this.checkpoints.take(`attempt ${this.attempt} ended, nothing new to commit`),
        );
      return commit;
    } catch (err) {
      this.ctx.log.warn('the task commit at the end of the attempt failed; the workflow commits again', {
        error: (err as Error).message,
      });
      return undefined;
    }
  }

  /**
   * Rebuilds a lost worktree from the task branch plus its latest checkpoint.
   * @throws non-retryable `WorktreeLost` when this attempt cannot rebuild it (agent-worktree.ts
   *   `canRebuild`); what the rebuild throws
   */
  private async rebuild(): Promise<PrepareWorktreeResult> {
    const { input } = this;
    if (!canRebuild(this.config.home, input)) {
      throw ApplicationFailure.create({
        message:
          input.role === 'resolver'
            ? `the conflict worktree ${input.worktree} is gone; the merge must be prepared again (prepareConflict) before a resolver can run`
            : `the worktree ${input.worktree} is gone and this attempt cannot rebuild it; retry the task (flotilla retry ${input.missionId} ${input.taskId})`,
        type: ErrorType.WorktreeLost,
        nonRetryable: true,
        details: [this.details()],
      });
    }
    // Setup commands report through the agent's heartbeat: a retry must read the agent's details.
    const wt = await rebuildWorktree(this.config.home, input, () => this.heartbeat.beat());
    this.ctx.log.warn('rebuilt a lost worktree from the task branch and its latest checkpoint', {
      worktree: wt.worktree,
      restoredCheckpoint: wt.restoredCheckpoint,
    });
    if (wt.restoredCheckpoint) this.checkpoints.sha = wt.restoredCheckpoint;
    return wt;
  }

  /**
   * The worktree vanished while the agent ran (its group is dead by now): rebuild it at once, so
   * the retry finds it ready; if that fails, the next attempt tries again before it starts.
   * @throws always: retryable `WorktreeLost`, the rebuild's non-retryable failure, or
   *   CancelledFailure when cancelled meanwhile
   */
  private async recoverLostWorktree(lostAfterMs: number): Promise<never> {
    const { input, attempt } = this;
    this.heartbeat.markRebuilt();
    const rebuilt = await this.heartbeat.during(
      async (): Promise<{ wt: PrepareWorktreeResult | null; error: unknown }> => {
        try {
          // A checkpoint that was running when the worktree went must end (or roll itself back)
          // before a new worktree appears at the same path.
          await this.checkpoints.settled();
          const wt = await this.rebuild();
          await this.checkpoints.take(`attempt ${attempt} lost its worktree`);
          return { wt, error: null };
        } catch (error) {
          return { wt: null, error };
        }
      },
    );
    if (this.stopSignal.aborted)
      throw new CancelledFailure('agent cancelled; its process group was killed', [this.details()]);
    const error = activityFailure(rebuilt.error);
    if (error instanceof ApplicationFailure && error.nonRetryable) throw error;
    const how = rebuilt.wt
      ? `rebuilt it from the task branch${rebuilt.wt.restoredCheckpoint ? ` plus checkpoint ${rebuilt.wt.restoredCheckpoint.slice(0, 12)}` : ''}`
      : `could not rebuild it yet (${(rebuilt.error as Error).message}); the retry will try again`;
    throw ApplicationFailure.create({
      message: `the worktree ${input.worktree} was deleted while the agent ran (after ${formatDuration(lostAfterMs)}); its process group was killed; Flotilla ${how}`,
      type: ErrorType.WorktreeLost,
      details: [this.details()],
    });
  }
}
