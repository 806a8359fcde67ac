/**
 * The `command` runtime: any program. Its argv is `agent.command` followed by `agent.args`; the
 * prompt arrives in `$FLOTILLA_PROMPT` (never spliced into argv or a shell string). It has no
 * session of its own, so a retry starts it again with the continuation prompt.
 */
import { classifyText } from './classify';
import type { RuntimeAdapter } from './types';

export const commandRuntime: RuntimeAdapter = {
  install: 'install the program named in agent.command, or fix the path',
  defaultEnv: [],
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
  parser: () => (line, stream) => {
    if (!line.trim()) return undefined;
    return { kind: stream === 'stderr' ? 'error' : 'text', text: line };
  },
  classify(exitCode, errors, stderrTail) {
    // A plain command's failures are its own business: only retry, never guess auth or limits.
    return { kind: 'other', message: classifyText([...errors, stderrTail]).message || `exit ${exitCode}` };
  },
};
