/**
 * Runs one attempt of a task's agent: a process group in the task's worktree, every raw output
 * line to a transcript file, heartbeats every ~2 s carrying resumable state, and the whole group
 * killed on cancellation, on `timeout` and on `idleTimeout` (stalled).
 *
 * On a retry (a crashed worker, a killed or failed agent) the attempt reads the last heartbeat's
 * details and resumes the agent's own session with a continuation prompt that states the task and
 * what the worktree already holds; where the session cannot be resumed it starts fresh with that
 * prompt. A process group an earlier attempt left behind is killed first (PID file), so two agents
 * never run in one worktree at once.
 *
 * Checkpoints: while the agent runs (every `checkpointEveryMs`) and whenever an attempt ends, the
 * worktree's whole state is snapshotted under `refs/flotilla/checkpoints/<missionId>/<taskId>`
 * without touching the agent's index, HEAD or files (checkpoint.ts). A worktree deleted under a
 * running agent is noticed within a second: the agent's group is killed, the worktree rebuilt
 * from the task branch plus the latest checkpoint (worktree.ts), and the attempt fails with the
 * retryable `WorktreeLost`, so Temporal's retry resumes the agent's session in the new worktree.
 */
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { formatDuration } from '../mission/duration';
import type { AgentSpec, CommandLine } from '../mission/types';
import { names } from '../mission/types';
import { snapshotWorktree } from './checkpoint';
import { ActivityConfig, paths } from './config';
import { gitAt } from './git';
import { killStaleGroup, removePidFile, spawnGroup, Tail, terminateGroup, writePidFile } from './process';
import { runtimes } from './runtimes';
import { taskContract } from './runtimes/contract';
import type { AgentEvent, FailureClass, RuntimeAdapter } from './runtimes/types';
import { ensureTaskWorktree, PrepareWorktreeResult, taskWorktreeNeedsRebuild, taskWorktreePath } from './worktree';

export interface RunAgentInput {
  missionId: string;
  taskId: string;
  worktree: string;
  /** The task branch and the SHA it started from (for the contract and the continuation prompt). */
  branch: string;
  baseSha: string;
  agent: AgentSpec;
  /** The task's own prompt (iteration 1) or the gate's / a steering message (later). */
  prompt: string;
  /** The task as given, restated in continuation prompts after a crash. */
  taskPrompt: string;
  iteration: number;
  /** Resume this agent session (gate iterations, steering, after a rate-limit wait). */
  resumeSessionId?: string | null;
  /**
   * The resumed session's cumulative totals so far: agents report some counters per session
   * (Claude's cost, Codex's tokens), so a resumed run counts only the difference.
   */
  sessionCostUsd?: number;
  sessionInputTokens?: number;
  sessionOutputTokens?: number;
  /**
   * The repository (absolute path). With `runId`, a worktree lost before or during the attempt
   * is rebuilt from the task branch plus its latest checkpoint; without them a lost worktree only
   * fails the attempt.
   */
  repo?: string;
  /** The mission's first run id, owner of the task branch (as given to prepareWorktree). */
  runId?: string;
  /**
   * The mission's `copy` files (e.g. `.env`): never recorded in a checkpoint, and copied again
   * into a rebuilt worktree. Checkpoints are taken only when this is given (an empty list is
   * fine), so a caller that does not say what to exclude never has a secret snapshotted.
   */
  exclude?: string[];
  /** How often to checkpoint while the agent runs, ms; 0 or absent: only at the attempt's end. */
  checkpointEveryMs?: number;
  /** The mission's `setup`, run again in a rebuilt worktree (default: none). */
  setup?: CommandLine[];
  /** Limit for each setup command in a rebuilt worktree, ms (default 20 minutes). */
  setupTimeoutMs?: number;
}

/** Usage counters; cumulative over the attempts of one activity (retries included). */
export interface AgentUsage {
  sessionId: string | null;
  /** The session's cumulative totals as the agent last reported them: the base for a resume. */
  sessionCostUsd: number;
  sessionInputTokens: number;
  sessionOutputTokens: number;
  turns: number;
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
}

export interface RunAgentResult extends AgentUsage {
  /** The Temporal attempt of this activity (1 = first try). */
  attempt: number;
  exitCode: number;
  durationMs: number;
  /** Absolute path of this attempt's transcript (JSON lines). */
  transcript: string;
  /** The agent's final words (Claude's result text, Codex's last message), at most 500 characters. */
  summary: string;
  events: number;
  /** True when this attempt continued an earlier session. */
  resumed: boolean;
  /** The task's latest checkpoint (the snapshot taken when this attempt ended), if any. */
  checkpointSha: string | null;
}

/** Details each heartbeat carries; a retry reads the last ones (`Context.info.heartbeatDetails`). */
export interface AgentHeartbeat extends AgentUsage {
  pgid: number;
  attempt: number;
  events: number;
  lastEventAt: string;
  transcript: string;
  /** The task's latest checkpoint commit, or null when none is known. */
  checkpointSha: string | null;
  /** Set when this attempt rebuilt a lost worktree: the next attempt's prompt says so. */
  worktreeRebuilt?: boolean;
}

/** Details of every ApplicationFailure runAgent throws (the workflow accounts failed attempts too). */
export interface AgentFailureDetails extends AgentUsage {
  attempt: number;
  /** For `AgentRateLimited`: how long to wait before resuming, ms. */
  retryAfterMs?: number;
  /** The task's latest checkpoint when the attempt ended. */
  checkpointSha?: string | null;
}

/** Variables every agent gets from the worker besides the ones the mission names. */
const BASELINE_ENV = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'TERM'];

/** Rate limits without a delay from the agent wait this long, ms. */
export const DEFAULT_RATE_LIMIT_WAIT_MS = 60_000;

/** Setup commands in a rebuilt worktree get this long each when the caller gives no limit, ms. */
const DEFAULT_SETUP_TIMEOUT_MS = 20 * 60_000;

/** How often the steps around the agent (rebuild, checkpoints) heartbeat, ms. */
const STEP_HEARTBEAT_MS = 5000;

/**
 * True when `worktree` is gone, or (`mustBeGit`) no longer a git worktree: its `.git` file is
 * missing (a deletion in progress removes it before the directory).
 */
function worktreeGone(worktree: string, mustBeGit: boolean): boolean {
  return !existsSync(worktree) || (mustBeGit && !existsSync(path.join(worktree, '.git')));
}

/**
 * The checkpoints of one attempt: snapshots of the worktree under the task's checkpoint ref,
 * one at a time, never failing the attempt (a snapshot that fails is logged and skipped: the
 * agent's work is still in its worktree).
 */
class Checkpoints {
  /** The latest checkpoint commit known. */
  sha: string | null;
  private chain: Promise<void> = Promise.resolve();
  private periodicBusy = false;
  private lastAt = Date.now();

  constructor(
    private readonly input: RunAgentInput,
    private readonly attempt: number,
    private readonly ctx: Context,
    initialSha: string | null,
  ) {
    this.sha = initialSha;
  }

  get enabled(): boolean {
    return this.input.exclude !== undefined;
  }

  /** Called every tick while the agent runs: starts a periodic snapshot when one is due. */
  tick(now: number): void {
    const every = this.input.checkpointEveryMs ?? 0;
    if (!this.enabled || every <= 0 || this.periodicBusy || now - this.lastAt < every) return;
    this.periodicBusy = true;
    this.lastAt = now;
    void this.take(`attempt ${this.attempt} running`).finally(() => {
      this.periodicBusy = false;
    });
  }

  /** Resolves when no snapshot is in flight. */
  settled(): Promise<void> {
    return this.chain;
  }

  /** Takes a snapshot after any that is in flight; resolves when it is recorded (or skipped). */
  take(label: string): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    const run = this.chain.then(async () => {
      try {
        const r = await snapshotWorktree({
          worktree: this.input.worktree,
          ref: names.checkpointRef(this.input.missionId, this.input.taskId),
          exclude: this.input.exclude ?? [],
          message: `flotilla(${this.input.taskId}): checkpoint, ${label}`,
        });
        if (r.sha) this.sha = r.sha;
        if (r.changed) this.ctx.log.debug('checkpoint recorded', { sha: r.sha, label });
      } catch (err) {
        this.ctx.log.warn('checkpoint failed; the work is still in the worktree', {
          error: (err as Error).message,
          label,
        });
      }
    });
    this.chain = run;
    return run;
  }
}

function nextTranscript(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const used = readdirSync(dir)
    .map((f) => /^attempt-(\d+)\.jsonl$/.exec(f)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number);
  return path.join(dir, `attempt-${used.length === 0 ? 1 : Math.max(...used) + 1}.jsonl`);
}

/** The last agent session the newest transcript in `dir` names (read with the runtime's parser), or null. */
function sessionInLastTranscript(adapter: RuntimeAdapter, dir: string): string | null {
  const numbered = (existsSync(dir) ? readdirSync(dir) : [])
    .map((f) => ({ f, n: Number(/^attempt-(\d+)\.jsonl$/.exec(f)?.[1] ?? NaN) }))
    .filter((x) => !Number.isNaN(x.n))
    .sort((a, b) => b.n - a.n);
  if (numbered.length === 0) return null;
  const parse = adapter.parser();
  let session: string | null = null;
  for (const raw of readFileSync(path.join(dir, numbered[0].f), 'utf8').split('\n')) {
    try {
      const rec = JSON.parse(raw) as { stream?: 'stdout' | 'stderr'; line?: unknown };
      if (!rec.stream || typeof rec.line !== 'string') continue;
      session = parse(rec.line, rec.stream)?.sessionId ?? session;
    } catch {
      // A torn last line (the worker died writing it).
    }
  }
  return session;
}

/** What the worktree holds against the task's base, for the continuation prompt. */
async function worktreeSummary(worktree: string, baseSha: string): Promise<string> {
  try {
    const git = await gitAt(worktree);
    const committed = (await git.raw(['diff', '--stat', `${baseSha}...HEAD`])).trim();
    const pending = (await git.raw(['status', '--short'])).trim();
    return [
      committed
        ? `Committed on the task branch since it started:\n${committed}`
        : 'Nothing is committed on the task branch yet.',
      pending
        ? `Uncommitted changes in the worktree:\n${pending.split('\n').slice(0, 40).join('\n')}`
        : 'No uncommitted changes.',
    ].join('\n');
  } catch {
    return '(the worktree state could not be read)';
  }
}

function continuationPrompt(input: RunAgentInput, why: string, state: string): string {
  return [
    `Your previous run on this task was interrupted (${why}). Continue the task; do not redo work that is already done.`,
    '',
    state,
    '',
    'The task, as given:',
    input.taskPrompt,
    ...(input.prompt !== input.taskPrompt ? ['', 'The latest instruction you were working on:', input.prompt] : []),
  ].join('\n');
}

interface RunOutcome extends AgentUsage {
  exitCode: number | null;
  /** `lost`: the worktree vanished while the agent ran. */
  ended: 'exited' | 'timeout' | 'stalled' | 'cancelled' | 'not-found' | 'lost';
  errors: string[];
  stderrTail: string;
  summary: string;
  events: number;
  resultError: boolean;
  /** The last retry delay the agent's API asked for, ms. */
  retryAfterMs?: number;
}

export function createAgentActivities(config: ActivityConfig) {
  return {
    /**
     * @throws non-retryable `AgentNotFound` (program missing, with the install command) and
     *   `AgentAuth` (credentials: what to do); non-retryable `AgentRateLimited` with
     *   `retryAfterMs` in its details (the workflow waits durably, then resumes the session);
     *   retryable `AgentExit`, `AgentTimeout`, `AgentStalled`; retryable `WorktreeLost` when the
     *   worktree vanished while the agent ran (group killed, worktree rebuilt from the task branch
     *   plus its latest checkpoint when `repo` and `runId` are given), non-retryable `WorktreeLost`
     *   when it is gone and cannot be rebuilt; `SetupFailed` (retryable) from a rebuild's setup;
     *   `CancelledFailure` after killing the group when the activity is cancelled. Every
     *   ApplicationFailure carries {@link AgentFailureDetails}. Checkpoints (when `exclude` is
     *   given) are taken before any of these is thrown and never fail the attempt themselves.
     */
    async runAgent(input: RunAgentInput): Promise<RunAgentResult> {
      const ctx = Context.current();
      const attempt = ctx.info.attempt;
      const adapter = runtimes[input.agent.runtime];
      const raw = attempt > 1 ? (ctx.info.heartbeatDetails as Partial<AgentHeartbeat> | undefined) : undefined;
      // Only an agent heartbeat counts: setup commands run during a rebuild heartbeat their own details.
      const prev = raw && typeof raw === 'object' && typeof raw.attempt === 'number' ? raw : undefined;
      const usage: AgentUsage = {
        sessionId: input.resumeSessionId ?? prev?.sessionId ?? null,
        sessionCostUsd: input.resumeSessionId ? (input.sessionCostUsd ?? 0) : (prev?.sessionCostUsd ?? 0),
        sessionInputTokens: input.resumeSessionId ? (input.sessionInputTokens ?? 0) : (prev?.sessionInputTokens ?? 0),
        sessionOutputTokens: input.resumeSessionId
          ? (input.sessionOutputTokens ?? 0)
          : (prev?.sessionOutputTokens ?? 0),
        turns: prev?.turns ?? 0,
        costUsd: prev?.costUsd ?? 0,
        inputTokens: prev?.inputTokens ?? 0,
        outputTokens: prev?.outputTokens ?? 0,
      };
      const runDir = paths.runDir(config.home, input.missionId, input.taskId);
      const pidFile = path.join(runDir, 'agent.pid');
      const ckpt = new Checkpoints(input, attempt, ctx, prev?.checkpointSha ?? null);
      const details = (extra: Partial<AgentFailureDetails> = {}): AgentFailureDetails[] => [
        { ...usage, attempt, checkpointSha: ckpt.sha, ...extra },
      ];
      /** Heartbeats (with this attempt's details) while a step around the agent runs. */
      const beating = async <T>(fn: () => Promise<T>, extra: Partial<AgentHeartbeat> = {}): Promise<T> => {
        const beat = (): void =>
          ctx.heartbeat({
            ...usage,
            pgid: 0,
            attempt,
            events: 0,
            lastEventAt: new Date().toISOString(),
            transcript: '',
            checkpointSha: ckpt.sha,
            ...extra,
          } satisfies AgentHeartbeat);
        beat();
        const timer = setInterval(beat, STEP_HEARTBEAT_MS);
        try {
          return await fn();
        } finally {
          clearInterval(timer);
          // The last details a retry reads must be the agent's, not a setup command's.
          beat();
        }
      };
      const { repo, runId } = input;
      // A rebuild needs the repository and the run, and makes the worktree at its usual path.
      const canRebuild =
        !!repo && !!runId && taskWorktreePath(config.home, input.missionId, runId, input.taskId) === input.worktree;
      /** Rebuilds a lost worktree from the task branch plus its latest checkpoint. */
      const rebuild = async (): Promise<PrepareWorktreeResult> => {
        if (!canRebuild || !repo || !runId) {
          throw ApplicationFailure.create({
            message: `the worktree ${input.worktree} is gone and this attempt cannot rebuild it; retry the task (flotilla retry ${input.missionId} ${input.taskId})`,
            type: 'WorktreeLost',
            nonRetryable: true,
            details: details(),
          });
        }
        const wt = await ensureTaskWorktree(config.home, {
          missionId: input.missionId,
          runId,
          taskId: input.taskId,
          repo,
          baseSha: input.baseSha,
          setup: input.setup ?? [],
          copy: input.exclude ?? [],
          setupTimeoutMs: input.setupTimeoutMs ?? DEFAULT_SETUP_TIMEOUT_MS,
        });
        ctx.log.warn('rebuilt a lost worktree from the task branch and its latest checkpoint', {
          worktree: wt.worktree,
          restoredCheckpoint: wt.restoredCheckpoint,
        });
        if (wt.restoredCheckpoint) ckpt.sha = wt.restoredCheckpoint;
        return wt;
      };

      const stale = await killStaleGroup(pidFile);
      if (stale) ctx.log.warn('killed an agent process group left by an earlier attempt', { pgid: stale });

      let rebuiltNow = false;
      await beating(async () => {
        // When it can, a directory that is no longer a worktree, or whose rebuild was interrupted,
        // is rebuilt too.
        const needsRebuild =
          canRebuild && runId
            ? taskWorktreeNeedsRebuild(config.home, { missionId: input.missionId, runId, taskId: input.taskId })
            : worktreeGone(input.worktree, false);
        if (needsRebuild) {
          await rebuild();
          rebuiltNow = true;
        } else if (attempt > 1) {
          // What the interrupted attempt left, recorded before this one changes anything.
          await ckpt.take(`before attempt ${attempt}`);
        }
      });

      if (ctx.cancellationSignal.aborted) {
        // Cancelled while the worktree was being rebuilt or checkpointed: launch nothing.
        await beating(() => ckpt.take(`attempt ${attempt} cancelled before it started`));
        throw new CancelledFailure('agent cancelled before it started');
      }

      let prompt = input.prompt;
      if (attempt > 1) {
        const why =
          prev?.worktreeRebuilt || rebuiltNow
            ? 'its worktree was deleted; Flotilla rebuilt it from the task branch and your latest checkpoint, so changes made after that checkpoint may be missing'
            : ctx.info.heartbeatDetails
              ? 'the worker or the agent stopped before it finished'
              : 'it failed';
        prompt = continuationPrompt(input, why, await worktreeSummary(input.worktree, input.baseSha));
      }
      if (attempt > 1 && usage.sessionId === null && input.agent.runtime !== 'command') {
        // A worker that died within a heartbeat interval of the agent's start never reported the
        // session; the interrupted attempt's transcript names it.
        usage.sessionId = sessionInLastTranscript(adapter, runDir);
        if (usage.sessionId)
          ctx.log.info('resuming the session named in the last transcript', { sessionId: usage.sessionId });
      }
      const transcript = nextTranscript(runDir);
      const started = Date.now();
      let resumed = usage.sessionId !== null && input.agent.runtime !== 'command';
      let outcome = await runOnce(
        adapter,
        input,
        prompt,
        resumed ? usage.sessionId : null,
        usage,
        transcript,
        pidFile,
        attempt,
        ctx,
        ckpt,
      );
      if (resumed && outcome.ended === 'exited' && outcome.exitCode !== 0) {
        const cls = adapter.classify(outcome.exitCode, outcome.errors, outcome.stderrTail);
        if (cls.kind === 'session_not_found') {
          // The session is gone (another host, a cleaned home): start fresh, restating the task.
          ctx.log.warn('agent session not found; starting a fresh one', { sessionId: usage.sessionId });
          resumed = false;
          usage.sessionId = null;
          usage.sessionCostUsd = 0;
          usage.sessionInputTokens = 0;
          usage.sessionOutputTokens = 0;
          const fresh = continuationPrompt(
            input,
            'its session could not be resumed',
            await worktreeSummary(input.worktree, input.baseSha),
          );
          outcome = await runOnce(adapter, input, fresh, null, usage, transcript, pidFile, attempt, ctx, ckpt);
        }
      }
      if (outcome.ended === 'lost') {
        // The agent's group is dead (runOnce killed it). Rebuild now, so the retry finds the
        // worktree ready; if that fails, the next attempt tries again before it starts.
        const lostAfterMs = Date.now() - started;
        const rebuilt = await beating(
          async (): Promise<{ wt: PrepareWorktreeResult | null; error: unknown }> => {
            try {
              // A snapshot that was running when the worktree went must end (or roll itself
              // back) before a new worktree appears at the same path.
              await ckpt.settled();
              const wt = await rebuild();
              await ckpt.take(`attempt ${attempt} lost its worktree`);
              return { wt, error: null };
            } catch (error) {
              return { wt: null, error };
            }
          },
          { worktreeRebuilt: true },
        );
        if (ctx.cancellationSignal.aborted)
          throw new CancelledFailure('agent cancelled; its process group was killed', details());
        if (rebuilt.error instanceof ApplicationFailure && rebuilt.error.nonRetryable) throw rebuilt.error;
        const how = rebuilt.wt
          ? `rebuilt it from the task branch${rebuilt.wt.restoredCheckpoint ? ` plus checkpoint ${rebuilt.wt.restoredCheckpoint.slice(0, 12)}` : ''}`
          : `could not rebuild it yet (${(rebuilt.error as Error).message}); the retry will try again`;
        throw ApplicationFailure.create({
          message: `the worktree ${input.worktree} was deleted while the agent ran (after ${formatDuration(lostAfterMs)}); its process group was killed; Flotilla ${how}`,
          type: 'WorktreeLost',
          details: details(),
        });
      }
      await beating(() => ckpt.take(`attempt ${attempt} ${endedLabel(outcome)}`));
      // The usage travels with the cancellation: a stopped (steered, held) agent's session resumes.
      if (outcome.ended === 'cancelled')
        throw new CancelledFailure('agent cancelled; its process group was killed', details());
      if (outcome.ended === 'not-found') {
        throw ApplicationFailure.create({
          message: `agent program not found for runtime "${input.agent.runtime}": ${adapter.install}`,
          type: 'AgentNotFound',
          nonRetryable: true,
          details: details(),
        });
      }
      if (outcome.ended === 'timeout') {
        throw ApplicationFailure.retryable(
          `agent attempt timed out after ${formatDuration(input.agent.timeoutMs)} (timeout); its process group was killed`,
          'AgentTimeout',
          ...details(),
        );
      }
      if (outcome.ended === 'stalled') {
        throw ApplicationFailure.retryable(
          `agent stalled: no output for ${formatDuration(input.agent.idleTimeoutMs)} (idleTimeout); its process group was killed`,
          'AgentStalled',
          ...details(),
        );
      }
      if (outcome.exitCode !== 0 || outcome.resultError) {
        const cls = adapter.classify(outcome.exitCode, outcome.errors, outcome.stderrTail);
        if (cls.kind === 'rate_limit') cls.retryAfterMs ??= outcome.retryAfterMs;
        throw failureFor(cls, input.agent.runtime, outcome.exitCode, details);
      }
      return {
        ...usage,
        attempt,
        exitCode: 0,
        durationMs: Date.now() - started,
        transcript,
        summary: outcome.summary,
        events: outcome.events,
        resumed,
        checkpointSha: ckpt.sha,
      };
    },
  };
}

/** How an attempt ended, for checkpoint messages: `exited 0`, `timeout`, `cancelled`… */
function endedLabel(outcome: RunOutcome): string {
  return outcome.ended === 'exited' ? `exited ${outcome.exitCode ?? 'by a signal'}` : outcome.ended;
}

function failureFor(
  cls: FailureClass,
  runtime: string,
  exitCode: number | null,
  details: (extra?: Partial<AgentFailureDetails>) => AgentFailureDetails[],
): ApplicationFailure {
  switch (cls.kind) {
    case 'auth': {
      const fix =
        runtime === 'claude'
          ? 'set ANTHROPIC_API_KEY on the worker (Flotilla passes it through), or run `claude` and /login as the worker user'
          : runtime === 'codex'
            ? 'set OPENAI_API_KEY on the worker (Flotilla passes it through), or run `codex login` as the worker user'
            : 'fix the credentials the command uses';
      return ApplicationFailure.create({
        message: `authentication failed: ${cls.message}; ${fix}`,
        type: 'AgentAuth',
        nonRetryable: true,
        details: details(),
      });
    }
    case 'rate_limit':
      return ApplicationFailure.create({
        message: `rate limited: ${cls.message}`,
        type: 'AgentRateLimited',
        // The workflow owns the wait (a durable timer) so waiting costs no attempt and no worker.
        nonRetryable: true,
        details: details({ retryAfterMs: cls.retryAfterMs ?? DEFAULT_RATE_LIMIT_WAIT_MS }),
      });
    default:
      return ApplicationFailure.create({
        message: `agent exited with code ${exitCode}: ${cls.message}`,
        type: 'AgentExit',
        details: details(),
      });
  }
}

/** Runs the agent once, streaming its output into the transcript and `usage`. */
async function runOnce(
  adapter: RuntimeAdapter,
  input: RunAgentInput,
  prompt: string,
  resumeSessionId: string | null,
  usage: AgentUsage,
  transcript: string,
  pidFile: string,
  attempt: number,
  ctx: Context,
  ckpt: Checkpoints,
): Promise<RunOutcome> {
  const launch = adapter.build({
    agent: input.agent,
    prompt,
    worktree: input.worktree,
    missionId: input.missionId,
    taskId: input.taskId,
    resumeSessionId: resumeSessionId ?? undefined,
    contract: taskContract(input.taskId, input.branch, input.worktree),
  });
  const env: NodeJS.ProcessEnv = {};
  for (const name of [...BASELINE_ENV, ...adapter.defaultEnv, ...input.agent.env]) {
    if (process.env[name] !== undefined) env[name] = process.env[name];
  }
  Object.assign(env, launch.env);

  const out = createWriteStream(transcript, { flags: 'a' });
  const record = (obj: Record<string, unknown>): void =>
    void out.write(`${JSON.stringify({ ts: new Date().toISOString(), ...obj })}\n`);
  record({
    type: 'flotilla.attempt',
    attempt,
    iteration: input.iteration,
    runtime: input.agent.runtime,
    resume: resumeSessionId,
    argv0: launch.argv[0],
  });

  const started = Date.now();
  let lastEventAt = started;
  let events = 0;
  let summary = '';
  let resultError = false;
  let retryAfterMs: number | undefined;
  // A resumed session reports cumulative totals; this run's share is the difference.
  const sessionBase = resumeSessionId
    ? { costUsd: usage.sessionCostUsd, inputTokens: usage.sessionInputTokens, outputTokens: usage.sessionOutputTokens }
    : { costUsd: 0, inputTokens: 0, outputTokens: 0 };
  const errors: string[] = [];
  const errTail = new Tail(2000);
  const run = { turns: 0, costUsd: 0, inputTokens: 0, outputTokens: 0 };
  const base = {
    turns: usage.turns,
    costUsd: usage.costUsd,
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
  };
  const publish = (): void => {
    usage.turns = base.turns + run.turns;
    usage.costUsd = base.costUsd + run.costUsd;
    usage.inputTokens = base.inputTokens + run.inputTokens;
    usage.outputTokens = base.outputTokens + run.outputTokens;
  };
  const apply = (ev: AgentEvent): void => {
    events++;
    if (ev.sessionId) usage.sessionId = ev.sessionId;
    if (ev.turn) run.turns++;
    run.inputTokens += ev.inputTokens ?? 0;
    run.outputTokens += ev.outputTokens ?? 0;
    if (ev.totalTurns !== undefined) run.turns = ev.totalTurns;
    if (ev.totalCostUsd !== undefined) {
      run.costUsd = Math.max(0, ev.totalCostUsd - sessionBase.costUsd);
      usage.sessionCostUsd = ev.totalCostUsd;
    }
    if (ev.sessionInputTokens !== undefined) {
      run.inputTokens = Math.max(0, ev.sessionInputTokens - sessionBase.inputTokens);
      usage.sessionInputTokens = ev.sessionInputTokens;
    }
    if (ev.sessionOutputTokens !== undefined) {
      run.outputTokens = Math.max(0, ev.sessionOutputTokens - sessionBase.outputTokens);
      usage.sessionOutputTokens = ev.sessionOutputTokens;
    }
    if (ev.retryAfterMs !== undefined) retryAfterMs = ev.retryAfterMs;
    if (ev.totalInputTokens !== undefined) run.inputTokens = ev.totalInputTokens;
    if (ev.totalOutputTokens !== undefined) run.outputTokens = ev.totalOutputTokens;
    if (ev.kind === 'error' || ev.isError) errors.push(ev.text);
    if (ev.kind === 'result') {
      resultError = !!ev.isError;
      summary = ev.text.replace(/^(done|error)[^:]*: /, '').slice(0, 500);
    } else if (ev.kind === 'text' && ev.text && !ev.text.startsWith('[stderr]')) summary = ev.text.slice(0, 500);
    publish();
  };

  let proc: ReturnType<typeof spawnGroup>;
  try {
    proc = spawnGroup(launch.argv, { cwd: input.worktree, env, extendEnv: false });
  } catch {
    await new Promise<void>((resolve) => out.end(resolve));
    return { ...usage, exitCode: null, ended: 'not-found', errors, stderrTail: '', summary, events, resultError };
  }
  const { child, pgid } = proc;
  if (pgid > 0) writePidFile(pidFile, pgid);
  const isGit = existsSync(path.join(input.worktree, '.git'));
  const parse = adapter.parser();
  const read = (stream: NodeJS.ReadableStream | null, name: 'stdout' | 'stderr'): void => {
    if (!stream) return;
    readline.createInterface({ input: stream }).on('line', (line) => {
      lastEventAt = Date.now();
      record({ stream: name, line });
      if (name === 'stderr') errTail.push(`${line}\n`);
      const ev = parse(line, name);
      if (ev) apply(ev);
    });
  };
  read(child.stdout, 'stdout');
  read(child.stderr, 'stderr');

  let ended: RunOutcome['ended'] | undefined;
  const stop = (why: 'timeout' | 'stalled' | 'cancelled' | 'lost'): void => {
    if (ended) return;
    ended = why;
    void terminateGroup(pgid);
  };
  const onCancel = (): void => stop('cancelled');
  ctx.cancellationSignal.addEventListener('abort', onCancel);
  // A cancellation that arrived before the listener (during a rebuild) must not be missed.
  if (ctx.cancellationSignal.aborted) onCancel();
  const beat = (): void => {
    const details: AgentHeartbeat = {
      ...usage,
      pgid,
      attempt,
      events,
      lastEventAt: new Date(lastEventAt).toISOString(),
      transcript,
      checkpointSha: ckpt.sha,
    };
    ctx.heartbeat(details);
  };
  beat();
  const tick = setInterval(() => {
    const now = Date.now();
    // An agent whose worktree is gone can only fail or write into nowhere: stop it at once.
    if (worktreeGone(input.worktree, isGit)) stop('lost');
    else if (now - started > input.agent.timeoutMs) stop('timeout');
    else if (now - lastEventAt > input.agent.idleTimeoutMs) stop('stalled');
    else ckpt.tick(now);
    beat();
  }, 1000);

  try {
    const result = await child;
    // Whatever the agent left running in the background ends with its attempt.
    await terminateGroup(pgid, ended ? 2000 : 500);
    // With `reject: false`, execa resolves a failed spawn as a result carrying the errno.
    const failedSpawn = result as unknown as { code?: string; message?: string };
    if (failedSpawn.code === 'ENOENT' || (result.exitCode === undefined && /ENOENT/.test(failedSpawn.message ?? ''))) {
      ended = 'not-found';
    }
    record({
      type: 'flotilla.exit',
      exitCode: result.exitCode ?? null,
      signal: result.signal ?? null,
      ended: ended ?? 'exited',
      durationMs: Date.now() - started,
      ...usage,
    });
    beat();
    return {
      ...usage,
      exitCode: result.exitCode ?? null,
      ended: ended ?? 'exited',
      errors,
      stderrTail: errTail.toString(),
      summary,
      events,
      resultError,
      retryAfterMs,
    };
  } finally {
    clearInterval(tick);
    ctx.cancellationSignal.removeEventListener('abort', onCancel);
    removePidFile(pidFile, pgid);
    await new Promise<void>((resolve) => out.end(resolve));
  }
}
