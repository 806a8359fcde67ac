/**
 * taskWorkflow: one task of a mission, as a child workflow `mission-<missionId>/task-<taskId>`.
 *
 * Prepare the worktree, then iterate: the agent works (one session throughout: rate-limit waits,
 * `pause --now` holds and steering messages resume it), its work is committed on the task branch,
 * and the task's `verify` gate runs; a failing gate sends the output's tail back to the agent as
 * the next prompt, at most `maxIterations` runs in all. Every activity runs on the host's task queue.
 * See agent.ts for the conversation, steps.ts for the git and gate steps, placement.ts for where
 * a task of a mission with an origin runs, and types.ts for the shapes.
 */
import { ApplicationFailure, isCancellation } from '@temporalio/workflow';
import { taskUsage, TaskUsage } from '../../mission/usage';
import { failureMessage } from '../../mission/failures';
import { taskCurrentDetails } from '../../mission/current-details';
import { SEARCH_ATTRIBUTE_KEYS } from '../../mission/types';
import { keepCurrentDetails, keepSearchAttributes } from '../details';
import { TaskAgent } from './agent';
import { fixPrompt, gatePrompt, retryPrompt } from './prompts';
import { hostLost } from '../activities';
import { movedNote, TaskPlacement } from './placement';
import { TaskSteps } from './steps';
import type { Move, TaskInput, TaskResult } from './types';

/** How often one task may move to another host before it fails. */
const MAX_MOVES = 10;

/** The task workflow (its function name is its workflow type: never rename it). */
export async function taskWorkflow(input: TaskInput): Promise<TaskResult> {
  // A retried task goes on counting from where its earlier run stopped.
  const usage = taskUsage(input.retry?.usage);
  const steps = new TaskSteps(input, usage);
  const agent = new TaskAgent(input, usage, steps);
  // What the Web UI shows on the task's page while it runs (memory, not history).
  keepCurrentDetails(() => taskCurrentDetails({ ...steps.details, ...usage }));
  // The task's cost in the Web UI's list, in cents: an upsert per cent spent at most.
  const attributes = keepSearchAttributes(() => [
    { key: SEARCH_ATTRIBUTE_KEYS.costUsd, value: Math.round(usage.costUsd * 100) / 100 },
  ]);
  try {
    // Only a mission with an origin places its tasks; without one they run on the mission's host.
    if (input.origin === undefined) return await run(input, usage, steps, agent);
    return await runPlaced(input, usage, steps, agent, new TaskPlacement({ ...input, origin: input.origin }, steps));
  } finally {
    await steps.releaseNamespace();
    attributes.flush();
  }
}

/** Runs a task on the host it claims, and again on another one whenever its host is lost. */
async function runPlaced(
  input: TaskInput,
  usage: TaskUsage,
  steps: TaskSteps,
  agent: TaskAgent,
  placement: TaskPlacement,
): Promise<TaskResult> {
  let lost: Omit<Move, 'to'> | null = null;
  for (let moves = 0; ; moves++) {
    const { host } = await placement.claim(lost?.why ?? '');
    await agent.report(lost ? `moved from ${lost.from} to ${host}: ${lost.why}` : null, undefined, host);
    try {
      return await run(input, usage, steps, agent, lost ? { ...lost, to: host } : undefined);
    } catch (err) {
      if (!hostLost(err) || moves >= MAX_MOVES) throw err;
      // The gate iterations go on counting: a move is not a fresh start of the task.
      lost = { from: host, why: `host ${host} lost (${failureMessage(err)})`, iteration: steps.details.iteration };
    }
  }
}

/**
 * Prepares the worktree and the first prompt: the task's own, a retry's, a moved task's note, or a
 * fix run's (once its branch is fast-forwarded to the failing candidate). `resume` is the agent
 * session to continue, or null for a fresh one.
 */
async function begin(
  input: TaskInput,
  usage: TaskUsage,
  steps: TaskSteps,
  moved?: Move,
): Promise<{ prompt: string; resume: string | null }> {
  const { task } = input;
  await steps.prepare();
  // A placed task's session lives on the disk of the host its agent ran on: resumed only there.
  const sessionHere = !steps.placed || (moved ? moved.from === moved.to : input.lastHost === steps.host);
  const resume = (input.retry || moved) && sessionHere ? usage.sessionId : null;
  let prompt = input.retry ? retryPrompt(task, input.retry.error, resume !== null) : task.prompt;
  if (moved) {
    const note = movedNote(moved.from, moved.to, resume !== null);
    prompt = resume !== null ? note : `${task.prompt}\n\n---\n${note}`;
  }
  if (input.fix) {
    await steps.syncTo(input.fix.syncTo);
    prompt = fixPrompt(task, input.fix, input.fix.round, resume !== null);
  }
  return { prompt, resume };
}

/** The task's gate iterations on its current host, from the first prompt to its result. */
async function run(
  input: TaskInput,
  usage: TaskUsage,
  steps: TaskSteps,
  agent: TaskAgent,
  moved?: Move,
): Promise<TaskResult> {
  const { task } = input;
  let { prompt, resume } = await begin(input, usage, steps, moved);
  let summary = '';
  /** The head the gate last failed on: an iteration that leaves it unchanged cannot pass. */
  let failedGateSha: string | null = null;
  for (let iteration = moved?.iteration ?? 1; iteration <= task.maxIterations;) {
    steps.details.iteration = iteration;
    let ran: Awaited<ReturnType<TaskAgent['converse']>>;
    try {
      // Gate iterations and steering continue the same agent session, so it keeps its context.
      ran = await agent.converse(prompt, iteration, resume);
      summary = ran.summary;
    } catch (err) {
      // The host is gone: nothing can be kept there; the task moves (runPlaced).
      if (steps.placed && hostLost(err)) throw err;
      return steps.agentFailed(err, iteration, summary, isCancellation(err));
    }
    let commit: Awaited<ReturnType<TaskSteps['commit']>>;
    try {
      // The agent's attempt made the commit when it could; otherwise the commit step makes it.
      commit = ran.commit ?? (await steps.commit());
    } catch (err) {
      if (steps.placed && hostLost(err)) throw err;
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
      agent.reportRun();
      prompt = message;
      continue;
    }
    if (task.verify.length === 0) return steps.result('succeeded', { ...last, error: null });
    agent.reportRun();

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
    steps.details.retrying = `${why}; the agent gets the output for iteration ${iteration + 1} of ${task.maxIterations}`;
    await agent.report(`${why}; iteration ${iteration + 1} of ${task.maxIterations}`);
    iteration++;
    prompt = gatePrompt(task, f.command, f.exitCode, f.outputTail, iteration);
  }
  throw ApplicationFailure.nonRetryable('unreachable: gate loop ended without a result');
}
