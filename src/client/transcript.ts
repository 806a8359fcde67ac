/**
 * Showing transcripts for `flotilla logs` (the files, their records and where they are:
 * src/agents/transcript.ts). For people, agent lines go through their runtime's own parser
 * (assistant text, tool calls and results, errors, cost); `--raw` prints the agent's lines exactly
 * as it wrote them.
 */
import { runtimes } from '../agents/runtimes';
import type { AgentEvent } from '../agents/runtimes/types';
import { readRecord } from '../agents/transcript';

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
    const rec = readRecord(stored);
    if (!rec) return stored;
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
