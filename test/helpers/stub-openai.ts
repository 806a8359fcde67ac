/**
 * A stub OpenAI Responses API server for driving the REAL Codex CLI in tests (test equipment).
 *
 * Observed with codex-cli 0.169.0 and a custom `model_providers` entry (see codexConfig()):
 * - Codex makes exactly one kind of call: `POST {base_url}/responses`, `stream: true`, `store: false`,
 *   the whole conversation in `input` (never `previous_response_id`, also not after
 *   `codex exec resume`, which replays the stored history). Nothing else hits the stub.
 * - It reads SSE: `response.created`, `response.output_item.added` / `.done`,
 *   `response.output_text.delta`, `response.completed` (with `usage`), or `response.failed`.
 * - Shell commands come from its `exec_command` function tool (`{ cmd: string }`, run as
 *   `/bin/bash -c <cmd>` in the cwd); file edits from the freeform custom tool `apply_patch`.
 * - HTTP 400/403/404 and 429 `insufficient_quota` fail at once; 5xx and dropped streams are retried
 *   by the provider's `request_max_retries` (inner) and `stream_max_retries` (outer, printed as
 *   `Reconnecting... n/m (...)` `error` events); 401 only by the outer one; other 429s only by the
 *   outer one and only when they carry `retry-after` (honoured). codexConfig() sets both to 0.
 *   A reply that never sends headers is never timed out by Codex; `stream_idle_timeout_ms` only
 *   applies once the SSE stream has started.
 */
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StubUsage {
  input_tokens: number;
  output_tokens: number;
  cached_input_tokens?: number;
  reasoning_output_tokens?: number;
}

export type ResponsesReply =
  /** An assistant message (optionally preceded by a reasoning summary). Ends the turn. */
  | { kind: 'message'; text: string; usage?: StubUsage; reasoning?: string }
  /** Codex runs `command` (argv, shell-quoted into one string) in its cwd via its `exec_command` tool. */
  | { kind: 'shell'; command: string[]; workdir?: string; usage?: StubUsage }
  /** Codex applies a patch in `apply_patch` format via its freeform `apply_patch` tool -> `file_change` item. */
  | { kind: 'apply_patch'; patch: string; usage?: StubUsage }
  /** Any function tool call; `arguments` is JSON-encoded for you. */
  | { kind: 'function_call'; name: string; arguments: Record<string, unknown>; usage?: StubUsage }
  /** A real HTTP error status with an OpenAI-shaped JSON body. */
  | { kind: 'error'; status: number; code?: string; type?: string; message: string; headers?: Record<string, string> }
  /** HTTP 200, then an in-stream `response.failed` event carrying `{ code, message }`. */
  | { kind: 'stream_failed'; code: string; message: string }
  /** HTTP 200 and `response.created`, then the connection is dropped without `response.completed`. */
  | { kind: 'disconnect' }
  /** Never answer (`stage: 'headers'`, default) or send 200 + `response.created` and then nothing (`'stream'`). */
  | { kind: 'hang'; stage?: 'headers' | 'stream' }
  | { kind: 'delay'; ms: number; then: ResponsesReply };

export interface RecordedRequest {
  method: string;
  path: string;
  model: string;
  input: unknown[];
  tools: unknown[];
  headers: Record<string, string>;
  /** Date.now() when the request body had arrived. */
  at: number;
  previousResponseId?: string;
  /** The parsed JSON body (undefined if it was not JSON). */
  body: Record<string, unknown> | undefined;
}

export interface ResponsesStub {
  /** Base URL including `/v1`, e.g. `http://127.0.0.1:41234/v1`; use as the provider's `base_url`. */
  url: string;
  /** Every `POST .../responses` request, in arrival order. */
  requests: RecordedRequest[];
  /** Every other request (answered 404). Codex 0.169 makes none with this setup. */
  otherRequests: RecordedRequest[];
  close(): Promise<void>;
}

export type Responder = (req: RecordedRequest, index: number) => ResponsesReply;

const DEFAULT_USAGE: StubUsage = { input_tokens: 100, output_tokens: 10 };

/** POSIX-shell quoting of one argument. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_\-+=/.,:@%]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

function usageJson(u: StubUsage = DEFAULT_USAGE): Record<string, unknown> {
  return {
    input_tokens: u.input_tokens,
    input_tokens_details: { cached_tokens: u.cached_input_tokens ?? 0 },
    output_tokens: u.output_tokens,
    output_tokens_details: { reasoning_tokens: u.reasoning_output_tokens ?? 0 },
    total_tokens: u.input_tokens + u.output_tokens,
  };
}

function flatHeaders(h: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

export function startResponsesStub(respond: Responder): Promise<ResponsesStub> {
  const requests: RecordedRequest[] = [];
  const otherRequests: RecordedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let seq = 0;
  const tag = Math.random().toString(36).slice(2, 8); // ids unique across stubs (resume replays old call ids)

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: Record<string, unknown> | undefined;
      try {
        body = raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined;
      } catch {
        body = undefined;
      }
      const path = (req.url ?? '/').split('?')[0];
      const rec: RecordedRequest = {
        method: req.method ?? 'GET',
        path,
        model: typeof body?.model === 'string' ? body.model : '',
        input: Array.isArray(body?.input) ? (body.input as unknown[]) : [],
        tools: Array.isArray(body?.tools) ? (body.tools as unknown[]) : [],
        headers: flatHeaders(req.headers),
        at: Date.now(),
        body,
      };
      if (typeof body?.previous_response_id === 'string') rec.previousResponseId = body.previous_response_id;

      if (req.method !== 'POST' || !path.endsWith('/responses')) {
        otherRequests.push(rec);
        sendError(res, {
          kind: 'error',
          status: 404,
          code: 'not_found',
          message: `stub: no route ${req.method} ${path}`,
        });
        return;
      }
      const index = requests.length;
      requests.push(rec);
      let reply: ResponsesReply;
      try {
        reply = respond(rec, index);
      } catch (err) {
        reply = { kind: 'error', status: 500, code: 'stub_responder_threw', message: String(err) };
      }
      serve(res, reply, `resp_${tag}_${++seq}`);
    });
  });

  function serve(res: http.ServerResponse, reply: ResponsesReply, responseId: string): void {
    switch (reply.kind) {
      case 'delay': {
        const t = setTimeout(() => {
          timers.delete(t);
          if (!res.destroyed) serve(res, reply.then, responseId);
        }, reply.ms);
        timers.add(t);
        return;
      }
      case 'hang':
        if (reply.stage === 'stream') {
          startStream(res, responseId);
        }
        return; // keep the socket open until the client gives up or close() is called
      case 'error':
        sendError(res, reply);
        return;
      case 'disconnect':
        startStream(res, responseId);
        res.socket?.destroy();
        return;
      case 'stream_failed':
        startStream(res, responseId);
        sse(res, 'response.failed', {
          response: {
            id: responseId,
            object: 'response',
            status: 'failed',
            error: { code: reply.code, message: reply.message },
          },
        });
        res.end();
        return;
      default: {
        const items = outputItems(reply, responseId);
        startStream(res, responseId);
        items.forEach((item, outputIndex) => {
          const id = item.id as string;
          if (item.type === 'message') {
            const text = reply.kind === 'message' ? reply.text : '';
            sse(res, 'response.output_item.added', {
              output_index: outputIndex,
              item: { ...item, status: 'in_progress', content: [] },
            });
            sse(res, 'response.content_part.added', {
              item_id: id,
              output_index: outputIndex,
              content_index: 0,
              part: { type: 'output_text', text: '', annotations: [] },
            });
            sse(res, 'response.output_text.delta', {
              item_id: id,
              output_index: outputIndex,
              content_index: 0,
              delta: text,
            });
            sse(res, 'response.output_text.done', { item_id: id, output_index: outputIndex, content_index: 0, text });
          } else {
            sse(res, 'response.output_item.added', { output_index: outputIndex, item });
          }
          sse(res, 'response.output_item.done', { output_index: outputIndex, item });
        });
        const usage = 'usage' in reply ? reply.usage : undefined;
        sse(res, 'response.completed', {
          response: {
            id: responseId,
            object: 'response',
            status: 'completed',
            output: items,
            usage: usageJson(usage),
          },
        });
        res.end();
      }
    }
  }

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}/v1`,
        requests,
        otherRequests,
        close: () =>
          new Promise<void>((done) => {
            for (const t of timers) clearTimeout(t);
            timers.clear();
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

function sse(res: http.ServerResponse, type: string, payload: Record<string, unknown>): void {
  res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`);
}

function startStream(res: http.ServerResponse, responseId: string): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const response = { id: responseId, object: 'response', status: 'in_progress', output: [] };
  sse(res, 'response.created', { response });
  sse(res, 'response.in_progress', { response });
}

function sendError(res: http.ServerResponse, e: Extract<ResponsesReply, { kind: 'error' }>): void {
  const body = JSON.stringify({
    error: { message: e.message, type: e.type ?? errorType(e.status), param: null, code: e.code ?? null },
  });
  res.writeHead(e.status, { 'content-type': 'application/json', ...(e.headers ?? {}) });
  res.end(body);
}

function errorType(status: number): string {
  if (status === 401) return 'invalid_request_error';
  if (status === 429) return 'rate_limit_error'; // OpenAI uses `requests` / `tokens` / `insufficient_quota` too
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

function outputItems(reply: ResponsesReply, responseId: string): Record<string, unknown>[] {
  const n = responseId.replace(/^resp_/, '');
  switch (reply.kind) {
    case 'message': {
      const items: Record<string, unknown>[] = [];
      if (reply.reasoning !== undefined) {
        items.push({
          type: 'reasoning',
          id: `rs_${n}`,
          summary: [{ type: 'summary_text', text: reply.reasoning }],
        });
      }
      items.push({
        type: 'message',
        id: `msg_${n}`,
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: reply.text, annotations: [] }],
      });
      return items;
    }
    case 'shell': {
      const args: Record<string, unknown> = { cmd: reply.command.map(shellQuote).join(' '), login: false };
      if (reply.workdir !== undefined) args.workdir = reply.workdir;
      return [functionCallItem(n, 'exec_command', args)];
    }
    case 'function_call':
      return [functionCallItem(n, reply.name, reply.arguments)];
    case 'apply_patch':
      return [
        {
          type: 'custom_tool_call',
          id: `ctc_${n}`,
          call_id: `call_${n}`,
          name: 'apply_patch',
          input: reply.patch,
          status: 'completed',
        },
      ];
    default:
      return [];
  }
}

function functionCallItem(n: string, name: string, args: Record<string, unknown>): Record<string, unknown> {
  return {
    type: 'function_call',
    id: `fc_${n}`,
    call_id: `call_${n}`,
    name,
    arguments: JSON.stringify(args),
    status: 'completed',
  };
}

export const reply = {
  message: (text: string, usage?: StubUsage): ResponsesReply => ({
    kind: 'message',
    text,
    ...(usage ? { usage } : {}),
  }),
  shell: (command: string[], workdir?: string): ResponsesReply => ({
    kind: 'shell',
    command,
    ...(workdir !== undefined ? { workdir } : {}),
  }),
  /** Convenience: run a shell script line (`bash -lc`-free: passed through `sh -c`). */
  sh: (script: string): ResponsesReply => ({ kind: 'shell', command: ['sh', '-c', script] }),
  applyPatch: (patch: string): ResponsesReply => ({ kind: 'apply_patch', patch }),
  functionCall: (name: string, args: Record<string, unknown>): ResponsesReply => ({
    kind: 'function_call',
    name,
    arguments: args,
  }),
  error: (
    status: number,
    message: string,
    opts: { code?: string; type?: string; headers?: Record<string, string> } = {},
  ): ResponsesReply => ({ kind: 'error', status, message, ...opts }),
  rateLimited: (retryAfterSeconds = 2): ResponsesReply => ({
    kind: 'error',
    status: 429,
    code: 'rate_limit_exceeded',
    type: 'requests',
    message: 'Rate limit reached for requests. Please try again later.',
    headers: { 'retry-after': String(retryAfterSeconds) },
  }),
  invalidApiKey: (): ResponsesReply => ({
    kind: 'error',
    status: 401,
    code: 'invalid_api_key',
    message:
      'Incorrect API key provided: sk-stub. You can find your API key at https://platform.openai.com/account/api-keys.',
  }),
  serverError: (): ResponsesReply => ({
    kind: 'error',
    status: 500,
    code: 'server_error',
    message: 'The server had an error while processing your request. Sorry about that!',
  }),
  streamFailed: (code: string, message: string): ResponsesReply => ({ kind: 'stream_failed', code, message }),
  disconnect: (): ResponsesReply => ({ kind: 'disconnect' }),
  hang: (stage: 'headers' | 'stream' = 'headers'): ResponsesReply => ({ kind: 'hang', stage }),
  delay: (ms: number, then: ResponsesReply): ResponsesReply => ({ kind: 'delay', ms, then }),
};

/** A responder that plays `replies` in order, then keeps answering with `after` (default: the last reply). */
export function script(replies: ResponsesReply[], after?: ResponsesReply): Responder {
  return (_req, index) => replies[index] ?? after ?? replies[replies.length - 1] ?? reply.message('done');
}

/** `function_call_output` / `custom_tool_call_output` items in a request's input (tool results Codex sent back). */
export function toolOutputs(req: RecordedRequest): { callId: string; output: string }[] {
  const out: { callId: string; output: string }[] = [];
  for (const item of req.input as Record<string, unknown>[]) {
    if (item?.type !== 'function_call_output' && item?.type !== 'custom_tool_call_output') continue;
    const o = item.output;
    const text =
      typeof o === 'string'
        ? o
        : Array.isArray(o)
          ? o.map((p: { text?: string }) => p?.text ?? '').join('')
          : JSON.stringify(o);
    out.push({ callId: String(item.call_id), output: text });
  }
  return out;
}

/** Texts of the `user` messages in a request's input (the last one is the prompt of the turn). */
export function userTexts(req: RecordedRequest): string[] {
  const texts: string[] = [];
  for (const item of req.input as Record<string, unknown>[]) {
    if (item?.type !== 'message' || item.role !== 'user' || !Array.isArray(item.content)) continue;
    for (const part of item.content as { type?: string; text?: string }[]) {
      if (part?.type === 'input_text' && typeof part.text === 'string') texts.push(part.text);
    }
  }
  return texts;
}

/** The model slug codexConfig() uses: in Codex 0.169's built-in catalogue (no "Model metadata ... not found" item). */
export const STUB_MODEL = 'gpt-5.5';
export const STUB_PROVIDER = 'flotilla_stub';
export const STUB_API_KEY_ENV = 'FLOTILLA_STUB_OPENAI_KEY';

export interface CodexConfigOptions {
  model?: string;
  /** Inner HTTP retries for 5xx / dropped connections (Codex default 4). */
  requestMaxRetries?: number;
  /** Outer "Reconnecting... n/m" retries for any retryable failure (Codex default 5). */
  streamMaxRetries?: number;
  /** Gives up on an SSE stream that has started but then goes silent (Codex default 300000). */
  streamIdleTimeoutMs?: number;
}

/**
 * argv (to put right after `codex exec` or `codex exec resume`, before the positionals) and env that
 * make the real Codex talk only to the stub, unattended, with no sandbox, failing fast:
 *
 *   codex exec --json -C DIR ...args PROMPT                  (new thread)
 *   codex exec resume --json ...args THREAD_ID PROMPT       (cwd = process cwd; `exec resume` has no -C)
 *   codex exec --json -C DIR ...args resume THREAD_ID PROMPT (also works)
 *
 * Merge `env` over process.env. `codexHome` is created (Codex exits 1 if CODEX_HOME does not exist).
 * Spawn with stdin 'ignore' (or end it): with a non-TTY stdin Codex prints "Reading additional input from
 * stdin..." and waits for EOF before its first request, then appends the text as a `<stdin>` block.
 */
export function codexConfig(
  stub: ResponsesStub,
  codexHome: string,
  opts: CodexConfigOptions = {},
): { args: string[]; env: Record<string, string> } {
  mkdirSync(codexHome, { recursive: true });
  const p = `model_providers.${STUB_PROVIDER}`;
  const args = [
    '-m',
    opts.model ?? STUB_MODEL,
    '-c',
    `model_provider="${STUB_PROVIDER}"`,
    '-c',
    `${p}.name="Flotilla stub"`,
    '-c',
    `${p}.base_url="${stub.url}"`,
    '-c',
    `${p}.wire_api="responses"`,
    '-c',
    `${p}.env_key="${STUB_API_KEY_ENV}"`,
    '-c',
    `${p}.request_max_retries=${opts.requestMaxRetries ?? 0}`,
    '-c',
    `${p}.stream_max_retries=${opts.streamMaxRetries ?? 0}`,
    '-c',
    `${p}.stream_idle_timeout_ms=${opts.streamIdleTimeoutMs ?? 10_000}`,
    // No outbound traffic besides the stub: plugin sync (git clone github.com/openai/plugins) and analytics (chatgpt.com).
    '--disable',
    'plugins',
    '-c',
    'analytics.enabled=false',
    '-c',
    'check_for_update_on_startup=false',
    // Otherwise "Connection failed" (stub closed / port refused) is retried forever as "Reconnecting... waiting for network".
    '--disable',
    'unbounded_connection_retries',
    '--dangerously-bypass-approvals-and-sandbox',
    '--skip-git-repo-check',
  ];
  const env: Record<string, string> = {
    CODEX_HOME: codexHome,
    [STUB_API_KEY_ENV]: 'sk-stub',
  };
  return { args, env };
}
