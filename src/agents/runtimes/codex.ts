/**
 * The `codex` runtime: Codex CLI's non-interactive mode, JSON lines on stdout.
 *   codex exec --json -C WORKTREE --dangerously-bypass-approvals-and-sandbox --skip-git-repo-check
 *              [-m MODEL] [args...] PROMPT
 *   codex exec --json ... resume THREAD_ID PROMPT            (a retry, steering, a gate iteration)
 * Events (`codex exec --json`): thread.started (thread_id), turn.started, item.started /
 * item.updated / item.completed (agent_message, reasoning, command_execution, file_change, ...),
 * turn.completed (usage: input_tokens, cached_input_tokens, output_tokens), turn.failed (error),
 * error (message). Codex reports no cost, so costUsd stays 0 for it.
 */
import path from 'node:path';
import { classifyText } from './classify';
import { homeOf, packagedBinary, readJsonLine } from './shared';
import type { RuntimeAdapter } from './types';

/** Codex ships with Flotilla (a dependency); a `codex` on PATH is the fallback. */
export function codexBinary(): string {
  return packagedBinary('@openai/codex', 'bin/codex.js', 'codex');
}

interface Item {
  id?: string;
  type?: string;
  text?: string;
  command?: string;
  exit_code?: number | null;
  status?: string;
  changes?: Array<{ path?: string; kind?: string }>;
  message?: string;
}
interface Line {
  type?: string;
  thread_id?: string;
  item?: Item;
  usage?: { input_tokens?: number; cached_input_tokens?: number; output_tokens?: number };
  error?: { message?: string };
  message?: string;
}

export const codexRuntime: RuntimeAdapter = {
  install: 'Codex ships with Flotilla (npm ci in the Flotilla checkout), or: npm install -g @openai/codex',
  defaultEnv: ['OPENAI_API_KEY', 'OPENAI_BASE_URL', 'CODEX_HOME'],
  build({ agent, prompt, contract, worktree, resumeSessionId }) {
    // codex has no system-prompt flag in exec mode: the contract leads the prompt.
    const text = `${contract}\n\n${prompt}`;
    const argv = [codexBinary(), 'exec', '--json', '-C', worktree, '--skip-git-repo-check'];
    // Unattended: no approval prompts. Flotilla's isolation is the worktree and the process group.
    argv.push('--dangerously-bypass-approvals-and-sandbox');
    // An unattended run must not stop to look for a newer Codex.
    argv.push('-c', 'check_for_update_on_startup=false');
    if (agent.model) argv.push('-m', agent.model);
    argv.push(...agent.args);
    if (resumeSessionId) argv.push('resume', resumeSessionId);
    argv.push(text);
    return { argv, env: {} };
  },
  statePaths(env) {
    // Codex keeps its config, login (auth.json) and session rollouts in CODEX_HOME, else ~/.codex.
    return { dirs: [env.CODEX_HOME || path.join(homeOf(env), '.codex')], files: [] };
  },
  parser() {
    return (raw, stream) => {
      const read = readJsonLine<Line>(raw, stream);
      if (!('json' in read)) return read.event;
      const line = read.json;
      switch (line.type) {
        case 'thread.started':
          return line.thread_id
            ? { kind: 'session', sessionId: line.thread_id, text: `thread ${line.thread_id}` }
            : undefined;
        case 'item.completed': {
          const item = line.item ?? {};
          if (item.type === 'agent_message') return { kind: 'text', text: item.text ?? '' };
          if (item.type === 'command_execution') {
            return {
              kind: 'tool',
              text: `$ ${item.command ?? '?'}${item.exit_code != null ? ` (exit ${item.exit_code})` : ''}`,
            };
          }
          if (item.type === 'file_change') {
            return {
              kind: 'tool',
              text: `edit ${(item.changes ?? []).map((c) => `${c.kind ?? ''} ${c.path ?? ''}`.trim()).join(', ')}`,
            };
          }
          if (item.type === 'error') return { kind: 'error', text: item.message ?? 'error', isError: true };
          return undefined;
        }
        case 'turn.completed': {
          const u = line.usage ?? {};
          // Sums every request of the turn and, after a resume, the whole thread (Codex 0.169).
          return {
            kind: 'usage',
            turn: true,
            text: `turn completed (${u.input_tokens ?? 0} input / ${u.output_tokens ?? 0} output tokens in this thread)`,
            sessionInputTokens: u.input_tokens ?? 0,
            sessionOutputTokens: u.output_tokens ?? 0,
          };
        }
        case 'turn.failed':
          return { kind: 'error', isError: true, text: line.error?.message ?? 'turn failed' };
        case 'error':
          // Not always fatal ("Reconnecting... 2/5"): the exit code and turn.failed decide.
          return { kind: 'error', text: line.message ?? 'error' };
        default:
          return undefined;
      }
    };
  },
  classify(_exitCode, errors, stderrTail) {
    return classifyText([stderrTail, ...errors], /(no (session|thread|rollout) found|thread .* not found)/i);
  },
};
