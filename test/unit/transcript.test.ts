/** `flotilla logs`: transcripts rendered for people through each runtime's parser, or raw. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { transcriptFiles } from '../../src/agents/transcript';
import { TranscriptRenderer } from '../../src/client/transcript';
import { tempDir } from '../helpers/git';

const rec = (o: Record<string, unknown>): string => JSON.stringify({ ts: '2026-01-01T00:00:00.000Z', ...o });
const lines = [
  rec({ type: 'flotilla.attempt', attempt: 2, iteration: 1, runtime: 'claude', resume: 's1' }),
  rec({
    stream: 'stdout',
    line: '{"type":"assistant","message":{"id":"m1","content":[{"type":"tool_use","name":"Bash","input":{"command":"npm test"}}]}}',
  }),
  rec({
    stream: 'stdout',
    line: '{"type":"user","message":{"content":[{"type":"tool_result","content":"1 failing","is_error":true}]}}',
  }),
  rec({ stream: 'stderr', line: 'a warning' }),
  rec({
    stream: 'stdout',
    line: '{"type":"result","is_error":false,"result":"Fixed the test.","total_cost_usd":0.0123}',
  }),
  rec({
    type: 'flotilla.exit',
    exitCode: 0,
    ended: 'exited',
    costUsd: 0.0123,
    inputTokens: 900,
    outputTokens: 40,
    turns: 3,
  }),
];

test('renders attempts, tool calls and results, errors and cost for people', () => {
  const r = new TranscriptRenderer(false);
  expect(lines.map((l) => r.render(l)).filter((l) => l !== undefined)).toEqual([
    '--- attempt 2, iteration 1 (claude, resuming session s1) 2026-01-01T00:00:00.000Z ---',
    '→ Bash(npm test)',
    '← error: 1 failing',
    '  [stderr] a warning',
    '■ done: Fixed the test. ($0.0123)',
    '--- exit 0, $0.0123, 900 in / 40 out tokens, 3 turns ---',
  ]);
});

test('--raw prints the agent lines exactly as written; files come in attempt order', () => {
  const r = new TranscriptRenderer(true);
  expect(lines.map((l) => r.render(l)).filter((l) => l !== undefined)).toEqual([
    JSON.parse(lines[1]).line,
    JSON.parse(lines[2]).line,
    'a warning',
    JSON.parse(lines[4]).line,
  ]);
  const home = tempDir();
  const dir = path.join(home, 'runs', 'm', 't');
  mkdirSync(dir, { recursive: true });
  for (const n of [10, 2, 1]) writeFileSync(path.join(dir, `attempt-${n}.jsonl`), '');
  expect(transcriptFiles(home, 'm', 't').map((f) => path.basename(f))).toEqual([
    'attempt-1.jsonl',
    'attempt-2.jsonl',
    'attempt-10.jsonl',
  ]);
});
