/**
 * How one launch of an agent ended, as read from its output stream and exit, and what failed when
 * it did not end well. The classes (README "Agents": auth, rate limit, timeout, stall, not found,
 * any other exit) are the agent library's; the activity turns them into Temporal failures with
 * Flotilla's error types (src/activities/agent-failures.ts).
 */
import { formatDuration } from '../mission/duration';
import type { AgentSpec } from '../mission/types';
import { RunMeter } from '../mission/usage';
import type { AgentUsage } from './types';
import type { AgentEvent, FailureClass } from './runtimes/types';

/** Rate limits without a delay from the agent wait this long, ms. */
export const DEFAULT_RATE_LIMIT_WAIT_MS = 60_000;

/** How a launch ended. `lost`: the worktree vanished while the agent ran. */
export type Ended = 'exited' | 'timeout' | 'stalled' | 'cancelled' | 'not-found' | 'lost';

export interface LaunchOutcome {
  exitCode: number | null;
  ended: Ended;
  errors: string[];
  stderrTail: string;
  /** The agent's final words, at most 500 characters (redacted where they leave: the worker's boundary). */
  summary: string;
  events: number;
  /** The agent's result said it failed (Claude's `is_error`). */
  resultError: boolean;
  /** The last retry delay the agent's API asked for, ms. */
  retryAfterMs?: number;
  /** When the agent last wrote an event, epoch ms (its launch when it wrote none). */
  lastEventAt: number;
  /** With `ended: 'not-found'`: what is missing and how to install it, when it is not the agent program. */
  missing?: string;
}

/**
 * Builds a launch's {@link LaunchOutcome} from the agent's output: every parsed event counts
 * toward the attempt's usage (the usage ledger's RunMeter, which updates `usage` in place), its
 * errors, its retry delay and its final words.
 */
export class OutcomeRecorder {
  readonly outcome: LaunchOutcome;
  private readonly meter: RunMeter;

  /**
   * @param usage the attempt's live usage, updated after every event
   * @param resume true when the launch continues `usage.sessionId`, whose totals so far are in `usage`
   * @param startedAt when the agent was launched, epoch ms
   */
  constructor(usage: AgentUsage, resume: boolean, startedAt: number) {
    this.meter = new RunMeter(usage, resume);
    this.outcome = {
      exitCode: null,
      ended: 'exited',
      errors: [],
      stderrTail: '',
      summary: '',
      events: 0,
      resultError: false,
      lastEventAt: startedAt,
    };
  }

  /** The agent wrote a line (an event or not) at `at`, epoch ms. */
  line(at: number): void {
    this.outcome.lastEventAt = at;
  }

  /** One event the runtime's parser read from the agent's output. */
  apply(ev: AgentEvent): void {
    const o = this.outcome;
    o.events++;
    this.meter.apply(ev);
    if (ev.retryAfterMs !== undefined) o.retryAfterMs = ev.retryAfterMs;
    if (ev.kind === 'error' || ev.isError) o.errors.push(ev.text);
    if (ev.kind === 'result') {
      o.resultError = !!ev.isError;
      o.summary = ev.text.replace(/^(done|error)[^:]*: /, '').slice(0, 500);
    } else if (ev.kind === 'text' && ev.text && !ev.text.startsWith('[stderr]')) o.summary = ev.text.slice(0, 500);
  }
}

/** How an attempt ended, for checkpoint messages: `exited 0`, `timeout`, `cancelled`… */
export function endedLabel(outcome: Pick<LaunchOutcome, 'ended' | 'exitCode'>): string {
  return outcome.ended === 'exited' ? `exited ${outcome.exitCode ?? 'by a signal'}` : outcome.ended;
}

/** What failed in a launch, by class (README "Agents"); `rate-limit` always says how long to wait. */
export type AgentFailure =
  | { kind: 'not-found' | 'timeout' | 'stalled' | 'auth' | 'exit'; message: string }
  | { kind: 'rate-limit'; message: string; retryAfterMs: number };

/**
 * The failure of a launch that did not end well, or null when it succeeded (exit 0, no error
 * result). `classify` is the runtime's classifier, called only for a failed exit; `install` says
 * how to install the agent program. A cancelled launch and a lost worktree are the caller's
 * business: their outcome is classified as an exit here.
 */
export function outcomeFailure(
  outcome: LaunchOutcome,
  agent: AgentSpec,
  install: string,
  classify: () => FailureClass,
): AgentFailure | null {
  switch (outcome.ended) {
    case 'not-found':
      return {
        kind: 'not-found',
        message: outcome.missing ?? `agent program not found for runtime "${agent.runtime}": ${install}`,
      };
    case 'timeout':
      return {
        kind: 'timeout',
        message: `agent attempt timed out after ${formatDuration(agent.timeoutMs)} (timeout); its process group was killed`,
      };
    case 'stalled':
      return {
        kind: 'stalled',
        message: `agent stalled: no output for ${formatDuration(agent.idleTimeoutMs)} (idleTimeout); its process group was killed`,
      };
    default:
      break;
  }
  if (outcome.exitCode === 0 && !outcome.resultError) return null;
  return failureOf(classify(), agent.runtime, outcome);
}

function failureOf(cls: FailureClass, runtime: string, outcome: LaunchOutcome): AgentFailure {
  switch (cls.kind) {
    case 'auth': {
      const fix =
        runtime === 'claude'
          ? 'set ANTHROPIC_API_KEY on the worker (Flotilla passes it through), or run `claude` and /login as the worker user'
          : runtime === 'codex'
            ? 'set OPENAI_API_KEY on the worker (Flotilla passes it through), or run `codex login` as the worker user'
            : 'fix the credentials the command uses';
      return { kind: 'auth', message: `authentication failed: ${cls.message}; ${fix}` };
    }
    case 'rate_limit':
      return {
        kind: 'rate-limit',
        message: `rate limited: ${cls.message}`,
        retryAfterMs: cls.retryAfterMs ?? outcome.retryAfterMs ?? DEFAULT_RATE_LIMIT_WAIT_MS,
      };
    default:
      return { kind: 'exit', message: `agent exited with code ${outcome.exitCode}: ${cls.message}` };
  }
}
