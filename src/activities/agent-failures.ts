/**
 * The failures `runAgent` throws for an attempt's outcome: the agent library's failure classes
 * (src/agents/outcome.ts) as ApplicationFailures with Flotilla's error types
 * (src/mission/error-types.ts), and whether Temporal retries them.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { AgentFailure } from '../agents/outcome';
import type { AgentFailureDetails } from '../agents/types';
import { ErrorType, ErrorTypeName } from '../mission/error-types';

/**
 * Each class's error type, and whether it is final. Non-retryable: a missing program and bad
 * credentials (retrying changes nothing), a rate limit (the workflow owns the wait, a durable
 * timer, so waiting costs no attempt and no worker). Retryable: timeouts, stalls, other exits.
 */
const FAILURES: Record<AgentFailure['kind'], { type: ErrorTypeName; nonRetryable: boolean }> = {
  'not-found': { type: ErrorType.AgentNotFound, nonRetryable: true },
  auth: { type: ErrorType.AgentAuth, nonRetryable: true },
  'rate-limit': { type: ErrorType.AgentRateLimited, nonRetryable: true },
  timeout: { type: ErrorType.AgentTimeout, nonRetryable: false },
  stalled: { type: ErrorType.AgentStalled, nonRetryable: false },
  exit: { type: ErrorType.AgentExit, nonRetryable: false },
};

/**
 * The ApplicationFailure for `failure`, carrying `details` (with `retryAfterMs` for
 * `AgentRateLimited`: how long the workflow waits before it resumes the session, ms).
 */
export function agentFailure(failure: AgentFailure, details: AgentFailureDetails): ApplicationFailure {
  const { type, nonRetryable } = FAILURES[failure.kind];
  return ApplicationFailure.create({
    message: failure.message,
    type,
    nonRetryable,
    details: [failure.kind === 'rate-limit' ? { ...details, retryAfterMs: failure.retryAfterMs } : details],
  });
}
