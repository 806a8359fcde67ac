/**
 * The `command` runtime: any program. Its argv is `agent.command` followed by `agent.args`; the
 * prompt arrives in `$FLOTILLA_PROMPT` (never spliced into argv or a shell string).
 */
import type { RuntimeAdapter } from './types';

export const commandRuntime: RuntimeAdapter = {
  build({ agent, prompt, worktree, missionId, taskId }) {
    if (!agent.command || agent.command.length === 0) throw new Error('runtime "command" needs agent.command');
    return {
      argv: [...agent.command, ...agent.args],
      env: {
        FLOTILLA_PROMPT: prompt,
        FLOTILLA_TASK_ID: taskId,
        FLOTILLA_MISSION_ID: missionId,
        FLOTILLA_WORKTREE: worktree,
      },
    };
  },
  parseLine(line, stream) {
    if (!line.trim()) return undefined;
    return { kind: stream === 'stderr' ? 'error' : 'text', text: line };
  },
};
