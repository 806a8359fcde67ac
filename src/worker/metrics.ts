/**
 * Flotilla's own Prometheus metrics, recorded in the worker process with prom-client.
 *
 * They are recorded by an activity interceptor ({@link FlotillaMetrics.activityInterceptor}),
 * not by the activities: the activities stay free of metrics code, a worker without `--metrics`
 * registers no interceptor (nothing is recorded, prom-client is never loaded), and a metrics
 * error is caught where it happens, so it can never fail an activity or change what it returns
 * or throws.
 *
 * What each activity tells (its input and its result or failure, as recorded in history):
 * - `runAgent`: agents running, attempts by outcome and failure class, cost and tokens (what this
 *   attempt added: its result or failure details minus where the attempt started counting, see
 *   `activityStart` in src/mission/usage.ts), rate limits (`AgentRateLimited` with `retryAfterMs`:
 *   the task workflow then waits that long, durably);
 * - `runChecks` (task gate) and `verifyAt` (mission verify on a merge batch): verify runs;
 * - `queueMerge` (the merge queue): merges.
 * The merge queue's length lives in the mission workflow: it is a workflow metric
 * (src/workflows/queue-metrics.ts), exported with the SDK's.
 */
import type { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { RunAgentInput, RunAgentResult } from '../agents/types';
import type { ChecksResult } from '../agents/commands';
import { previousHeartbeat } from '../activities/heartbeat';
import { secretRedactor } from '../secrets/secrets';
import type { QueueMergeBatchResult, QueueMergeResult } from '../git/merge-queue-types';
import { ErrorType } from '../mission/error-types';
import { activityStart, type AgentUsage, type Counters } from '../mission/usage';

/** `failure_class` of an attempt that did not fail. */
const NO_FAILURE = 'none';
/** `failure_class` of an error that is not one of Flotilla's ApplicationFailure types. */
const OTHER_FAILURE = 'other';
const KNOWN_TYPES = new Set<string>(Object.values(ErrorType));

/** How an agent attempt ended: the `outcome` label of `flotilla_agent_attempts_total`. */
export type AttemptOutcome = 'succeeded' | 'failed' | 'cancelled';

/**
 * The outcome and failure class of an agent attempt that threw `err`: `cancelled` for a
 * cancellation (steer, `pause --now`, worker shutdown), else `failed` with the ApplicationFailure's
 * type (src/mission/error-types.ts) or `other`.
 */
export function attemptFailure(err: unknown): { outcome: AttemptOutcome; failureClass: string } {
  if (err instanceof CancelledFailure) return { outcome: 'cancelled', failureClass: NO_FAILURE };
  const type = err instanceof ApplicationFailure ? err.type : undefined;
  return { outcome: 'failed', failureClass: type && KNOWN_TYPES.has(type) ? type : OTHER_FAILURE };
}

/** The `outcome` of a verify run: the checks' result, or what the activity threw. */
export function verifyOutcome(r: ChecksResult | undefined, err?: unknown): string {
  if (!r) return err instanceof CancelledFailure ? 'cancelled' : 'error';
  if (r.ok) return 'passed';
  return r.failed?.timedOut ? 'timeout' : 'failed';
}

/** The `outcome` of a merge: `merged`, `already_merged`, `conflict`, or `error` when it threw. */
export function mergeOutcome(r: QueueMergeResult | undefined): string {
  if (!r) return 'error';
  if (r.status === 'conflict') return 'conflict';
  return r.alreadyMerged ? 'already_merged' : 'merged';
}

/** What an attempt added to `start` when it ended at `end` (never negative: counters only grow). */
export function usageDelta(start: Counters, end: Partial<Counters> | undefined): Counters {
  const d = (k: keyof Counters): number => Math.max(0, (Number(end?.[k]) || 0) - start[k]);
  return { turns: d('turns'), costUsd: d('costUsd'), inputTokens: d('inputTokens'), outputTokens: d('outputTokens') };
}

/** The usage an agent failure carries (`AgentFailureDetails`, the first detail), if any. */
function failureUsage(err: unknown): (Partial<AgentUsage> & { retryAfterMs?: number }) | undefined {
  const details = err instanceof ApplicationFailure || err instanceof CancelledFailure ? err.details : undefined;
  const first = details?.[0];
  return first && typeof first === 'object' ? (first as Partial<AgentUsage> & { retryAfterMs?: number }) : undefined;
}

export interface FlotillaMetricsOptions {
  /**
   * Told about a metrics error (once: later ones are dropped), e.g. to log it. Default: a line on
   * stderr. Never called for an activity's own errors.
   */
  onError?: (err: unknown) => void;
  /** Also collect prom-client's default process metrics (`process_*`, `nodejs_*`; default true). */
  processMetrics?: boolean;
}

/**
 * Flotilla's metrics in a registry of their own (see the module comment for where each comes
 * from; README "Metrics" for names, labels and meanings).
 */
export class FlotillaMetrics {
  readonly registry = new Registry();
  readonly agentsRunning: Gauge<'runtime' | 'role'>;
  readonly attempts: Counter<'runtime' | 'role' | 'outcome' | 'failure_class'>;
  readonly costUsd: Counter<'runtime' | 'model'>;
  readonly tokens: Counter<'runtime' | 'model' | 'type'>;
  readonly rateLimitWaits: Counter<'runtime'>;
  readonly rateLimitWaitSeconds: Counter<'runtime'>;
  readonly verifyRuns: Counter<'scope' | 'outcome'>;
  readonly merges: Counter<'outcome'>;
  /** 1 when the last scrape got the SDK's metrics, 0 when it could not (set by the server). */
  readonly sdkUp: Gauge;
  private errorReported = false;
  private readonly onError: (err: unknown) => void;

  constructor(opts: FlotillaMetricsOptions = {}) {
    this.onError =
      opts.onError ??
      ((err) => process.stderr.write(`flotilla worker: a metric could not be recorded: ${(err as Error).message}\n`));
    const registers = [this.registry];
    this.agentsRunning = new Gauge({
      name: 'flotilla_agents_running',
      help: 'Agent attempts running in this worker now (role: task agent or merge-conflict resolver)',
      labelNames: ['runtime', 'role'],
      registers,
    });
    this.attempts = new Counter({
      name: 'flotilla_agent_attempts_total',
      help: 'Agent attempts ended, by outcome (succeeded, failed, cancelled) and failure class (the error type, or none)',
      labelNames: ['runtime', 'role', 'outcome', 'failure_class'],
      registers,
    });
    this.costUsd = new Counter({
      name: 'flotilla_agent_cost_usd_total',
      help: 'Cost the agents reported, USD, counted when each attempt ends (model: the mission file model, or default)',
      labelNames: ['runtime', 'model'],
      registers,
    });
    this.tokens = new Counter({
      name: 'flotilla_agent_tokens_total',
      help: 'Tokens the agents reported (type: input or output), counted when each attempt ends',
      labelNames: ['runtime', 'model', 'type'],
      registers,
    });
    this.rateLimitWaits = new Counter({
      name: 'flotilla_rate_limit_waits_total',
      help: 'Agent attempts ended by a rate limit; each makes its task wait durably, then resume the session',
      labelNames: ['runtime'],
      registers,
    });
    this.rateLimitWaitSeconds = new Counter({
      name: 'flotilla_rate_limit_wait_seconds_total',
      help: 'Waits the rate limits asked for (retry-after, or 60 s when the agent gave none), seconds',
      labelNames: ['runtime'],
      registers,
    });
    this.verifyRuns = new Counter({
      name: 'flotilla_verify_runs_total',
      help: 'Verify runs by scope (mission: the merge queue verifying a batch, its rerun or a bisection step; task: every other check run, i.e. task gates and the checks of a conflict resolution) and outcome (passed, failed, timeout, error, cancelled)',
      labelNames: ['scope', 'outcome'],
      registers,
    });
    this.merges = new Counter({
      name: 'flotilla_merges_total',
      help: "Merges of task branches onto the merge queue's candidate, by outcome (merged, already_merged, conflict, error)",
      labelNames: ['outcome'],
      registers,
    });
    this.sdkUp = new Gauge({
      name: 'flotilla_sdk_metrics_up',
      help: "1 when this scrape includes the Temporal SDK's metrics, 0 when its exporter did not answer",
      registers,
    });
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** The registry's text (Prometheus exposition format 0.0.4). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * For `WorkerOptions.interceptors.activity`: records what the activities above tell, and
   * returns what the activity returned or rethrows what it threw, untouched.
   */
  readonly activityInterceptor: ActivityInterceptorsFactory = (ctx: Context) => ({
    inbound: {
      execute: (input, next) => this.observe(ctx.info, input.args[0], () => next(input)),
    },
  });

  /**
   * Runs `run` (one activity execution of type `info.activityType` with first argument `arg`)
   * and records it. Never throws for a metric: only `run`'s own errors come out.
   */
  async observe<T>(
    info: { activityType: string; attempt: number; heartbeatDetails?: unknown },
    arg: unknown,
    run: () => Promise<T>,
  ): Promise<T> {
    switch (info.activityType) {
      case 'runAgent':
        return this.observeAgent(info, arg as RunAgentInput, run);
      case 'runChecks':
        return this.observeResult(run, (r, err) =>
          this.verifyRuns.inc({ scope: 'task', outcome: verifyOutcome(r as ChecksResult | undefined, err) }),
        );
      case 'verifyAt':
        return this.observeResult(run, (r, err) =>
          this.verifyRuns.inc({ scope: 'mission', outcome: verifyOutcome(r as ChecksResult | undefined, err) }),
        );
      case 'queueMerge':
        return this.observeResult(run, (r) =>
          this.merges.inc({ outcome: mergeOutcome(r as QueueMergeResult | undefined) }),
        );
      case 'queueMergeBatch':
        return this.observeResult(run, (r) => {
          const b = r as QueueMergeBatchResult | undefined;
          if (!b) return this.merges.inc({ outcome: 'error' });
          for (const x of b.merged) this.merges.inc({ outcome: x.alreadyMerged ? 'already_merged' : 'merged' });
          if (b.conflict) this.merges.inc({ outcome: 'conflict' });
        });
      default:
        return run();
    }
  }

  private async observeResult<T>(run: () => Promise<T>, record: (r: T | undefined, err?: unknown) => void): Promise<T> {
    let r: T;
    try {
      r = await run();
    } catch (err) {
      this.safely(() => record(undefined, err));
      throw err;
    }
    this.safely(() => record(r));
    return r;
  }

  private async observeAgent<T>(
    info: { attempt: number; heartbeatDetails?: unknown },
    input: RunAgentInput,
    run: () => Promise<T>,
  ): Promise<T> {
    const runtime = String(input?.agent?.runtime ?? 'unknown');
    const role = input?.role ?? 'task';
    // The one label taken from the mission file's text: no secret's value in a label either.
    const model = secretRedactor().text(input?.agent?.model ?? 'default');
    // Where this attempt starts counting: the same start the attempt itself takes.
    const start = this.safely(() => activityStart(input, previousHeartbeat(info)));
    this.safely(() => this.agentsRunning.inc({ runtime, role }));
    const ended = (outcome: AttemptOutcome, failureClass: string, usage: Partial<Counters> | undefined): void => {
      this.attempts.inc({ runtime, role, outcome, failure_class: failureClass });
      if (!start || !usage) return;
      const d = usageDelta(start, usage);
      if (d.costUsd > 0) this.costUsd.inc({ runtime, model }, d.costUsd);
      if (d.inputTokens > 0) this.tokens.inc({ runtime, model, type: 'input' }, d.inputTokens);
      if (d.outputTokens > 0) this.tokens.inc({ runtime, model, type: 'output' }, d.outputTokens);
    };
    try {
      const r = await run();
      this.safely(() => ended('succeeded', NO_FAILURE, r as RunAgentResult));
      return r;
    } catch (err) {
      this.safely(() => {
        const { outcome, failureClass } = attemptFailure(err);
        const usage = failureUsage(err);
        ended(outcome, failureClass, usage);
        if (failureClass === ErrorType.AgentRateLimited) {
          this.rateLimitWaits.inc({ runtime });
          const ms = Number(usage?.retryAfterMs);
          if (ms > 0) this.rateLimitWaitSeconds.inc({ runtime }, ms / 1000);
        }
      });
      throw err;
    } finally {
      this.safely(() => this.agentsRunning.dec({ runtime, role }));
    }
  }

  /** Runs `fn`; a metrics error is reported once and swallowed. */
  private safely<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      if (!this.errorReported) {
        this.errorReported = true;
        try {
          this.onError(err);
        } catch {
          // Reporting must not fail either.
        }
      }
      return undefined;
    }
  }
}
