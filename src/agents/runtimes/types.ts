/**
 * What a runtime adapter owns for one agent program: how to build its argv and environment
 * (prompt, model, extra args, unattended-permission flags, resume), how to read its output stream
 * into normalized events, and how to classify its failures.
 */
import type { UsageEvent } from '../../mission/usage';
import type { AgentSpec } from '../../mission/types';

export interface BuildInput {
  agent: AgentSpec;
  prompt: string;
  worktree: string;
  missionId: string;
  taskId: string;
  /** The agent's own session to resume (Claude Code session id, Codex thread id). */
  resumeSessionId?: string;
  /** The task contract: rules every agent gets (stay in the worktree, do not switch branches, ...). */
  contract: string;
}

export interface Launch {
  argv: string[];
  /** Extra environment for the agent (added to the pass-through variables). */
  env: Record<string, string>;
}

/**
 * One normalized event from an agent's output. Counters are deltas unless named `total` or
 * `session` (their meaning, and how they add up, in src/mission/usage.ts `UsageEvent`).
 */
export interface AgentEvent extends UsageEvent {
  kind: 'session' | 'text' | 'tool' | 'tool_result' | 'usage' | 'result' | 'error';
  /** For people (`flotilla logs`), one line. */
  text: string;
  isError?: boolean;
  /** How long the agent's API asked it to wait (a rate limit's retry delay), ms. */
  retryAfterMs?: number;
}

/** Why an attempt failed, as Flotilla acts on it: the failure classes of README.md, "Agents". */
export type FailureClass =
  | { kind: 'auth'; message: string }
  | { kind: 'rate_limit'; message: string; retryAfterMs?: number }
  | { kind: 'session_not_found'; message: string }
  | { kind: 'other'; message: string };

export interface RuntimeAdapter {
  /** The program, for "not found" messages: how to install it. */
  install: string;
  /** Variables passed to this agent by default when the worker has them (beyond `agent.env`). */
  defaultEnv: string[];
  build(input: BuildInput): Launch;
  /**
   * A parser for one run's output (it may keep state, e.g. messages already counted). Returns
   * undefined for lines that carry nothing worth showing or counting.
   */
  parser(): (line: string, stream: 'stdout' | 'stderr') => AgentEvent | undefined;
  /**
   * The runtime's own state (sessions, settings, its login), absolute paths from the agent's
   * environment: what a sandboxed agent must be able to write (sandbox.ts). Default: none.
   */
  statePaths?(env: NodeJS.ProcessEnv): { dirs: string[]; files: string[] };
  /** Classifies a failed run from its exit code, the error events and the stderr tail. */
  classify(exitCode: number | null, errors: string[], stderrTail: string): FailureClass;
}
