/**
 * Runs one attempt of a task's agent: a process group in the task's worktree, every raw output
 * line to a transcript file, heartbeats every ~1 s carrying resumable state, and the whole group
 * killed on cancellation, on `timeout` and on `idleTimeout` (stalled).
 *
 * On a retry (a crashed worker, a killed or failed agent) the attempt reads the last heartbeat's
 * details and resumes the agent's own session with a continuation prompt that states the task and
 * what the worktree already holds; where the session cannot be resumed it starts fresh with that
 * prompt. A process group an earlier attempt left behind is killed first (PID file), so two agents
 * never run in one worktree at once.
 *
 * Checkpoints: while the agent runs (every `checkpointEveryMs`) and when an attempt ends (unless
 * its agent ended well and the attempt committed the task's work: `commitTitle`), the worktree's
 * whole state is recorded under `refs/flotilla/checkpoints/<missionId>/<taskId>` without touching
 * the agent's index, HEAD or files (checkpoint.ts). A worktree deleted under a
 * running agent is noticed within a second: the agent's group is killed, the worktree rebuilt
 * from the task branch plus the latest checkpoint (worktree.ts), and the attempt fails with the
 * retryable `WorktreeLost`, so Temporal's retry resumes the agent's session in the new worktree.
 *
 * A merge-conflict resolver (`role: 'resolver'`, see conflict.ts) runs through the same activity in
 * a conflict worktree: its transcripts go to `runs/<mission>/<task>/resolver/`, it gets the
 * resolver's contract and `extraEnv` (`FLOTILLA_CONFLICTS`), and it is never checkpointed and its
 * worktree never rebuilt (a lost one fails the attempt with a non-retryable `WorktreeLost`).
 *
 * The attempt itself is agent-attempt.ts (prepare, launch, settle) over the agent library
 * (src/agents: runtimes, processes, transcripts, prompts); the heartbeat's one owner is
 * heartbeat.ts; usage is counted by the ledger in src/mission/usage.ts.
 */
import { CancelledFailure, Context } from '@temporalio/activity';
import { AgentAttempt } from './agent-attempt';
import { AgentSlots, drainedFailure } from './agent-slots';
import { adapted } from './host-failures';
import type { ActivityConfig } from './config';
import type { RunAgentInput, RunAgentResult } from '../agents/types';

export type { AgentFailureDetails, AgentHeartbeat, AgentUsage, RunAgentInput, RunAgentResult } from '../agents/types';

export function createAgentActivities(config: ActivityConfig) {
  const slots = config.agents ?? new AgentSlots();
  return adapted({
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
     *   What it returns, heartbeats and throws leaves through the worker's redaction boundary
     *   (src/worker/redaction.ts); its transcript is redacted as written. When the worker drains, the
     *   agent is stopped and checkpointed like a cancelled one and the attempt fails with the
     *   retryable `WorkerShutdown` carrying the same details (agent-slots.ts). Beyond the worker's
     *   `--agents` cap an attempt waits for a slot first.
     */
    async runAgent(input: RunAgentInput): Promise<RunAgentResult> {
      const ctx = Context.current();
      const release = await slots.acquire(ctx);
      try {
        const attempt = new AgentAttempt(config, input, ctx, slots.drainSignal);
        const prompt = await attempt.prepare();
        return await attempt.settle(await attempt.launch(prompt));
      } catch (err) {
        // Stopped by the drain, not by Temporal: a failure Temporal retries on the next worker.
        if (err instanceof CancelledFailure && slots.draining && !ctx.cancellationSignal.aborted)
          throw drainedFailure(`the agent's worker drained: ${err.message}`, err.details[0]);
        throw err;
      } finally {
        release();
      }
    },
  });
}
