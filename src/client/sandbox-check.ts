/**
 * `agent.sandbox: bwrap` checked where the CLI runs (`validate`, `run`, `start`): bwrap installed
 * and able to create its namespaces here (src/agents/sandbox.ts `probeBwrap`), before anything
 * starts. A worker on another host checks again when it launches an agent.
 */
import { probeBwrap, SandboxUnavailable } from '../agents/sandbox';
import { MissionFileError, MissionProblem } from '../mission-file/errors';
import type { LoadedMission } from '../mission-file/load';
import type { MissionSpec } from '../mission/types';

/** Whether the resolver agent can run at all: only with `onMergeConflict: resolve`. */
export const resolverRuns = (spec: MissionSpec): boolean =>
  spec.policy.onMergeConflict === 'resolve' && spec.resolver !== undefined;

/**
 * The field that asks for the sandbox, for messages: `agent.sandbox` when every task's agent does,
 * else the first task's (`tasks[2].agent.sandbox`) or `resolver.sandbox`; undefined when none does.
 */
export function sandboxField(spec: MissionSpec): string | undefined {
  const tasks = spec.tasks.map((t, i) => ({ i, on: t.agent.sandbox === 'bwrap' }));
  if (tasks.length > 0 && tasks.every((t) => t.on)) return 'agent.sandbox';
  const first = tasks.find((t) => t.on);
  if (first) return `tasks[${first.i}].agent.sandbox`;
  return resolverRuns(spec) && spec.resolver?.sandbox === 'bwrap' ? 'resolver.sandbox' : undefined;
}

/**
 * Checks bwrap on this host when the mission asks for it.
 * @throws MissionFileError (exit 2) saying what is wrong (not installed, no namespaces) and how to fix it
 */
export async function checkSandbox(loaded: LoadedMission): Promise<void> {
  const field = sandboxField(loaded.spec);
  if (!field) return;
  try {
    await probeBwrap();
  } catch (err) {
    if (!(err instanceof SandboxUnavailable)) throw err;
    const problem: MissionProblem = { path: field, reason: `sandbox bwrap: ${err.problem}`, fix: err.fix };
    throw new MissionFileError(loaded.file, [problem]);
  }
}
