/**
 * Reading transcripts (`$FLOTILLA_HOME/runs/<missionId>/<taskId>/attempt-<n>.jsonl`, a resolver's in
 * `…/<taskId>/resolver/attempt-<n>.jsonl`): each line is
 * `{ts, stream, line}` for an agent output line, or a `flotilla.attempt` / `flotilla.exit` record.
 * For people, agent lines go through their runtime's own parser (assistant text, tool calls and
 * results, errors, cost); `--raw` prints the agent's lines exactly as it wrote them.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { paths } from '../activities/config';
import { runtimes } from '../activities/runtimes';
import type { AgentEvent } from '../activities/runtimes/types';
import type { Runtime } from '../mission/types';

/**
 * The folder holding a task's transcripts: its agent's (`runs/<m>/<task>/`), or with `resolver`
 * its merge-conflict resolver's (`runs/<m>/<task>/resolver/`, written by runAgent with role resolver).
 */
export function transcriptDir(home: string, missionId: string, taskId: string, resolver = false): string {
  return resolver ? paths.resolverDir(home, missionId, taskId) : paths.runDir(home, missionId, taskId);
}

/** Transcript files of a task's agent (or, with `resolver`, of its resolver), in attempt order. */
export function transcriptFiles(home: string, missionId: string, taskId: string, resolver = false): string[] {
  const dir = transcriptDir(home, missionId, taskId, resolver);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^attempt-\d+\.jsonl$/.test(f))
    .sort((a, b) => Number(/\d+/.exec(a)![0]) - Number(/\d+/.exec(b)![0]))
    .map((f) => path.join(dir, f));
}

interface Record {
  type?: string;
  ts?: string;
  stream?: 'stdout' | 'stderr';
  line?: string;
  attempt?: number;
  iteration?: number;
  runtime?: Runtime;
  /** `resolver` for a merge-conflict resolver's attempt (absent: a task's agent). */
  role?: string;
  resume?: string | null;
  exitCode?: number | null;
  ended?: string;
  costUsd?: number;
  inputTokens?: number;
  outputTokens?: number;
  turns?: number;
}

const MARK: { [K in AgentEvent['kind']]: string } = {
  session: '◆',
  text: ' ',
  tool: '→',
  tool_result: '←',
  usage: '·',
  result: '■',
  error: '!',
};

/** Renders transcript lines for people; keeps the parser of the current attempt between calls. */
export class TranscriptRenderer {
  private parse: ((line: string, stream: 'stdout' | 'stderr') => AgentEvent | undefined) | undefined;

  constructor(private readonly raw: boolean) {}

  /** One stored line -> one printable line, or undefined for nothing to show. */
  render(stored: string): string | undefined {
    let rec: Record;
    try {
      rec = JSON.parse(stored) as Record;
    } catch {
      return stored;
    }
    if (rec.type === 'flotilla.attempt') {
      this.parse = runtimes[rec.runtime ?? 'command']?.parser();
      if (this.raw) return undefined;
      return `--- ${rec.role === 'resolver' ? 'resolver ' : ''}attempt ${rec.attempt}, iteration ${rec.iteration} (${rec.runtime ?? 'command'}${rec.resume ? `, resuming session ${rec.resume}` : ''}) ${rec.ts ?? ''} ---`;
    }
    if (rec.type === 'flotilla.exit') {
      if (this.raw) return undefined;
      const how = rec.ended === 'exited' ? `exit ${rec.exitCode}` : rec.ended;
      const cost = rec.costUsd ? `, $${rec.costUsd.toFixed(4)}` : '';
      const tokens =
        rec.inputTokens || rec.outputTokens ? `, ${rec.inputTokens ?? 0} in / ${rec.outputTokens ?? 0} out tokens` : '';
      return `--- ${how}${cost}${tokens}${rec.turns ? `, ${rec.turns} turns` : ''} ---`;
    }
    if (rec.line === undefined) return undefined;
    if (this.raw) return rec.line;
    const ev = (this.parse ?? runtimes.command.parser())(rec.line, rec.stream ?? 'stdout');
    if (!ev) return undefined;
    const extra = ev.totalCostUsd !== undefined ? ` ($${ev.totalCostUsd.toFixed(4)})` : '';
    return `${MARK[ev.kind]} ${ev.text}${extra}`;
  }
}
