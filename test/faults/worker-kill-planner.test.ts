/**
 * `flotilla plan`'s planner killed mid-plan: the worker (a separate `flotilla worker` process) is
 * SIGKILLed while a real Claude Code planner runs a slow tool call. A new worker takes over after
 * the planner activity's heartbeat timeout and resumes the same Claude session (the stub sees the
 * same session id, with the conversation so far), and the plan completes: valid, one round, two
 * attempts in the ledger, nothing left in the repository.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startPlan } from '../../src/client/plan';
import type { PlanResult } from '../../src/workflows/plan';
import { git, makeRepo, tempDir } from '../helpers/git';
import { AnthropicStub, claudeEnv, RecordedRequest, reply, startAnthropicStub } from '../helpers/stub-anthropic';
import {
  agentPidFile,
  flotillaEnv,
  Harness,
  liveGroupMembers,
  processesIn,
  readPgid,
  reportFault,
  startFaultServer,
  until,
} from './harness';

const h = new Harness();
const home = tempDir('flotilla-faults-planner-home-');
const SLOW = 'node -e "setTimeout(() => {}, 120000)"';
const PLAN = [
  'tasks:',
  '  - { id: a, title: A, prompt: "Change src/a.js.", touches: [src/a.js], verify: [npm test] }',
  '  - { id: b, title: B, prompt: "Add src/b.js.", touches: [src/b.js], verify: [npm test] }',
  '',
].join('\n');
let env: TestWorkflowEnvironment | undefined;
let address = '';
let stub: AnthropicStub | undefined;
let stubEnv: Record<string, string> = {};

const isPlanner = (req: RecordedRequest): boolean => /the planner of Flotilla plan "/.test(req.system);
const planners = (): RecordedRequest[] => stub!.agentRequests().filter(isPlanner);

beforeAll(async () => {
  ({ env, address } = await startFaultServer());
  // Turn 0: the plan; turn 1: a slow tool call, during which the worker dies; then done.
  stub = await startAnthropicStub((req) => {
    if (!isPlanner(req)) return reply.text('Nothing to do.');
    const file = /Write the mission file \(YAML\) to (\S+) /.exec(req.system)![1];
    const turn = req.messages.filter((m) => (m as { role?: string }).role === 'assistant').length;
    if (turn === 0) return reply.toolUse('Write', { file_path: file, content: PLAN });
    if (turn === 1) return reply.toolUse('Bash', { command: SLOW, description: 'look around slowly' });
    return reply.text('Two tasks, a and b.');
  });
  stubEnv = claudeEnv(stub, tempDir('claude-home-'));
  h.watch(path.join(home, 'worktrees'));
}, 180_000);

afterAll(async () => {
  await h.cleanup();
  await stub?.close();
  await env?.teardown();
});

test('worker SIGKILLed while the planner runs: a new worker resumes the same planner session and the plan completes', async () => {
  const queue = 'faults-planner';
  const workerEnv = { ...stubEnv, ...flotillaEnv({ address, home, queue, host: 'faults-planner-host' }) };
  const first = await h.worker('planner-worker-1', workerEnv);
  const repo = makeRepo({
    'package.json': JSON.stringify({ name: 'app', private: true, scripts: { test: 'node --test' } }),
    'src/a.js': 'module.exports = 1;\n',
  });
  const workflowId = await startPlan(env!.client, queue, {
    id: 'killed',
    repo,
    base: 'main',
    goal: 'Split the work on src/ in two.',
    planner: {
      runtime: 'claude',
      model: 'claude-sonnet-4-5',
      args: [],
      env: Object.keys(stubEnv).filter((k) => !['PATH', 'HOME', 'TMPDIR', 'LANG'].includes(k)),
      timeoutMs: 180_000,
      idleTimeoutMs: 150_000,
      retries: 2,
    },
    defaults: {},
  });

  // The slow tool call runs in the planner's worktree.
  const worktree = path.join(home, 'worktrees', workflowId);
  await until('the slow tool call', () => processesIn(worktree).some((p) => p.cmd.includes('setTimeout')), 120_000);
  const pidFile = agentPidFile(home, workflowId, 'planner');
  const pgid = readPgid(pidFile)!;
  const sessionId = planners()[0].headers['x-claude-code-session-id'];
  expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);
  const before = planners().length;
  const killedAt = Date.now();
  first.crash();
  await first.exit;
  await until('the planner to die with its worker', () => liveGroupMembers(pgid).length === 0, 5000);
  const second = await h.worker('planner-worker-2', workerEnv);

  const result = (await env!.client.workflow.getHandle(workflowId).result()) as PlanResult;
  await second.stop();
  const resumed = planners()[before];
  expect(result).toMatchObject({ status: 'valid', rounds: 1, problems: [] });
  expect(result.usage.attempts).toBe(2);
  // The same session, resumed: same id, and the conversation holds the interrupted call.
  expect(resumed.headers['x-claude-code-session-id']).toBe(sessionId);
  expect(result.usage.sessionId).toBe(sessionId);
  expect(JSON.stringify(resumed.messages)).toContain('setTimeout(() => {}, 120000)');
  const attempt2 = readFileSync(path.join(home, 'runs', workflowId, 'planner', 'attempt-2.jsonl'), 'utf8');
  expect(JSON.parse(attempt2.split('\n')[0])).toMatchObject({ attempt: 2, role: 'planner', resume: sessionId });
  // Nothing left: no process, no PID file, no worktree, nothing in the repository.
  expect(existsSync(pidFile)).toBe(false);
  expect(existsSync(worktree)).toBe(false);
  expect(git(repo, 'worktree', 'list', '--porcelain').match(/^worktree /gm)).toHaveLength(1);
  expect(git(repo, 'status', '--porcelain')).toBe('');
  reportFault('worker-kill-planner', resumed.at - killedAt);
}, 240_000);
