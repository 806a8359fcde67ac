/**
 * Runtime adapters on the exact line shapes the real CLIs printed against the stub servers
 * (Claude Code 2.1.330, Codex 0.169.0), and failure classification on their exact messages.
 */
import { classifyText, retryDelayFrom } from '../../src/agents/runtimes/classify';
import { claudeRuntime } from '../../src/agents/runtimes/claude';
import { codexRuntime } from '../../src/agents/runtimes/codex';
import { bashAgent } from '../helpers/missions';

const agent = {
  ...bashAgent(''),
  runtime: 'claude' as const,
  command: undefined,
  model: 'claude-sonnet-4-5',
  args: ['--max-turns', '30'],
};
const build = { agent, prompt: 'do it', worktree: '/wt', missionId: 'm', taskId: 't', contract: 'the contract' };

test('claude argv: print mode, stream-json, unattended, contract, model, resume, extra args; the prompt is one argv entry', () => {
  const { argv, env } = claudeRuntime.build({ ...build, resumeSessionId: 'abc' });
  expect(argv.slice(1)).toEqual([
    '-p',
    'do it',
    '--output-format',
    'stream-json',
    '--verbose',
    '--dangerously-skip-permissions',
    '--append-system-prompt',
    'the contract',
    '--model',
    'claude-sonnet-4-5',
    '--resume',
    'abc',
    '--max-turns',
    '30',
  ]);
  expect(env).toMatchObject({ DISABLE_AUTOUPDATER: '1', CLAUDE_CODE_MAX_RETRIES: '1' });
});

test('claude stream: session, one usage per message id, tool calls, results with session-cumulative cost', () => {
  const parse = claudeRuntime.parser();
  expect(
    parse('{"type":"system","subtype":"init","session_id":"s1","model":"m","tools":["Bash"]}', 'stdout'),
  ).toMatchObject({ kind: 'session', sessionId: 's1' });
  const usage = '"usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":2}';
  const a = parse(
    `{"type":"assistant","message":{"id":"msg1","content":[{"type":"text","text":"Let me look"}],${usage}}}`,
    'stdout',
  );
  const b = parse(
    `{"type":"assistant","message":{"id":"msg1","content":[{"type":"tool_use","name":"Bash","input":{"command":"ls"}}],${usage}}}`,
    'stdout',
  );
  expect(a).toMatchObject({ kind: 'text', turn: true, inputTokens: 12, outputTokens: 5 });
  expect(b).toEqual({ kind: 'tool', text: 'Bash(ls)' });
  expect(
    parse(
      '{"type":"user","message":{"content":[{"type":"tool_result","content":"a.txt","is_error":false}]}}',
      'stdout',
    ),
  ).toMatchObject({ kind: 'tool_result', text: 'a.txt' });
  const r = parse(
    '{"type":"result","subtype":"success","is_error":true,"api_error_status":401,"result":"Invalid API key · Fix external API key","total_cost_usd":0.02,"num_turns":1,"usage":{"input_tokens":3,"output_tokens":1}}',
    'stdout',
  );
  expect(r).toMatchObject({
    kind: 'result',
    isError: true,
    totalCostUsd: 0.02,
    totalTurns: 1,
    text: 'error 401: Invalid API key · Fix external API key',
  });
  expect(
    parse(
      '{"type":"system","subtype":"api_retry","attempt":1,"retry_delay_ms":4100,"error_status":429,"error":"rate_limit"}',
      'stdout',
    ),
  ).toMatchObject({ kind: 'error', retryAfterMs: 4100 });
});

test('codex argv: exec --json in the worktree, unattended, contract leading the prompt, resume after the flags', () => {
  const { argv } = codexRuntime.build({
    ...build,
    agent: { ...agent, runtime: 'codex', model: 'gpt-5.5', args: ['-c', 'x=1'] },
    resumeSessionId: 'th1',
  });
  expect(argv.slice(1)).toEqual([
    'exec',
    '--json',
    '-C',
    '/wt',
    '--skip-git-repo-check',
    '--dangerously-bypass-approvals-and-sandbox',
    '-c',
    'check_for_update_on_startup=false',
    '-m',
    'gpt-5.5',
    '-c',
    'x=1',
    'resume',
    'th1',
    'the contract\n\ndo it',
  ]);
});

test('codex stream: thread, commands, file changes, thread-cumulative usage, turn.failed; reconnect notices are not failures', () => {
  const parse = codexRuntime.parser();
  expect(parse('{"type":"thread.started","thread_id":"th1"}', 'stdout')).toMatchObject({
    kind: 'session',
    sessionId: 'th1',
  });
  expect(
    parse(
      '{"type":"item.completed","item":{"type":"command_execution","command":"/bin/bash -c ls","exit_code":0}}',
      'stdout',
    ),
  ).toEqual({ kind: 'tool', text: '$ /bin/bash -c ls (exit 0)' });
  expect(
    parse(
      '{"type":"item.completed","item":{"type":"file_change","changes":[{"path":"/wt/a.txt","kind":"add"}]}}',
      'stdout',
    ),
  ).toEqual({ kind: 'tool', text: 'edit add /wt/a.txt' });
  expect(parse('{"type":"turn.completed","usage":{"input_tokens":1434,"output_tokens":20}}', 'stdout')).toMatchObject({
    turn: true,
    sessionInputTokens: 1434,
    sessionOutputTokens: 20,
  });
  expect(parse('{"type":"error","message":"Reconnecting... 1/5"}', 'stdout')).not.toHaveProperty('isError');
  expect(
    parse('{"type":"turn.failed","error":{"message":"unexpected status 401 Unauthorized: bad key"}}', 'stdout'),
  ).toMatchObject({ kind: 'error', isError: true });
  expect(parse('WARNING: proceeding, even though we could not create PATH aliases', 'stderr')).toMatchObject({
    kind: 'text',
  });
});

test.each([
  ['Invalid API key · Fix external API key', 'auth'],
  ['unexpected status 401 Unauthorized: invalid_api_key, url: http://x', 'auth'],
  ['OAuth token has expired. Please run /login', 'auth'],
  ['API Error: Request rejected (429) · rate limited', 'rate_limit'],
  ['API Error: 529 Overloaded. This is a server-side issue', 'rate_limit'],
  ['exceeded retry limit, last status: 429 Too Many Requests', 'rate_limit'],
  ['Claude AI usage limit reached|1900000000', 'rate_limit'],
  ['No conversation found with session ID: abc', 'session_not_found'],
  ['Error: thread/resume failed: no rollout found for thread id x', 'session_not_found'],
  ['TypeError: cannot read x of undefined', 'other'],
])('classifies %j as %s', (text, kind) => {
  expect(classifyText([text], /(no conversation found with session id|no rollout found)/i).kind).toBe(kind);
});

test('retry delays from what agents print', () => {
  expect(retryDelayFrom('usage limit reached|1900000060', 1_900_000_000_000)).toBe(60_000);
  expect(retryDelayFrom('retry-after: 7')).toBe(7000);
  expect(retryDelayFrom('Please try again in 20s.')).toBe(20_000);
  expect(retryDelayFrom('try again in 1.5 minutes')).toBe(90_000);
  expect(retryDelayFrom('try again in 250ms')).toBe(250);
  expect(retryDelayFrom('nothing here')).toBeUndefined();
});
