import type { Runtime } from '../../mission/types';
import { claudeRuntime } from './claude';
import { codexRuntime } from './codex';
import { commandRuntime } from './command';
import type { RuntimeAdapter } from './types';

/** Adapters by runtime name. */
export const runtimes: Record<Runtime, RuntimeAdapter> = {
  claude: claudeRuntime,
  codex: codexRuntime,
  command: commandRuntime,
};

export type { AgentEvent, BuildInput, FailureClass, Launch, RuntimeAdapter } from './types';
