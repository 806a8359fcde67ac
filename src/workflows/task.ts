/**
 * taskWorkflow: one task of a mission, as a child workflow `mission-<missionId>/task-<taskId>`.
 *
 * Prepare the worktree, then iterate: the agent works (one session throughout: rate-limit waits,
 * `pause --now` holds and steering messages resume it), its work is committed on the task branch,
 * and the task's `verify` gate runs; a failing gate sends the output's tail back to the agent as
 * the next prompt, at most `maxIterations` runs in all. Every activity runs on the host queue.
 * See task-agent.ts for the conversation and task-steps.ts for the git and gate steps.
 */
import { ApplicationFailure, isCancellation } from '@temporalio/workflow';
import type { FixRequest } from '../mission/progress';
import type { CommandLine, TaskSpec } from '../mission/types';
import { taskUsage, TaskUsage } from '../mission/usage';
import { failureMessage } from '../mission/failures';
import { taskCurrentDetails } from '../mission/story';
import { SEARCH_ATTRIBUTE_KEYS } from '../mission/types';
import { keepCurrentDetails, keepSearchAttributes } from './details';
import { TaskAgent } from './task-agent';
import { fixPrompt, gatePrompt, retryPrompt } from './task-prompts';
import { hostLost, movedNote, TaskPlacement } from './task-placement';
import { TaskResult, TaskSteps } from './task-steps';

export type { TaskResult } from './task-steps';
export type { TaskUsage } from '../mission/usage';

export interface TaskInput {
  missionId: string;
  /** The mission's first run id: owner of the branches this task makes. */
  runId: string;
  repo: string;
  hostQueue: string;
  /** The integration SHA this task starts from (a fix run: the candidate that failed the mission verify). */
  baseSha: string;
  task: TaskSpec;
  setup: CommandLine[];
  copy: string[];
  /** The mission's `env:`: names of the worker's variables setup and gate commands get. */
  env?: string[];
  /** Every secret name the mission lists (`agent.env`s, `resolver.env`, `env:`): see CommandNames. */
  redact?: string[];
  /** Set when `flotilla retry` runs the task again: its usage so far and how it ended. */
  retry?: { usage: TaskUsage; error: string | null };
  /**
   * Set when the merge queue sends the task back to its agent (`onVerifyFailure: fix`): the failed
   * mission verify and the candidate to start from; `retry` carries its usage and session.
   */
  fix?: FixRequest & { round: number };
  /**
   * The mission's shared origin: the task claims a host of its own (see task-placement.ts) and
   * `repo`/`hostQueue` are only the mission's. Absent: the task runs on the mission's host.
   */
  origin?: string;
  /** With `origin`, on a retry or fix run: the host the task last ran on (where its session is). */
  lastHost?: string;
  /** With `origin`: the mission's `hostLostAfter`, ms (absent: HOST_LOST_AFTER_MS). */
  hostLostAfterMs?: number;
}

/** How often one task may move to another host before it fails. */
const MAX_MOVES = 10;

/** A task that moved because its host was lost: from where, to where, why, and in which gate iteration. */
interface Move {
  from: string;
  to: string;
  why: string;
  iteration: number;
}

export async function taskWorkflow(input: TaskInput): Promise<TaskResult> {
  // A retried task goes on counting from where its earlier run stopped.
  const usage = taskUsage(input.retry?.usage);
  const steps = new TaskSteps(input, usage);
  const agent = new TaskAgent(input, usage, steps);
  // What the Web UI shows on the task's page while it runs (memory, not history).
  keepCurrentDetails(() => taskCurrentDetails({ ...steps.story, ...usage }));
  // The task's cost in the Web UI's list, in cents: an upsert per cent spent at most.
  const attributes = keepSearchAttributes(() => [
    { key: SEARCH_ATTRIBUTE_KEYS.costUsd, value: Math.round(usage.costUsd * 100) / 100 },
  ]);
  try {
    // Only a mission with an origin places its tasks; without one they run on the mission's host.
    if (input.origin === undefined) return await run(input, usage, steps, agent);
    return await runPlaced(input, usage, steps, agent, new TaskPlacement({ ...input, origin: input.origin }, steps));
  } finally {
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
      lost = { from: host, why: `host ${host} lost (${failureMessage(err)})`, iteration: steps.story.iteration };
    }
  }
}

async function run(
  input: TaskInput,
  usage: TaskUsage,
  steps: TaskSteps,
  agent: TaskAgent,
  moved?: Move,
): Promise<TaskResult> {
  const { task } = input;
  await steps.prepare();

  // A placed task's session lives on the disk of the host its agent ran on: resumed only there.
  const sessionHere = !steps.placed || (moved ? moved.from === moved.to : input.lastHost === steps.host);
  let resume = (input.retry || moved) && sessionHere ? usage.sessionId : null;
  let prompt = input.retry ? retryPrompt(task, input.retry.error, resume !== null) : task.prompt;
  if (moved) {
    const note = movedNote(moved.from, moved.to, resume !== null);
    prompt = resume !== null ? note : `${task.prompt}\n\n---\n${note}`;
  }
  if (input.fix) {
    await steps.syncTo(input.fix.syncTo);
    prompt = fixPrompt(task, input.fix, input.fix.round, resume !== null);
  }
  let summary = '';
  /** The head the gate last failed on: an iteration that leaves it unchanged cannot pass. */
  let failedGateSha: string | null = null;
  for (let iteration = moved?.iteration ?? 1; iteration <= task.maxIterations;) {
    steps.story.iteration = iteration;
    try {
      // Gate iterations and steering continue the same agent session, so it keeps its context.
      summary = (await agent.converse(prompt, iteration, resume)).summary;
    } catch (err) {
      // The host is gone: nothing can be kept there; the task moves (runPlaced).
      if (steps.placed && hostLost(err)) throw err;
      return steps.agentFailed(err, iteration, summary, isCancellation(err));
    }
    let commit: Awaited<ReturnType<TaskSteps['commit']>>;
    try {
      commit = await steps.commit();
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
