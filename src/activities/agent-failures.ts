/**
 * The failures `runAgent` throws for an attempt's outcome: their types (src/mission/error-types.ts),
 * whether Temporal retries them, and messages that say what to do.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { formatDuration } from '../mission/duration';
import { ErrorType } from '../mission/error-types';
import type { AgentSpec } from '../mission/types';
import type { LaunchOutcome } from './agent-launch';
import type { AgentFailureDetails } from './agent-types';
import type { FailureClass } from './runtimes/types';

/** Rate limits without a delay from the agent wait this long, ms. */
export const DEFAULT_RATE_LIMIT_WAIT_MS = 60_000;

/** How an attempt ended, for checkpoint messages: `exited 0`, `timeout`, `cancelled`… */
export function endedLabel(outcome: Pick<LaunchOutcome, 'ended' | 'exitCode'>): string {
  return outcome.ended === 'exited' ? `exited ${outcome.exitCode ?? 'by a signal'}` : outcome.ended;
}

/**
 * The failure for a launch that did not end well, or null when it succeeded (exit 0, no error
 * result). `classify` is the runtime's classifier, called only for a failed exit.
 * Non-retryable: `AgentNotFound`, `AgentAuth`, `AgentRateLimited` (with `retryAfterMs`);
 * retryable: `AgentTimeout`, `AgentStalled`, `AgentExit`. Cancellation and a lost worktree are
 * the attempt's own business (see agent-attempt.ts).
 */
export function launchFailure(
  outcome: LaunchOutcome,
  agent: AgentSpec,
  install: string,
  classify: () => FailureClass,
  details: AgentFailureDetails,
): ApplicationFailure | null {
  switch (outcome.ended) {
    case 'not-found':
      return ApplicationFailure.create({
        message: outcome.missing ?? `agent program not found for runtime "${agent.runtime}": ${install}`,
        type: ErrorType.AgentNotFound,
        nonRetryable: true,
        details: [details],
      });
    case 'timeout':
      return ApplicationFailure.retryable(
        `agent attempt timed out after ${formatDuration(agent.timeoutMs)} (timeout); its process group was killed`,
        ErrorType.AgentTimeout,
        details,
      );
    case 'stalled':
      return ApplicationFailure.retryable(
        `agent stalled: no output for ${formatDuration(agent.idleTimeoutMs)} (idleTimeout); its process group was killed`,
        ErrorType.AgentStalled,
        details,
      );
    default:
      break;
  }
  if (outcome.exitCode === 0 && !outcome.resultError) return null;
  const cls = classify();
  if (cls.kind === 'rate_limit') cls.retryAfterMs ??= outcome.retryAfterMs;
  return failureFor(cls, agent.runtime, outcome.exitCode, details);
}

function failureFor(
  cls: FailureClass,
  runtime: string,
  exitCode: number | null,
  details: AgentFailureDetails,
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
        type: ErrorType.AgentAuth,
        nonRetryable: true,
        details: [details],
      });
    }
    case 'rate_limit':
      return ApplicationFailure.create({
        message: `rate limited: ${cls.message}`,
        type: ErrorType.AgentRateLimited,
        // The workflow owns the wait (a durable timer) so waiting costs no attempt and no worker.
        nonRetryable: true,
        details: [{ ...details, retryAfterMs: cls.retryAfterMs ?? DEFAULT_RATE_LIMIT_WAIT_MS }],
      });
    default:
      return ApplicationFailure.create({
        message: `agent exited with code ${exitCode}: ${cls.message}`,
        type: ErrorType.AgentExit,
        details: [details],
      });
  }
}
