/**
 * The `claude` runtime: Claude Code in print mode, streaming JSON.
 *   claude -p PROMPT --output-format stream-json --verbose --dangerously-skip-permissions
 *          --append-system-prompt CONTRACT [--model M] [--resume SESSION] [args...]
 * Output (one JSON object a line, Claude Code's `stream-json` format): `system/init` (session_id,
 * tools, model), `assistant` (message.content: text / tool_use blocks, message.usage; one line per
 * content block, same message id), `user` (tool_result blocks), `result` (subtype, is_error,
 * result, total_cost_usd, usage, num_turns, session_id).
 */
import path from 'node:path';
import { classifyText } from './classify';
import { homeOf, packagedBinary, readJsonLine } from './shared';
import type { AgentEvent, RuntimeAdapter } from './types';

/** Claude Code ships with Flotilla (a dependency); a `claude` on PATH is the fallback. */
export function claudeBinary(): string {
  return packagedBinary('@anthropic-ai/claude-code', 'bin/claude.exe', 'claude');
}

type Block = { type: string; text?: string; name?: string; input?: unknown; content?: unknown; is_error?: boolean };
interface Line {
  type?: string;
  subtype?: string;
  session_id?: string;
  model?: string;
  tools?: unknown[];
  message?: { id?: string; content?: Block[] | string; usage?: Usage };
  result?: string;
  is_error?: boolean;
  total_cost_usd?: number;
  num_turns?: number;
  usage?: Usage;
  error?: string | null;
  error_status?: number | null;
  retry_delay_ms?: number;
  api_error_status?: number | null;
}
interface Usage {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
}

const inputOf = (u: Usage): number =>
  (u.input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);

function short(value: unknown, max = 160): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  const one = (text ?? '').replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max)}…` : one;
}

function toolText(b: Block): string {
  const input = (b.input ?? {}) as Record<string, unknown>;
  const main = input.command ?? input.file_path ?? input.path ?? input.pattern ?? input.url ?? input;
  return `${b.name}(${short(main, 120)})`;
}

export const claudeRuntime: RuntimeAdapter = {
  install:
    'Claude Code ships with Flotilla (npm ci in the Flotilla checkout), or: npm install -g @anthropic-ai/claude-code',
  defaultEnv: ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'ANTHROPIC_BASE_URL', 'CLAUDE_CONFIG_DIR'],
  build({ agent, prompt, contract, resumeSessionId }) {
    const argv = [
      claudeBinary(),
      '-p',
      prompt,
      '--output-format',
      'stream-json',
      '--verbose',
      '--dangerously-skip-permissions',
    ];
    argv.push('--append-system-prompt', contract);
    if (agent.model) argv.push('--model', agent.model);
    if (resumeSessionId) argv.push('--resume', resumeSessionId);
    argv.push(...agent.args);
    // Claude Code refuses --dangerously-skip-permissions as root unless told it is sandboxed; an
    // unattended worker running as root (a container) is that case. The updater must not swap the
    // binary in the middle of a mission.
    const env: Record<string, string> = { DISABLE_AUTOUPDATER: '1' };
    // Claude Code retries API errors 10 times in-process by default (about 3 minutes, even for
    // a 401). Flotilla owns retries: one quick retry absorbs a blip; then the attempt fails and
    // auth fails the task, a rate limit waits on a durable timer. The worker's own value wins.
    env.CLAUDE_CODE_MAX_RETRIES = process.env.CLAUDE_CODE_MAX_RETRIES ?? '1';
    if (process.getuid?.() === 0) env.IS_SANDBOX = '1';
    return { argv, env };
  },
  statePaths(env) {
    // Claude Code keeps settings, sessions and its login in CLAUDE_CONFIG_DIR (its `.claude.json`
    // too), else in ~/.claude and ~/.claude.json.
    if (env.CLAUDE_CONFIG_DIR) return { dirs: [env.CLAUDE_CONFIG_DIR], files: [] };
    const home = homeOf(env);
    return { dirs: [path.join(home, '.claude')], files: [path.join(home, '.claude.json')] };
  },
  parser() {
    const counted = new Set<string>();
    return (raw, stream) => {
      const read = readJsonLine<Line>(raw, stream);
      if (!('json' in read)) return read.event;
      const line = read.json;
      switch (line.type) {
        case 'system':
          if (line.subtype === 'api_retry') {
            // Claude Code retries once itself (CLAUDE_CODE_MAX_RETRIES below); its delay honours retry-after.
            return {
              kind: 'error',
              text: `API error ${line.error_status ?? ''} ${line.error ?? ''}; Claude Code retries in ${line.retry_delay_ms ?? '?'} ms`,
              retryAfterMs: line.retry_delay_ms,
            };
          }
          if (line.subtype === 'init' && line.session_id) {
            return {
              kind: 'session',
              sessionId: line.session_id,
              text: `session ${line.session_id} (${line.model ?? 'model?'}, ${line.tools?.length ?? 0} tools)`,
            };
          }
          return undefined;
        case 'assistant': {
          const content = Array.isArray(line.message?.content) ? line.message!.content : [];
          const id = line.message?.id;
          const first = id === undefined || !counted.has(id);
          if (id) counted.add(id);
          const usage = first && line.message?.usage ? line.message.usage : undefined;
          const tool = content.find((b) => b.type === 'tool_use');
          const text = content
            .filter((b) => b.type === 'text')
            .map((b) => b.text ?? '')
            .join('')
            .trim();
          const ev: AgentEvent = tool
            ? { kind: 'tool', text: toolText(tool) }
            : { kind: 'text', text: text || '(thinking)' };
          if (usage)
            Object.assign(ev, { turn: true, inputTokens: inputOf(usage), outputTokens: usage.output_tokens ?? 0 });
          if (line.error) Object.assign(ev, { kind: 'error', isError: true, text: `${line.error}: ${text}` });
          return ev;
        }
        case 'user': {
          const content = Array.isArray(line.message?.content) ? line.message!.content : [];
          const r = content.find((b) => b.type === 'tool_result');
          if (!r) return undefined;
          const body = Array.isArray(r.content) ? r.content.map((c: Block) => c.text ?? '').join(' ') : r.content;
          return { kind: 'tool_result', text: `${r.is_error ? 'error: ' : ''}${short(body)}`, isError: r.is_error };
        }
        case 'result': {
          const u = line.usage ?? {};
          // API errors end as subtype "success" with is_error and api_error_status (Claude Code 2.1).
          return {
            kind: 'result',
            sessionId: line.session_id,
            text: `${line.is_error ? `error${line.api_error_status ? ` ${line.api_error_status}` : ''}` : 'done'}${line.subtype && line.subtype !== 'success' ? ` (${line.subtype})` : ''}: ${short(line.result ?? '', 400)}`,
            isError: !!line.is_error,
            totalCostUsd: line.total_cost_usd,
            totalTurns: line.num_turns,
            totalInputTokens: inputOf(u),
            totalOutputTokens: u.output_tokens ?? 0,
          };
        }
        default:
          return undefined;
      }
    };
  },
  classify(_exitCode, errors, stderrTail) {
    return classifyText([stderrTail, ...errors], /no conversation found with session id/i);
  },
};
