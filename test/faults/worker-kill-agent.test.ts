/**
 * Crash matrix, case 1: the worker is SIGKILLed while a real Claude Code agent runs a slow tool
 * call. A new worker process (the same host) takes over after the agent activity's heartbeat
 * timeout: it kills the process group the dead worker left (from the PID file) and only then
 * resumes the same Claude session, which the stub Anthropic API sees as the same session id with
 * the earlier conversation. The work done before the crash is on the task branch and merged once.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { AgentSpec } from '../../src/mission/types';
import { names } from '../../src/mission/types';
import { makeRepo, tempDir } from '../helpers/git';
import { mission, task } from '../helpers/missions';
import { AnthropicStub, claudeEnv, RecordedRequest, reply, startAnthropicStub } from '../helpers/stub-anthropic';
import {
  agentHeartbeat,
  agentPidFile,
  expectOneMergePerTask,
  fileAt,
  flotillaEnv,
  Harness,
  liveGroupMembers,
  processesIn,
  readPgid,
  reportFault,
  startFaultServer,
  startMissionOn,
  until,
} from './harness';
import { missionResult } from '../helpers/outcome';

const h = new Harness();
const home = tempDir('flotilla-faults-agent-home-');
const agentHome = tempDir('claude-home-');
const SLOW = 'node -e "setTimeout(() => {}, 120000)" && echo slow > slow.txt';
let env: TestWorkflowEnvironment | undefined;
let address = '';
let stub: AnthropicStub | undefined;
let stubEnv: Record<string, string> = {};
/** Per task: the group the crash orphaned, and which of its processes lived at the next request. */
const orphans = new Map<string, { pgid: number; aliveAtNextRequest?: number[] }>();

const taskOf = (req: RecordedRequest): string => /your task is "([^"]+)"/.exec(req.system)?.[1] ?? '';
const turnOf = (req: RecordedRequest): number =>
  req.messages.filter((m) => (m as { role?: string }).role === 'assistant').length;
const requestsOf = (taskId: string): RecordedRequest[] => stub!.agentRequests().filter((r) => taskOf(r) === taskId);

beforeAll(async () => {
  ({ env, address } = await startFaultServer());
  stub = await startAnthropicStub((req) => {
    const id = taskOf(req);
    const orphan = orphans.get(id);
    if (orphan && !orphan.aliveAtNextRequest) orphan.aliveAtNextRequest = liveGroupMembers(orphan.pgid);
    const wt = /Work only inside (\S+),/.exec(req.system)?.[1];
    const turn = turnOf(req);
    // Turn 0: real work (a file); turn 1: a slow tool call, during which the worker dies; then done.
    if (turn === 0) return reply.toolUse('Write', { file_path: `${wt}/work.txt`, content: 'kept\n' });
    if (turn === 1) return reply.toolUse('Bash', { command: SLOW, description: 'a long step' });
    return reply.text('Picked up after the crash.');
  });
  stubEnv = claudeEnv(stub, agentHome);
  h.watch(path.join(home, 'worktrees'));
}, 180_000);

afterAll(async () => {
  await h.cleanup();
  await stub?.close();
  await env?.teardown();
});

function claudeAgent(): AgentSpec {
  return {
    runtime: 'claude',
    model: 'claude-sonnet-4-5',
    args: [],
    env: Object.keys(stubEnv).filter((k) => !['PATH', 'HOME', 'TMPDIR', 'LANG'].includes(k)),
    timeoutMs: 180_000,
    idleTimeoutMs: 150_000,
    retries: 2,
  };
}

/**
 * Runs one claude task on worker-1, SIGKILLs worker-1's process group once `ready` holds while the
 * slow tool call runs, starts worker-2, and checks the resume.
 */
async function crashDuringToolCall(taskId: string, ready: (sessionId: string) => Promise<boolean>) {
  const queue = `faults-agent-${taskId}`;
  const workerEnv = { ...stubEnv, ...flotillaEnv({ address, home, queue, host: 'faults-host' }) };
  const first = await h.worker(`${taskId}-worker-1`, workerEnv);
  const repo = makeRepo();
  const missionId = `fault-agent-${taskId}`;
  const spec = mission(missionId, repo, [task(taskId, '', { agent: claudeAgent(), prompt: 'Do the steps.' })]);
  const handle = await startMissionOn(env!.client, queue, spec);

  // The slow tool call is running: its process lives in the task's worktree.
  const worktrees = path.join(home, 'worktrees', missionId);
  await until('the slow tool call', () => processesIn(worktrees).some((p) => p.cmd.includes('setTimeout')), 120_000);
  const pgid = readPgid(agentPidFile(home, missionId, taskId))!;
  expect(liveGroupMembers(pgid).length).toBeGreaterThan(0);
  const before = requestsOf(taskId).length;
  const sessionId = requestsOf(taskId)[0].headers['x-claude-code-session-id'];
  expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);
  await until('the moment to crash', () => ready(sessionId), 30_000);
  const beat = await agentHeartbeat(env!.client, missionId, taskId);

  orphans.set(taskId, { pgid });
  const killedAt = Date.now();
  first.crash();
  await first.exit;
  // The agent dies with its worker (its watchdog sees the worker's pipe close); the PID file
  // stays the backstop the next attempt uses.
  const orphanDiedMs = await until(
    'the agent to die with its worker',
    () => liveGroupMembers(pgid).length === 0,
    5000,
  ).then(() => Date.now() - killedAt);
  console.log(`agent group gone ${orphanDiedMs} ms after its worker's SIGKILL`);
  const second = await h.worker(`${taskId}-worker-2`, workerEnv);

  const result = await missionResult(handle);
  await second.stop();
  const resumed = requestsOf(taskId)[before];
  const recoveredMs = resumed.at - killedAt;

  expect(result.phase).toBe('completed');
  expect(result.tasks[0]).toMatchObject({ status: 'merged', attempts: 2, error: null });
  // The same session, resumed (not restarted): same id, and the conversation holds the interrupted call.
  expect(resumed.headers['x-claude-code-session-id']).toBe(sessionId);
  expect(result.tasks[0].sessionId).toBe(sessionId);
  expect(JSON.stringify(resumed.messages)).toContain('setTimeout(() => {}, 120000)');
  const attempt2 = readFileSync(path.join(home, 'runs', missionId, taskId, 'attempt-2.jsonl'), 'utf8').split('\n')[0];
  expect(JSON.parse(attempt2)).toMatchObject({ type: 'flotilla.attempt', attempt: 2, resume: sessionId });
  // The orphaned group was dead before the resumed session's first request, and is dead now.
  expect(orphans.get(taskId)!.aliveAtNextRequest).toEqual([]);
  expect(liveGroupMembers(pgid)).toEqual([]);
  expect(existsSync(agentPidFile(home, missionId, taskId))).toBe(false);
  expect(processesIn(worktrees)).toEqual([]);
  // No work lost: the file written before the crash is on the task branch, merged once.
  expect(JSON.stringify(resumed.messages)).toContain('work.txt');
  expect(fileAt(repo, names.taskBranch(missionId, taskId), 'work.txt')).toBe('kept');
  expect(fileAt(repo, names.integrationBranch(missionId), 'work.txt')).toBe('kept');
  expectOneMergePerTask(repo, missionId, [taskId]);
  // Recovery is bounded by the heartbeat timeout (20 s) plus the retry backoff (5 s).
  expect(recoveredMs).toBeLessThan(60_000);
  return { recoveredMs, heartbeatHadSession: beat?.sessionId === sessionId };
}

test('worker SIGKILLed during a Claude tool call: a new worker kills the orphan, resumes the same session, nothing is lost', async () => {
  const { recoveredMs } = await crashDuringToolCall(
    'slow',
    // Heartbeats are throttled (one every ~2 s): crash once Temporal holds one naming the session.
    async (sessionId) => (await agentHeartbeat(env!.client, 'fault-agent-slow', 'slow'))?.sessionId === sessionId,
  );
  reportFault('worker-kill-agent', recoveredMs);
}, 240_000);

test('worker SIGKILLed within a second or two of the agent start, before a heartbeat named the session: still resumed', async () => {
  // The crash comes as soon as the slow tool call runs, about a second after the agent started:
  // usually before the throttled heartbeat carrying the session id, which the retry then reads
  // from the interrupted attempt's transcript.
  const { recoveredMs, heartbeatHadSession } = await crashDuringToolCall('early', async () => true);
  reportFault('worker-kill-agent (early)', recoveredMs, { heartbeatHadSession });
}, 240_000);
