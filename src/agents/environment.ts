/**
 * The environment of every process Flotilla starts, built here and nowhere else (README "Agents"
 * and "The mission file"): never the worker's whole environment.
 * - setup, task gates, the mission verify, a resolution's checks and `land`'s verify:
 *   {@link commandEnv};
 * - agents (claude, codex, command): {@link agentEnv}.
 * No `TEMPORAL_*` variable ever passes: they are the worker's own connection and credentials
 * (validation refuses them in mission files; a spec that did not go through it, such as a workflow
 * started by hand, is filtered here).
 */
import { BASELINE_ENV, isSecretName } from '../secrets/secrets';

export { BASELINE_ENV };

const WORKER_OWN = /^TEMPORAL_/;

/** `names`' values from `env`, in order, skipping unset ones and every `TEMPORAL_*` name. */
function pick(names: Iterable<string>, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const name of names) if (!WORKER_OWN.test(name) && env[name] !== undefined) out[name] = env[name];
  return out;
}

/**
 * The environment of a mission-file command (setup, gate, verify; also a resolution's checks and
 * `land`'s verify): {@link BASELINE_ENV}, the worker's `FLOTILLA_*` variables (but none whose name
 * makes it a secret), and the variables the mission's `env:` names (`names`), read from `env`;
 * then `own` (the task's runtime namespace, namespace.ts: `FLOTILLA_SLOT`, `FLOTILLA_PORT`, …,
 * `TMPDIR`), which wins.
 */
export function commandEnv(
  names: readonly string[] = [],
  env: NodeJS.ProcessEnv = process.env,
  own: Record<string, string> = {},
): NodeJS.ProcessEnv {
  const flotilla = Object.keys(env).filter((n) => n.startsWith('FLOTILLA_') && !isSecretName(n));
  return Object.assign(pick([...BASELINE_ENV, ...flotilla, ...names], env), own);
}

/**
 * The environment of an agent: {@link BASELINE_ENV}, the runtime's own variables
 * (`runtimeNames`: its credentials and settings), the names of its `agent.env`, then `extra`
 * (RunAgentInput.extraEnv, `FLOTILLA_ROLE`) and `own` (the launch's: FLOTILLA_PROMPT, …), which
 * win.
 */
export function agentEnv(
  runtimeNames: readonly string[],
  named: readonly string[],
  extra: Record<string, string>,
  own: Record<string, string>,
  env: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  return Object.assign(pick([...BASELINE_ENV, ...runtimeNames, ...named], env), extra, own);
}
