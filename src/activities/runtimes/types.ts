/**
 * What a runtime adapter owns for one agent program: how to build its argv and environment, and
 * how to read its output stream into normalized events.
 */
import type { AgentSpec } from '../../mission/types';

export interface BuildInput {
  agent: AgentSpec;
  prompt: string;
  worktree: string;
  missionId: string;
  taskId: string;
}

export interface Launch {
  argv: string[];
  /** Extra environment for the agent (added to the pass-through variables). */
  env: Record<string, string>;
}

/** One normalized event from an agent's output. */
export interface AgentEvent {
  kind: 'text' | 'tool' | 'result' | 'error';
  text: string;
}

export interface RuntimeAdapter {
  build(input: BuildInput): Launch;
  /** Reads one line of output; undefined for lines that carry nothing worth counting. */
  parseLine(line: string, stream: 'stdout' | 'stderr'): AgentEvent | undefined;
}
