/**
 * The `runChecks` activity and the activity side of running commands: the commands themselves run
 * in src/agents/commands.ts; here the activity's cancellation becomes their AbortSignal and their
 * progress its heartbeat. Also the heartbeat helper of the activities that do not heartbeat on
 * their own ({@link heartbeating}).
 */
import { Context } from '@temporalio/activity';
import { withNamespace } from '../agents/namespace';
import type { ActivityConfig } from './config';
import {
  ChecksInput,
  ChecksResult,
  CommandProgress,
  CommandRunOptions,
  runCommands as runCommandsOnHost,
} from '../agents/commands';
import { adapted } from './host-failures';

export type { ChecksInput, ChecksResult, CommandProgress };

/**
 * Runs mission-file commands (src/agents/commands.ts `runCommands`) in the current activity:
 * its cancellation (also the SDK's on a worker shutdown) kills the running command's group, then
 * rethrows. Calls `onProgress` every second while a command runs; heartbeats nothing itself, so a
 * caller that owns another heartbeat (`runAgent`'s rebuild) keeps its details. Outside an activity
 * (direct calls from tests) nothing cancels it. With `home` (`$FLOTILLA_HOME`), the commands get the
 * runtime namespace `input.namespace` asks for (src/agents/namespace.ts `withNamespace`).
 */
export function runCommands(
  input: ChecksInput,
  onProgress?: (p: CommandProgress) => void,
  home?: string,
): Promise<ChecksResult> {
  // With `home`, the commands run in `input.namespace` (reserved here; see namespace.ts).
  return withNamespace(home, input.namespace, input.cwd, (env) =>
    runCommandsOnHost(input, { signal: activityContext()?.cancellationSignal, onProgress, env }),
  );
}

/**
 * How host code (src/git) runs commands inside the current activity: the activity's cancellation
 * as their AbortSignal, their progress heartbeated through `beat` (see {@link heartbeating}).
 */
export function commandOptions(beat: (details?: unknown) => void): CommandRunOptions {
  return { signal: activityContext()?.cancellationSignal, onProgress: (p) => beat(p) };
}

/** How often {@link heartbeating} beats, ms. */
export const HEARTBEAT_EVERY_MS = 5000;

/**
 * Runs `fn` while heartbeating at once and every {@link HEARTBEAT_EVERY_MS}, for activities whose
 * steps (waiting minutes for the repository lock, `git worktree add` in a large repository) do not
 * heartbeat on their own but run under a heartbeat timeout, so a dead worker is noticed quickly.
 * `fn` gets `beat(details)` to heartbeat progress of its own (the latest details are repeated by
 * the timer). Outside an activity (direct calls from tests) nothing beats.
 */
export async function heartbeating<T>(fn: (beat: (details?: unknown) => void) => Promise<T>): Promise<T> {
  const ctx = activityContext();
  let details: unknown;
  const beat = (d?: unknown): void => {
    if (d !== undefined) details = d;
    ctx?.heartbeat(details);
  };
  beat();
  const timer = setInterval(beat, HEARTBEAT_EVERY_MS);
  try {
    return await fn(beat);
  } finally {
    clearInterval(timer);
  }
}

/** The activity context, or undefined outside an activity (direct calls from tests). */
export function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

export function createChecksActivities(config?: Pick<ActivityConfig, 'home'>) {
  return adapted({
    /**
     * Runs verify commands (task gate or mission verify); a failure is a result, not an error.
     * Heartbeats at once, `{ command }` every second while a command runs, and every 5 s in
     * between; see {@link runCommands}.
     */
    async runChecks(input: ChecksInput): Promise<ChecksResult> {
      return heartbeating((beat) => runCommands(input, beat, config?.home));
    },
  });
}
