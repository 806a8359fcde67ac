/**
 * What a running agent does now, derived from real transcripts (test/fixtures/transcripts: Claude
 * Code 2.1.330 and Codex 0.169.0 against the stub model servers), cut where a live file would end.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { activityFromTranscript, describeActivity, readActivity } from '../../src/client/activity';
import { tempDir } from '../helpers/git';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'transcripts');
const fixture = (name: string): string[] => readFileSync(path.join(FIXTURES, name), 'utf8').trimEnd().split('\n');
/** The lines up to and including the first that contains `marker`: the file as it was then. */
const upTo = (lines: string[], marker: string): string[] =>
  lines.slice(0, lines.findIndex((l) => l.includes(marker)) + 1);
const tsOf = (line: string): number => Date.parse((JSON.parse(line) as { ts: string }).ts);

test('claude: a tool call runs until its result; then the agent thinks; the exit ends it', () => {
  const lines = fixture('claude-tool-call.jsonl');
  const calling = upTo(lines, '\\"tool_use\\"');
  const a = activityFromTranscript(calling);
  expect(a).toMatchObject({
    runtime: 'claude',
    tool: 'Bash(test -f a.txt && cp a.txt b.txt && echo copied)',
    toolRunning: true,
    exited: false,
  });
  expect(a.toolAt).toBe(tsOf(calling.at(-1)!));
  expect(describeActivity(a, a.toolAt! + 35_000)).toBe('Bash(test -f a.txt && cp a.txt b.txt && echo copied) for 35s');

  const answered = activityFromTranscript(upTo(lines, '\\"tool_result\\"'));
  expect(answered.toolRunning).toBe(false);
  expect(describeActivity(answered, answered.lastEventAt! + 4000)).toBe(
    'thinking for 4s, after Bash(test -f a.txt && cp a.txt b.txt && echo copied)',
  );

  const ended = activityFromTranscript(lines);
  expect(ended.exited).toBe(true);
  expect(describeActivity(ended, Date.now())).toBe('agent exited (checkpoint, gate)');
  // Only the attempt record so far: the agent is starting.
  expect(describeActivity(activityFromTranscript(lines.slice(0, 1)), Date.now())).toBe('starting');
});

test('codex: a command started and not completed is what it runs now; completed, it is done', () => {
  const killed = fixture('codex-command.jsonl');
  const running = activityFromTranscript(killed.filter((l) => !l.includes('flotilla.exit')));
  expect(running).toMatchObject({ runtime: 'codex', toolRunning: true, exited: false });
  expect(running.tool).toMatch(/^\$ \/bin\/bash -c .*setTimeout/);
  const started = tsOf(killed.find((l) => l.includes('item.started'))!);
  expect(describeActivity(running, started + 65_000)).toMatch(/setTimeout.* for 1m 5s$/);

  const resumed = fixture('codex-resumed.jsonl');
  const completed = activityFromTranscript(upTo(resumed, '\\"item.completed\\"'));
  expect(completed).toMatchObject({
    tool: `$ /bin/bash -c "sh -c 'echo done > done.txt'" (exit 0)`,
    toolRunning: false,
  });
  // The command's start, not its completion, is when the tool call began.
  expect(completed.toolAt).toBe(tsOf(resumed.find((l) => l.includes('item.started'))!));
});

test('a plain command: its latest output line says what it does', () => {
  const at = (s: number): string => new Date(Date.parse('2026-12-01T09:30:00Z') + s * 1000).toISOString();
  const lines = [
    JSON.stringify({ ts: at(0), type: 'flotilla.attempt', attempt: 1, iteration: 1, runtime: 'command' }),
    JSON.stringify({ ts: at(1), stream: 'stdout', line: 'installing' }),
    JSON.stringify({ ts: at(2), stream: 'stdout', line: 'building the site' }),
  ];
  const a = activityFromTranscript(lines);
  expect(describeActivity(a, Date.parse(at(12)))).toBe('last output 10s ago: building the site');
});

test('readActivity reads a long transcript by its head (the runtime) and its tail; a file on another host is unknown', () => {
  const file = path.join(tempDir('flotilla-activity-'), 'attempt-1.jsonl');
  const lines = fixture('claude-tool-call.jsonl');
  writeFileSync(file, `${lines[0]}\n`);
  // 200 KB of text events first: the tool call is past the part of the file that is read whole.
  const text = lines.find((l) => l.includes('\\"type\\":\\"text\\"'))!;
  appendFileSync(file, `${text}\n`.repeat(Math.ceil(200_000 / text.length)));
  appendFileSync(file, `${upTo(lines, '\\"tool_use\\"').at(-1)}\n`);
  expect(readActivity(file)).toMatchObject({
    runtime: 'claude',
    tool: 'Bash(test -f a.txt && cp a.txt b.txt && echo copied)',
    toolRunning: true,
  });
  expect(readActivity(path.join(path.dirname(file), 'attempt-9.jsonl'))).toBeUndefined();
});
