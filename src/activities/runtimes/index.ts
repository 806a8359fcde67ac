import type { Runtime } from '../../mission/types';
import { commandRuntime } from './command';
import type { RuntimeAdapter } from './types';

/** Adapters by runtime name; `claude` and `codex` are not available in this version. */
export const runtimes: Partial<Record<Runtime, RuntimeAdapter>> = {
  command: commandRuntime,
};

export type { AgentEvent, BuildInput, Launch, RuntimeAdapter } from './types';
