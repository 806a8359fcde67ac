/**
 * taskWorkflow: one task of a mission, as a child workflow `mission-<missionId>/task-<taskId>`.
 *
 * Prepare the worktree, then iterate: the agent works (one session throughout: rate-limit waits,
 * `pause --now` holds and steering messages resume it), its work is committed on the task branch,
 * and the task's `verify` gate runs; a failing gate sends the output's tail back to the agent as
 * the next prompt, at most `maxIterations` runs in all. Every activity runs on the host queue.
 * See task-agent.ts for the conversation and task-steps.ts for the git and gate steps.
 */
import { ApplicationFailure, isCancellation, patched } from '@temporalio/workflow';
import type { FixRequest } from '../mission/progress';
import type { CommandLine, TaskSpec } from '../mission/types';
import { taskUsage, TaskUsage } from '../mission/usage';
import { failureMessage } from '../mission/failures';
import { taskCurrentDetails } from '../mission/story';
import { SEARCH_ATTRIBUTE_KEYS } from '../mission/types';
import { keepCurrentDetails, keepSearchAttributes } from './details';
import { TaskAgent } from './task-agent';
import { fixPrompt, gatePrompt, retryPrompt } from './task-prompts';
import { TaskResult, TaskSteps } from './task-steps';

export type { TaskResult } from './task-steps';
export type { TaskUsage } from '../mission/usage';

export interface TaskInput {
  missionId: string;
  /** The mission's first run id: owner of the branches this task makes. */
  runId: string;
  repo: string;
  hostQueue: string;
  /** The integration SHA this task starts from (after the previous waves' merges). */
  baseSha: string;
  task: TaskSpec;
  setup: CommandLine[];
  copy: string[];
  /** Set when `flotilla retry` runs the task again: its usage so far and how it ended. */
  retry?: { usage: TaskUsage; error: string | null };
  /**
   * Set when the merge queue sends the task back to its agent (`onVerifyFailure: fix`): the failed
   * mission verify and the candidate to start from; `retry` carries its usage and session.
   */
  fix?: FixRequest & { round: number };
  /** The namespace has Flotilla's story attributes: the task keeps `FlotillaCostUsd` current. */
  storyAttributes?: boolean;
}

export async function taskWorkflow(input: TaskInput): Promise<TaskResult> {
  // A retried task goes on counting from where its earlier run stopped.
  const usage = taskUsage(input.retry?.usage);
  const steps = new TaskSteps(input, usage);
  const agent = new TaskAgent(input, usage, steps);
  // What the Web UI shows on the task's page while it runs (memory, not history).
  keepCurrentDetails(() => taskCurrentDetails({ ...steps.story, ...usage }));
  // Versioning: tasks recorded before the story attributes never upserted their cost.
  const attributes =
    input.storyAttributes && patched('story-attributes')
      ? keepSearchAttributes(() => [
          { key: SEARCH_ATTRIBUTE_KEYS.costUsd, value: Math.round(usage.costUsd * 100) / 100 },
        ])
      : null;
  try {
    return await run(input, usage, steps, agent);
  } finally {
    attributes?.flush();
  }
}

async function run(input: TaskInput, usage: TaskUsage, steps: TaskSteps, agent: TaskAgent): Promise<TaskResult> {
  const { task } = input;
  await steps.prepare();

  let resume = input.retry ? usage.sessionId : null;
  let prompt = input.retry ? retryPrompt(task, input.retry.error, resume !== null) : task.prompt;
  if (input.fix) {
    await steps.syncTo(input.fix.syncTo);
    prompt = fixPrompt(task, input.fix, input.fix.round, resume !== null);
  }
  let summary = '';
  /** The head the gate last failed on: an iteration that leaves it unchanged cannot pass. */
  let failedGateSha: string | null = null;
  for (let iteration = 1; iteration <= task.maxIterations;) {
    steps.story.iteration = iteration;
    try {
      // Gate iterations and steering continue the same agent session, so it keeps its context.
      summary = (await agent.converse(prompt, iteration, resume)).summary;
    } catch (err) {
      return steps.agentFailed(err, iteration, summary, isCancellation(err));
    }
    let commit: Awaited<ReturnType<TaskSteps['commit']>>;
    try {
      commit = await steps.commit();
    } catch (err) {
      // The worktree is in a state whose commit would lose work (see the activity): say so.
      return steps.result('failed', {
        headSha: null,
        diffstat: null,
        iterations: iteration,
        summary,
        error: failureMessage(err),
      });
    }
    const last = { headSha: commit.headSha, diffstat: commit.diffstat, iterations: iteration, summary };
    const unchanged = commit.headSha === failedGateSha;
    resume = usage.sessionId;
    // A message queued while the work was being committed goes to the agent before the gate.
    const message = agent.takeMessages(resume);
    if (message !== null) {
      prompt = message;
      continue;
    }
    if (task.verify.length === 0) return steps.result('succeeded', { ...last, error: null });

    const gate = await steps.gate();
    // A message that arrived during the gate goes to the agent first; the gate runs again after.
    const late = agent.takeMessages(resume);
    if (late !== null) {
      prompt = late;
      continue;
    }
    if (gate.ok) return steps.result('succeeded', { ...last, error: null });
    const f = gate.failed!;
    const why = `verify \`${f.command}\` failed (exit ${f.exitCode ?? 'timeout'})`;
    failedGateSha = commit.headSha;
    if (unchanged)
      return steps.result('failed', {
        ...last,
        error: `${why}; iteration ${iteration} changed nothing, so the gate stopped early`,
      });
    if (iteration === task.maxIterations)
      return steps.result('failed', {
        ...last,
        error: `${why} after ${iteration} iteration${iteration === 1 ? '' : 's'} (maxIterations)`,
      });
    steps.story.retrying = `${why}; the agent gets the output for iteration ${iteration + 1} of ${task.maxIterations}`;
    await agent.report(`${why}; iteration ${iteration + 1} of ${task.maxIterations}`);
    iteration++;
    prompt = gatePrompt(task, f.command, f.exitCode, f.outputTail, iteration);
  }
  throw ApplicationFailure.nonRetryable('unreachable: gate loop ended without a result');
}
