/**
 * The launches of one agent attempt: the agent started on the attempt's prompt, resuming its
 * session when it has one, and started once more on a fresh session when the one to resume is
 * gone (another host, a cleaned home), with a continuation prompt that restates the task. Each
 * attempt writes its own transcript (`attempt-<n>.jsonl` in the agent's folder, paths.ts).
 */
import { forgetSession } from '../mission/usage';
import { launchAgent, LaunchInput, LaunchSpec } from './launch';
import type { LaunchOutcome } from './outcome';
import { continuationPrompt, TaskPrompts } from './prompts';
import { nextTranscript } from './transcript';

export interface AttemptSpec extends Omit<LaunchSpec, 'prompt' | 'resume' | 'transcript' | 'input'> {
  input: LaunchInput & TaskPrompts;
  /** The agent's folder (paths.ts `agentDir`): the attempt's transcript goes there. */
  dir: string;
  /** What the worktree holds now, for the continuation prompt of a fresh session; never throws. */
  stateSummary: () => Promise<string>;
}

/** How an attempt's launches went. */
export interface Launched {
  outcome: LaunchOutcome;
  /** True when the launch that counted continued an earlier session. */
  resumed: boolean;
  /** Absolute path of the attempt's transcript. */
  transcript: string;
  /** Epoch ms when the agent was first launched. */
  startedAt: number;
}

/**
 * Launches the agent with `prompt`, resuming `usage.sessionId` when there is one (never for the
 * `command` runtime, which has no sessions); when the runtime says that session is not found, the
 * session is forgotten and the agent launched once more, fresh, with a continuation prompt.
 * Resolves when the agent's group is gone; never throws for the agent's failures.
 */
export async function launchAttempt(spec: AttemptSpec, prompt: string): Promise<Launched> {
  const { input, usage, adapter } = spec;
  const transcript = nextTranscript(spec.dir);
  const startedAt = Date.now();
  const run = (p: string, resume: boolean): Promise<LaunchOutcome> =>
    launchAgent({ ...spec, prompt: p, resume, transcript });
  let resumed = usage.sessionId !== null && input.agent.runtime !== 'command';
  let outcome = await run(prompt, resumed);
  if (resumed && outcome.ended === 'exited' && outcome.exitCode !== 0) {
    const cls = adapter.classify(outcome.exitCode, outcome.errors, outcome.stderrTail);
    if (cls.kind === 'session_not_found') {
      spec.log.warn('agent session not found; starting a fresh one', { sessionId: usage.sessionId });
      resumed = false;
      forgetSession(usage);
      const state = await spec.stateSummary();
      outcome = await run(continuationPrompt(input, 'session-lost', state), false);
    }
  }
  return { outcome, resumed, transcript, startedAt };
}
