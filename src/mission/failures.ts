/**
 * What a failure from Temporal means to a mission: its message and the usage an agent reported
 * with it. Pure (workflow code imports it).
 *
 * Temporal wraps failures as they travel: an activity's `ApplicationFailure` arrives in its workflow
 * as an `ActivityFailure` whose `cause` it is, and a task's failure arrives in the mission as a
 * `ChildWorkflowFailure` whose cause may itself be an `ActivityFailure` (see the TypeScript SDK's
 * `TemporalFailure.cause`). The wrappers' own messages ("Activity task failed", "Child Workflow
 * execution failed") say nothing to a user; the innermost cause does.
 */
import { ActivityFailure, ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { AgentUsage } from './usage';

/**
 * The message of the innermost cause of `err`, walking every failure's `cause` (activity, child
 * workflow, application failures alike). A non-Error is stringified.
 */
export function failureMessage(err: unknown): string {
  let e: unknown = err;
  // Bounded: a cause chain is a few levels deep; a cycle (never seen) must not hang a workflow.
  for (let i = 0; i < 32 && e instanceof Error && e.cause instanceof Error; i++) e = e.cause;
  return e instanceof Error ? e.message : String(err);
}

/** What an agent failure carries: `AgentFailureDetails` (src/activities/agent.ts), the usage part. */
export interface AgentFailureUsage extends AgentUsage {
  attempt: number;
  retryAfterMs?: number;
  checkpointSha?: string | null;
}

/**
 * The type and first detail of the `ApplicationFailure` (or the details of the `CancelledFailure`)
 * behind an activity failure: `runAgent` puts its usage there, so failed and interrupted attempts
 * are paid for too. Empty when the failure carries neither (a timeout, a lost worker).
 */
export function failureDetails(err: unknown): { type?: string; details?: AgentFailureUsage } {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  if (cause instanceof ApplicationFailure)
    return { type: cause.type ?? undefined, details: cause.details?.[0] as AgentFailureUsage | undefined };
  if (cause instanceof CancelledFailure) return { details: cause.details?.[0] as AgentFailureUsage | undefined };
  return {};
}
