/**
 * What a running agent does now, for `watch` and `run` on a terminal: its current tool call or
 * command, read from the end of its transcript (a file on the worker's host,
 * `$FLOTILLA_HOME/runs/<mission>/<task>/attempt-<n>.jsonl`, named by the agent's heartbeat). Lines
 * go through the runtime's own parser (the one `flotilla logs` uses); the only event read here
 * directly is Codex's `item.started` of a command, which its parser skips since the completed item
 * follows, but which is exactly what a command still running looks like.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { runtimes } from '../agents/runtimes';
import { readRecord } from '../agents/transcript';
import type { Runtime } from '../mission/types';
import { formatDuration } from '../mission/duration';

/** What an agent did last, from its transcript. Times are epoch ms. */
export interface AgentActivity {
  /** The runtime that wrote the transcript (its `flotilla.attempt` record), when known. */
  runtime: Runtime | null;
  /** The last tool call or command, as `flotilla logs` shows it (`Bash(npm test)`, `$ npm test`), or null. */
  tool: string | null;
  /** When that tool call or command started. */
  toolAt: number | null;
  /** True while it runs: no result (Claude Code) or completion (Codex) followed it yet. */
  toolRunning: boolean;
  /** When the agent last wrote anything. */
  lastEventAt: number | null;
  /** True once the attempt's process ended (a `flotilla.exit` record). */
  exited: boolean;
}

/** A Codex command that started and has not completed (`item.started` of a `command_execution`). */
function codexCommandStarted(line: string): string | undefined {
  if (!line.includes('"item.started"')) return undefined;
  try {
    const ev = JSON.parse(line) as { type?: string; item?: { type?: string; command?: string } };
    if (ev.type === 'item.started' && ev.item?.type === 'command_execution') return `$ ${ev.item.command ?? '?'}`;
  } catch {
    // not JSON: not Codex's
  }
  return undefined;
}

/**
 * Derives an agent's activity from transcript lines (each a stored JSON record, in order; a torn
 * or foreign line is skipped). `runtime` names the parser when the lines do not start with the
 * attempt's `flotilla.attempt` record (a tail of the file).
 */
export function activityFromTranscript(lines: string[], runtime: Runtime | null = null): AgentActivity {
  const a: AgentActivity = { runtime, tool: null, toolAt: null, toolRunning: false, lastEventAt: null, exited: false };
  let parse = runtime ? runtimes[runtime].parser() : undefined;
  for (const raw of lines) {
    const rec = readRecord(raw);
    if (!rec) continue;
    const at = rec.ts ? Date.parse(rec.ts) : NaN;
    if (rec.type === 'flotilla.attempt') {
      a.runtime = rec.runtime ?? 'command';
      parse = runtimes[a.runtime].parser();
      Object.assign(a, { tool: null, toolAt: null, toolRunning: false, exited: false });
      continue;
    }
    if (rec.type === 'flotilla.exit') {
      a.exited = true;
      a.toolRunning = false;
      continue;
    }
    if (typeof rec.line !== 'string' || !rec.stream) continue;
    if (!Number.isNaN(at)) a.lastEventAt = at;
    const started = a.runtime === 'codex' ? codexCommandStarted(rec.line) : undefined;
    if (started) {
      Object.assign(a, { tool: started, toolAt: at, toolRunning: true });
      continue;
    }
    const ev = (parse ??= runtimes.command.parser())(rec.line, rec.stream);
    if (!ev) continue;
    if (ev.kind === 'tool') {
      // Claude Code's tool call runs until its result; Codex reports a command or edit once done.
      if (a.runtime === 'codex')
        Object.assign(a, { tool: ev.text, toolAt: a.toolRunning ? a.toolAt : at, toolRunning: false });
      else Object.assign(a, { tool: ev.text, toolAt: at, toolRunning: true });
    } else if (ev.kind === 'tool_result' || ev.kind === 'result') a.toolRunning = false;
    else if (a.runtime === 'command' && ev.kind === 'text') {
      // A plain command has no tools: its latest output line says what it does.
      Object.assign(a, { tool: ev.text, toolAt: at, toolRunning: false });
    }
  }
  return a;
}

/** How much of a transcript's end is read, bytes: the latest events, never the whole file. */
const TAIL_BYTES = 64 * 1024;

/**
 * Reads an agent's activity from its transcript file: the first line (the attempt record names
 * the runtime) and the last {@link TAIL_BYTES}. Undefined when the file is not on this host or
 * cannot be read (the worker runs elsewhere).
 */
export function readActivity(file: string): AgentActivity | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    const read = (from: number, length: number): string => {
      const buf = Buffer.alloc(length);
      return buf.subarray(0, readSync(fd, buf, 0, length, from)).toString('utf8');
    };
    const head = read(0, Math.min(size, 4096)).split('\n')[0];
    const from = Math.max(0, size - TAIL_BYTES);
    const tail = read(from, size - from).split('\n');
    // A tail that starts mid-line drops that partial line.
    if (from > 0) tail.shift();
    let runtime: Runtime | null = null;
    // A torn first line: the tail's own attempt record, if any, names the runtime.
    const first = readRecord(head);
    if (first?.type === 'flotilla.attempt') runtime = first.runtime ?? 'command';
    return activityFromTranscript(tail, runtime);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** A duration for a display that redraws every second: whole seconds (`<1s`, `35s`, `4m 2s`). */
export function elapsed(ms: number): string {
  return ms < 1000 ? '<1s' : formatDuration(ms);
}

/**
 * One line for people: `Bash(npm test) for 35s`, `thinking for 4s, after Bash(npm test)`,
 * `last output 2s ago: building…` (a plain command), `starting`. `now` is epoch ms.
 */
export function describeActivity(a: AgentActivity, now: number): string {
  const since = (t: number | null): string => (t === null ? '' : elapsed(now - t));
  if (a.exited) return 'agent exited (checkpoint, gate)';
  if (a.tool && a.toolRunning) return `${a.tool} for ${since(a.toolAt)}`;
  if (a.lastEventAt === null) return 'starting';
  const quiet = since(a.lastEventAt);
  if (a.runtime === 'command') return a.tool ? `last output ${quiet} ago: ${a.tool}` : `no output for ${quiet}`;
  return `thinking for ${quiet}${a.tool ? `, after ${a.tool}` : ''}`;
}
