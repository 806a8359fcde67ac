/**
 * One attempt of `runAgent`, in three steps:
 * - {@link AgentAttempt.prepare}: kill a group an earlier attempt left, rebuild a lost worktree or
 *   checkpoint what the interrupted attempt left, and choose the prompt (the continuation prompt
 *   on a retry) and the session to resume;
 * - {@link AgentAttempt.launch}: run the agent (agent-launch.ts), once more with a fresh session
 *   when the one to resume is gone;
 * - {@link AgentAttempt.settle}: classify the outcome, take the final checkpoint, and return the
 *   result or throw the failure, always with {@link AgentFailureDetails}.
 * Usage starts from the usage ledger's {@link activityStart} and is metered by its RunMeter: the
 * attempt copies no counters by hand.
 */
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { formatDuration } from '../mission/duration';
import { ErrorType } from '../mission/error-types';
import { activityStart, forgetSession } from '../mission/usage';
import { AttemptCheckpoints } from './agent-checkpoints';
import { endedLabel, launchFailure } from './agent-failures';
import { launchAgent, LaunchOutcome } from './agent-launch';
import type { AgentFailureDetails, AgentHeartbeat, AgentUsage, RunAgentInput, RunAgentResult } from './agent-types';
import { ActivityConfig, paths } from './config';
import { AgentHeartbeater, previousHeartbeat } from './heartbeat';
import { killStaleGroup } from './process';
import { continuationPrompt, interruptionOf, mergeSummary, worktreeSummary } from './prompts';
import { runtimes } from './runtimes';
import type { RuntimeAdapter } from './runtimes/types';
import { nextTranscript, sessionInLastTranscript } from './transcript';
import { ensureTaskWorktree, PrepareWorktreeResult, taskWorktreeNeedsRebuild, taskWorktreePath } from './worktree';

/** Setup commands in a rebuilt worktree get this long each when the caller gives no limit, ms. */
const DEFAULT_SETUP_TIMEOUT_MS = 20 * 60_000;

/** What {@link AgentAttempt.launch} hands to {@link AgentAttempt.settle}. */
export interface Launched {
  outcome: LaunchOutcome;
  /** True when the launch that counted continued an earlier session. */
  resumed: boolean;
  transcript: string;
  /** Epoch ms when the agent was first launched. */
  startedAt: number;
}

export class AgentAttempt {
  readonly attempt: number;
  /** The attempt's usage, live: the meter updates it, heartbeats and failures carry it. */
  readonly usage: AgentUsage;
  private readonly adapter: RuntimeAdapter;
  private readonly prev: Partial<AgentHeartbeat> | undefined;
  private readonly runDir: string;
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
    // A resolver keeps its transcripts, session and PID file apart from the task agent's: `logs
    // --resolver` shows them alone, and a resolver's retry never resumes (or kills) the task's agent.
    this.runDir =
      input.role === 'resolver'
        ? paths.resolverDir(config.home, input.missionId, input.taskId)
        : paths.runDir(config.home, input.missionId, input.taskId);
    this.pidFile = path.join(this.runDir, 'agent.pid');
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
      if (this.needsRebuild()) {
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
      this.usage.sessionId = sessionInLastTranscript(this.adapter, this.runDir);
      if (this.usage.sessionId)
        ctx.log.info('resuming the session named in the last transcript', { sessionId: this.usage.sessionId });
    }
    const why = interruptionOf(!!this.prev?.worktreeRebuilt || this.rebuiltNow, !!ctx.info.heartbeatDetails);
    return continuationPrompt(input, why, await this.stateSummary());
  }

  /** What the worktree holds, for a continuation prompt. */
  private stateSummary(): Promise<string> {
    const { input } = this;
    return input.role === 'resolver' ? mergeSummary(input.worktree) : worktreeSummary(input.worktree, input.baseSha);
  }

  /** Launches the agent with `prompt`; when the session to resume is gone, once more with a fresh one. */
  async launch(prompt: string): Promise<Launched> {
    const { input, usage } = this;
    const transcript = nextTranscript(this.runDir);
    const startedAt = Date.now();
    const run = (p: string, resume: boolean): Promise<LaunchOutcome> =>
      launchAgent({
        adapter: this.adapter,
        input,
        prompt: p,
        resume,
        usage,
        transcript,
        pidFile: this.pidFile,
        attempt: this.attempt,
        ctx: { cancellationSignal: this.stopSignal, log: this.ctx.log },
        heartbeat: this.heartbeat,
        checkpoints: this.checkpoints,
        flotillaHome: this.config.home,
      });
    let resumed = usage.sessionId !== null && input.agent.runtime !== 'command';
    let outcome = await run(prompt, resumed);
    if (resumed && outcome.ended === 'exited' && outcome.exitCode !== 0) {
      const cls = this.adapter.classify(outcome.exitCode, outcome.errors, outcome.stderrTail);
      if (cls.kind === 'session_not_found') {
        // The session is gone (another host, a cleaned home): start fresh, restating the task.
        this.ctx.log.warn('agent session not found; starting a fresh one', { sessionId: usage.sessionId });
        resumed = false;
        forgetSession(usage);
        const state = await this.stateSummary();
        outcome = await run(continuationPrompt(input, 'session-lost', state), false);
      }
    }
    return { outcome, resumed, transcript, startedAt };
  }

  /**
   * Turns the launch's outcome into the result, or throws (see `runAgent` for the failures).
   * The final checkpoint is taken before anything is thrown.
   */
  async settle({ outcome, resumed, transcript, startedAt }: Launched): Promise<RunAgentResult> {
    const { attempt } = this;
    if (outcome.ended === 'lost') await this.recoverLostWorktree(Date.now() - startedAt);
    await this.heartbeat.during(() => this.checkpoints.take(`attempt ${attempt} ${endedLabel(outcome)}`));
    // The usage travels with the cancellation: a stopped (steered, held) agent's session resumes.
    if (outcome.ended === 'cancelled')
      throw new CancelledFailure('agent cancelled; its process group was killed', [this.details()]);
    const failure = launchFailure(
      outcome,
      this.input.agent,
      this.adapter.install,
      () => this.adapter.classify(outcome.exitCode, outcome.errors, outcome.stderrTail),
      this.details(),
    );
    if (failure) throw failure;
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
    };
  }

  /**
   * A rebuild needs the repository and the run, and makes the worktree at its usual path. A
   * resolver's conflict worktree is never rebuilt here: only `prepareConflict` can set the merge up.
   */
  private get canRebuild(): boolean {
    const { repo, runId, missionId, taskId, worktree, role } = this.input;
    if (role === 'resolver') return false;
    return !!repo && !!runId && taskWorktreePath(this.config.home, missionId, runId, taskId) === worktree;
  }

  /** The worktree is gone, no longer a worktree, or (when it can be rebuilt) its rebuild was interrupted. */
  private needsRebuild(): boolean {
    const { runId, missionId, taskId, worktree } = this.input;
    return this.canRebuild && runId
      ? taskWorktreeNeedsRebuild(this.config.home, { missionId, runId, taskId })
      : !existsSync(worktree);
  }

  /** Rebuilds a lost worktree from the task branch plus its latest checkpoint. */
  private async rebuild(): Promise<PrepareWorktreeResult> {
    const { input } = this;
    if (!this.canRebuild || !input.repo || !input.runId) {
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
    const wt = await ensureTaskWorktree(
      this.config.home,
      {
        missionId: input.missionId,
        runId: input.runId,
        taskId: input.taskId,
        repo: input.repo,
        baseSha: input.baseSha,
        setup: input.setup ?? [],
        copy: input.exclude ?? [],
        setupTimeoutMs: input.setupTimeoutMs ?? DEFAULT_SETUP_TIMEOUT_MS,
        env: input.setupEnv,
        redact: input.redact,
      },
      // Setup commands report through the agent's heartbeat: a retry must read the agent's details.
      { onProgress: () => this.heartbeat.beat() },
    );
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
    if (rebuilt.error instanceof ApplicationFailure && rebuilt.error.nonRetryable) throw rebuilt.error;
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
