/**
 * A stub of the Anthropic Messages API on 127.0.0.1, good enough for the real
 * Claude Code CLI (verified against 2.1.330) to run whole agent sessions offline.
 *
 * Test equipment, not product. Every request is recorded; the requests that
 * carry tools (the agent loop) are answered by the test's `respond` callback,
 * everything else (title/topic generation with a small model, count_tokens,
 * start-up probes) gets a short generic answer so nothing stalls.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';

export type Usage = { input_tokens: number; output_tokens: number };

export type AnthropicReply =
  | { kind: 'text'; text: string; usage?: Usage }
  /** Optional `text` is sent as a text block before the tool_use block. */
  | { kind: 'tool_use'; name: string; input: Record<string, unknown>; text?: string; id?: string; usage?: Usage }
  /** A real HTTP error status with an Anthropic-shaped JSON body and the given headers. */
  | { kind: 'error'; status: number; type: string; message: string; headers?: Record<string, string> }
  /**
   * Streaming requests: HTTP 200, message_start, then an `event: error` (like an overload mid-stream).
   * Non-streaming requests (Claude Code's fallback) get HTTP `status` (default 529) with the same JSON error.
   */
  | { kind: 'stream_error'; type: string; message: string; status?: number }
  /** Accept the request and never answer, not even headers (until close()). */
  | { kind: 'hang' }
  /**
   * Streaming requests: send 200 + SSE headers + message_start (+ an optional partial text), then go silent
   * (until close()). Non-streaming requests: same as hang.
   */
  | { kind: 'stall'; text?: string }
  | { kind: 'delay'; ms: number; then: AnthropicReply };

export interface RecordedRequest {
  method: string;
  /** Path including the query string, e.g. `/v1/messages?beta=true`. */
  path: string;
  model: string;
  stream: boolean;
  hasTools: boolean;
  /** The system prompt flattened to one string (text blocks joined by "\n"). */
  system: string;
  messages: unknown[];
  /** Names of the tools offered (empty when none). */
  tools: string[];
  headers: Record<string, string>;
  /** The parsed JSON body (undefined when there was none or it was not JSON). */
  body: unknown;
  /** Date.now() when the request arrived. */
  at: number;
}

export interface AnthropicStub {
  /** e.g. http://127.0.0.1:PORT — the value for ANTHROPIC_BASE_URL. */
  url: string;
  /** Every request, in arrival order (including start-up probes and count_tokens). */
  requests: RecordedRequest[];
  /** Only the agent-loop requests: POST /v1/messages carrying tools. */
  agentRequests(): RecordedRequest[];
  /** Stops listening, ends hanging/delayed requests, destroys open sockets. */
  close(): Promise<void>;
}

export interface StubOptions {
  /** Called with one line per request / reply (for debugging). */
  log?: (line: string) => void;
  /** Text given to requests without tools (title/topic generation). Default: a short title. */
  auxiliaryText?: string;
}

const isMessagesPath = (p: string): boolean => /^\/v1\/messages(\?|$)/.test(p);
const isCountTokensPath = (p: string): boolean => /^\/v1\/messages\/count_tokens(\?|$)/.test(p);

function newId(prefix: string): string {
  return prefix + randomBytes(12).toString('hex');
}

function flattenSystem(system: unknown): string {
  if (typeof system === 'string') return system;
  if (Array.isArray(system)) {
    return system
      .map((b) =>
        b && typeof b === 'object' && typeof (b as { text?: unknown }).text === 'string'
          ? (b as { text: string }).text
          : '',
      )
      .join('\n');
  }
  return '';
}

function estimateTokens(body: unknown): number {
  return Math.max(1, Math.ceil(JSON.stringify(body ?? '').length / 4));
}

type Block =
  { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

function blocksOf(r: Extract<AnthropicReply, { kind: 'text' | 'tool_use' }>): Block[] {
  if (r.kind === 'text') return [{ type: 'text', text: r.text }];
  const blocks: Block[] = [];
  if (r.text !== undefined && r.text !== '') blocks.push({ type: 'text', text: r.text });
  blocks.push({ type: 'tool_use', id: r.id ?? newId('toolu_stub_'), name: r.name, input: r.input });
  return blocks;
}

/** SSE headers and a `message_start` with tiny usage: the opening of a stream that then fails or stalls. */
function openStream(res: http.ServerResponse, req: RecordedRequest): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'request-id': newId('req_stub_'),
  });
  sse(res, 'message_start', {
    type: 'message_start',
    message: {
      id: newId('msg_stub_'),
      type: 'message',
      role: 'assistant',
      model: req.model || 'claude-stub',
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 1, output_tokens: 1 },
    },
  });
}

function sse(res: http.ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/** Split a string into a few chunks so deltas look like a real stream. */
function chunks(s: string, n = 3): string[] {
  if (s.length <= n) return [s];
  const size = Math.ceil(s.length / n);
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

export function startAnthropicStub(
  respond: (req: RecordedRequest, agentIndex: number) => AnthropicReply,
  options: StubOptions = {},
): Promise<AnthropicStub> {
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const hanging = new Set<http.ServerResponse>();
  let agentCount = 0;
  let closed = false;
  const log = options.log ?? (() => undefined);

  function sendJson(
    res: http.ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    if (res.writableEnded || res.destroyed) return;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(text)),
      'request-id': newId('req_stub_'),
      ...headers,
    });
    res.end(text);
  }

  function sendMessage(
    res: http.ServerResponse,
    req: RecordedRequest,
    r: Extract<AnthropicReply, { kind: 'text' | 'tool_use' }>,
  ): void {
    if (res.writableEnded || res.destroyed) return;
    const blocks = blocksOf(r);
    const stopReason = r.kind === 'tool_use' ? 'tool_use' : 'end_turn';
    const usage: Usage = r.usage ?? {
      input_tokens: estimateTokens(req.messages),
      output_tokens: estimateTokens(blocks),
    };
    const messageId = newId('msg_stub_');
    const model = req.model || 'claude-stub';
    if (!req.stream) {
      sendJson(res, 200, {
        id: messageId,
        type: 'message',
        role: 'assistant',
        model,
        content: blocks,
        stop_reason: stopReason,
        stop_sequence: null,
        usage: { ...usage, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
      });
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'request-id': newId('req_stub_'),
    });
    sse(res, 'message_start', {
      type: 'message_start',
      message: {
        id: messageId,
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: {
          input_tokens: usage.input_tokens,
          output_tokens: 1,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 0,
        },
      },
    });
    blocks.forEach((b, index) => {
      if (b.type === 'text') {
        sse(res, 'content_block_start', {
          type: 'content_block_start',
          index,
          content_block: { type: 'text', text: '' },
        });
        if (index === 0) sse(res, 'ping', { type: 'ping' });
        for (const c of chunks(b.text)) {
          sse(res, 'content_block_delta', {
            type: 'content_block_delta',
            index,
            delta: { type: 'text_delta', text: c },
          });
        }
      } else {
        sse(res, 'content_block_start', {
          type: 'content_block_start',
          index,
          content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} },
        });
        if (index === 0) sse(res, 'ping', { type: 'ping' });
        for (const c of chunks(JSON.stringify(b.input))) {
          sse(res, 'content_block_delta', {
            type: 'content_block_delta',
            index,
            delta: { type: 'input_json_delta', partial_json: c },
          });
        }
      }
      sse(res, 'content_block_stop', { type: 'content_block_stop', index });
    });
    sse(res, 'message_delta', {
      type: 'message_delta',
      delta: { stop_reason: stopReason, stop_sequence: null },
      usage: { output_tokens: usage.output_tokens },
    });
    sse(res, 'message_stop', { type: 'message_stop' });
    res.end();
  }

  function deliver(res: http.ServerResponse, req: RecordedRequest, r: AnthropicReply): void {
    if (closed || res.writableEnded || res.destroyed) return;
    switch (r.kind) {
      case 'text':
      case 'tool_use':
        log(`  <- ${r.kind}${r.kind === 'tool_use' ? ' ' + r.name : ''}`);
        sendMessage(res, req, r);
        return;
      case 'error':
        log(`  <- error ${r.status} ${r.type}`);
        sendJson(res, r.status, { type: 'error', error: { type: r.type, message: r.message } }, r.headers ?? {});
        return;
      case 'stream_error':
        log(`  <- stream_error ${r.type}${req.stream ? '' : ' (as HTTP error: non-streaming request)'}`);
        if (!req.stream) {
          sendJson(res, r.status ?? 529, { type: 'error', error: { type: r.type, message: r.message } });
          return;
        }
        openStream(res, req);
        sse(res, 'error', { type: 'error', error: { type: r.type, message: r.message } });
        res.end();
        return;
      case 'stall':
        if (!req.stream) {
          // A non-streaming request (Claude Code's fallback after a stalled stream) cannot stall mid-body: hang it.
          deliver(res, req, { kind: 'hang' });
          return;
        }
        log('  <- stall');
        openStream(res, req);
        if (r.text !== undefined) {
          sse(res, 'content_block_start', {
            type: 'content_block_start',
            index: 0,
            content_block: { type: 'text', text: '' },
          });
          sse(res, 'content_block_delta', {
            type: 'content_block_delta',
            index: 0,
            delta: { type: 'text_delta', text: r.text },
          });
        }
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      case 'hang':
        log('  <- hang');
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      case 'delay': {
        log(`  <- delay ${r.ms}ms`);
        const t = setTimeout(() => {
          timers.delete(t);
          deliver(res, req, r.then);
        }, r.ms);
        timers.add(t);
        return;
      }
    }
  }

  const server = http.createServer((httpReq, res) => {
    const bufs: Buffer[] = [];
    httpReq.on('data', (b: Buffer) => bufs.push(b));
    httpReq.on('end', () => {
      const raw = Buffer.concat(bufs).toString('utf8');
      let body: unknown;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        body = undefined;
      }
      const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(httpReq.headers)) {
        if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      }
      const tools = Array.isArray(b.tools)
        ? (b.tools as Array<{ name?: unknown }>).map((t) => String(t?.name ?? ''))
        : [];
      const path = httpReq.url ?? '/';
      const rec: RecordedRequest = {
        method: httpReq.method ?? 'GET',
        path,
        model: typeof b.model === 'string' ? b.model : '',
        stream: b.stream === true,
        hasTools: tools.length > 0,
        system: flattenSystem(b.system),
        messages: Array.isArray(b.messages) ? b.messages : [],
        tools,
        headers,
        body,
        at: Date.now(),
      };
      requests.push(rec);
      log(
        `-> ${rec.method} ${path} model=${rec.model} stream=${rec.stream} tools=${tools.length} messages=${rec.messages.length}`,
      );

      if (rec.method === 'POST' && isCountTokensPath(path)) {
        sendJson(res, 200, { input_tokens: estimateTokens(body) });
        return;
      }
      if (rec.method === 'POST' && isMessagesPath(path)) {
        if (!rec.hasTools) {
          deliver(res, rec, { kind: 'text', text: options.auxiliaryText ?? 'Stub session' });
          return;
        }
        const index = agentCount++;
        let r: AnthropicReply;
        try {
          r = respond(rec, index);
        } catch (e) {
          r = {
            kind: 'error',
            status: 500,
            type: 'api_error',
            message: `stub respond() threw: ${(e as Error).message}`,
          };
        }
        deliver(res, rec, r);
        return;
      }
      // Connectivity probe Claude Code sends when nonessential traffic is not disabled.
      if (/^\/api\/hello(\?|$)/.test(path)) {
        if (rec.method === 'HEAD') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end();
        } else sendJson(res, 200, { message: 'hello' });
        return;
      }
      // Anything else: a plain Anthropic-shaped 404.
      sendJson(res, 404, {
        type: 'error',
        error: { type: 'not_found_error', message: `stub: no such endpoint ${rec.method} ${path}` },
      });
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        requests,
        agentRequests: () => requests.filter((r) => r.method === 'POST' && isMessagesPath(r.path) && r.hasTools),
        close: () =>
          new Promise<void>((done) => {
            if (closed) return done();
            closed = true;
            for (const t of timers) clearTimeout(t);
            timers.clear();
            for (const res of hanging) res.destroy();
            hanging.clear();
            server.close(() => done());
            for (const s of sockets) s.destroy();
          }),
      });
    });
  });
}

/** Small builders for replies. */
export const reply = {
  text: (text: string, usage?: Usage): AnthropicReply =>
    usage ? { kind: 'text', text, usage } : { kind: 'text', text },
  toolUse: (name: string, input: Record<string, unknown>, text?: string): AnthropicReply =>
    text === undefined ? { kind: 'tool_use', name, input } : { kind: 'tool_use', name, input, text },
  error: (status: number, type: string, message: string, headers?: Record<string, string>): AnthropicReply =>
    headers ? { kind: 'error', status, type, message, headers } : { kind: 'error', status, type, message },
  /** 429 rate_limit_error with a retry-after header (seconds). */
  rateLimited: (
    retryAfterSeconds = 2,
    message = 'Number of request tokens has exceeded your per-minute rate limit',
  ): AnthropicReply => ({
    kind: 'error',
    status: 429,
    type: 'rate_limit_error',
    message,
    headers: { 'retry-after': String(retryAfterSeconds) },
  }),
  /** 401 authentication_error. */
  unauthorized: (message = 'invalid x-api-key'): AnthropicReply => ({
    kind: 'error',
    status: 401,
    type: 'authentication_error',
    message,
  }),
  /** 529 overloaded_error. */
  overloaded: (message = 'Overloaded'): AnthropicReply => ({
    kind: 'error',
    status: 529,
    type: 'overloaded_error',
    message,
  }),
  /** HTTP 200 SSE stream that fails with `event: error`. */
  streamError: (type = 'overloaded_error', message = 'Overloaded'): AnthropicReply => ({
    kind: 'stream_error',
    type,
    message,
  }),
  hang: (): AnthropicReply => ({ kind: 'hang' }),
  stall: (text?: string): AnthropicReply => (text === undefined ? { kind: 'stall' } : { kind: 'stall', text }),
  delay: (ms: number, then: AnthropicReply): AnthropicReply => ({ kind: 'delay', ms, then }),
};

/** Text of the user's text blocks in the request's last user message (the prompt, or "continue" on resume). */
export function lastUserText(req: RecordedRequest): string {
  const m = [...req.messages].reverse().find((x) => (x as { role?: string }).role === 'user') as
    { content?: unknown } | undefined;
  if (!m) return '';
  if (typeof m.content === 'string') return m.content;
  if (!Array.isArray(m.content)) return '';
  return (m.content as Array<{ type?: string; text?: string }>)
    .filter((b) => b.type === 'text' && typeof b.text === 'string' && !b.text.startsWith('<system-reminder>'))
    .map((b) => b.text as string)
    .join('\n');
}

/** The tool_result blocks of the request's last user message (what the previous tool_use produced). */
export function lastToolResults(
  req: RecordedRequest,
): Array<{ tool_use_id: string; content: unknown; is_error?: boolean }> {
  const m = req.messages[req.messages.length - 1] as { role?: string; content?: unknown } | undefined;
  if (!m || m.role !== 'user' || !Array.isArray(m.content)) return [];
  return (m.content as Array<{ type?: string; tool_use_id: string; content: unknown; is_error?: boolean }>).filter(
    (b) => b.type === 'tool_result',
  );
}

/** Replies in order by agent-request index; the last one repeats when the script runs out. */
export function scripted(...replies: AnthropicReply[]): (req: RecordedRequest, agentIndex: number) => AnthropicReply {
  if (replies.length === 0) throw new Error('scripted() needs at least one reply');
  return (_req, i) => replies[Math.min(i, replies.length - 1)];
}

/**
 * Environment that makes the real Claude Code talk only to the stub (no telemetry,
 * no updates, no other hosts). `home` should be a fresh temp dir: Claude Code keeps
 * ~/.claude.json and ~/.claude/ (sessions under ~/.claude/projects/) there.
 * Returns a complete environment (PATH is carried over) — pass it as `env`, do not
 * merge it into process.env, so no real credentials leak in.
 */
export function claudeEnv(
  stub: AnthropicStub,
  home: string,
  opts: {
    /** CLAUDE_CODE_MAX_RETRIES (Claude Code's default is 10 retries, ~3 minutes of backoff; 0 = fail at once). */
    maxRetries?: number;
    /** API_TIMEOUT_MS: how long to wait for response headers (a `hang`); default ~6-10 minutes. */
    apiTimeoutMs?: number;
  } = {},
): Record<string, string> {
  const extra: Record<string, string> = {};
  if (opts.maxRetries !== undefined) extra.CLAUDE_CODE_MAX_RETRIES = String(opts.maxRetries);
  if (opts.apiTimeoutMs !== undefined) extra.API_TIMEOUT_MS = String(opts.apiTimeoutMs);
  return {
    ...extra,
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    TMPDIR: process.env.TMPDIR ?? '/tmp',
    LANG: 'C.UTF-8',
    ANTHROPIC_BASE_URL: stub.url,
    ANTHROPIC_API_KEY: 'sk-ant-stub-key',
    IS_SANDBOX: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_ERROR_REPORTING: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  };
}
