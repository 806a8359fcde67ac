/**
 * runAgent's usage accounting through the usage ledger, with the REAL Claude Code CLI against the
 * stub Anthropic API (Claude reports `total_cost_usd` per session, cumulative across resumes).
 *
 * Bug fixed: cost was counted twice when an attempt of a resumed session was retried: the retry
 * took the session base from the activity's input while its counters came from the previous
 * attempt, so the previous attempt's share was in both.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import path from 'node:path';
import { createActivities } from '../../src/activities';
import type { AgentHeartbeat, RunAgentInput, RunAgentResult } from '../../src/activities/agent';
import type { AgentSpec } from '../../src/mission/types';
import { tempDir } from '../helpers/git';
import { AnthropicStub, claudeEnv, reply, startAnthropicStub } from '../helpers/stub-anthropic';

let stub: AnthropicStub;
let stubEnv: Record<string, string>;
const savedEnv = { ...process.env };
const home = tempDir('flotilla-home-');
const acts = createActivities({ home, hostQueue: 'q@test' });

beforeAll(async () => {
  stub = await startAnthropicStub(() => reply.text('Done.', { input_tokens: 2000, output_tokens: 500 }));
  stubEnv = claudeEnv(stub, tempDir('claude-home-'));
  Object.assign(process.env, stubEnv);
});
afterAll(async () => {
  await stub?.close();
  process.env = savedEnv;
});

function claudeAgent(): AgentSpec {
  return {
    runtime: 'claude',
    model: 'claude-sonnet-4-5',
    args: [],
    env: Object.keys(stubEnv).filter((k) => !['PATH', 'HOME', 'TMPDIR', 'LANG'].includes(k)),
    timeoutMs: 120_000,
    idleTimeoutMs: 60_000,
    retries: 2,
  };
}

function run(input: RunAgentInput, info: { attempt?: number; heartbeatDetails?: unknown } = {}) {
  return new MockActivityEnvironment(info).run(acts.runAgent, input) as Promise<RunAgentResult>;
}

test('a retried attempt of a resumed session counts only its own share of the session cost', async () => {
  const worktree = tempDir('wt-');
  const base: RunAgentInput = {
    missionId: 'usage',
    taskId: path.basename(worktree),
    worktree,
    branch: 'flotilla/usage/tasks/t',
    baseSha: 'HEAD',
    agent: claudeAgent(),
    prompt: 'Say done.',
    taskPrompt: 'Say done.',
    iteration: 1,
  };
  // An earlier activity (say the first gate iteration) started the session.
  const first = await run(base);
  expect(first.sessionId).toBeTruthy();
  expect(first.costUsd).toBeGreaterThan(0);
  expect(first.sessionCostUsd).toBeCloseTo(first.costUsd, 9);

  // The next activity resumes it on the session's totals so far.
  const resumed: RunAgentInput = {
    ...base,
    prompt: 'Fix the test.',
    iteration: 2,
    resumeSessionId: first.sessionId,
    sessionCostUsd: first.sessionCostUsd,
    sessionInputTokens: first.sessionInputTokens,
    sessionOutputTokens: first.sessionOutputTokens,
  };
  const attempt1 = await run(resumed);
  expect(attempt1.sessionId).toBe(first.sessionId);
  expect(attempt1.costUsd).toBeGreaterThan(0);
  expect(attempt1.costUsd).toBeCloseTo(attempt1.sessionCostUsd - first.sessionCostUsd, 9);

  // Its worker died after the agent finished; Temporal retries it with the last heartbeat.
  const heartbeat: AgentHeartbeat = {
    ...attempt1,
    pgid: 0,
    attempt: 1,
    events: attempt1.events,
    lastEventAt: new Date().toISOString(),
    transcript: attempt1.transcript,
    checkpointSha: null,
  };
  const attempt2 = await run(resumed, { attempt: 2, heartbeatDetails: heartbeat });
  expect(attempt2.sessionId).toBe(first.sessionId);
  expect(attempt2.resumed).toBe(true);
  const ownShare = attempt2.sessionCostUsd - attempt1.sessionCostUsd;
  expect(ownShare).toBeGreaterThan(0);
  // The activity's cost: attempt 1's share plus attempt 2's own, which is everything the session
  // spent since this activity began; attempt 1's share is not counted again.
  expect(attempt2.costUsd).toBeCloseTo(attempt1.costUsd + ownShare, 9);
  expect(attempt2.costUsd).toBeCloseTo(attempt2.sessionCostUsd - first.sessionCostUsd, 9);
}, 180_000);
