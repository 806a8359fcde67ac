/**
 * The `claude` runtime end to end: the REAL Claude Code CLI (the npm dependency) against a stub
 * Anthropic Messages API on 127.0.0.1, missions on a real Temporal dev server, real git.
 * Requests are routed to a task by the task contract in the system prompt, and answered by how
 * many assistant turns the conversation already holds, which stays right across resumes.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { CliProcess, spawnCli } from '../helpers/cli';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { groupAlive } from '../../src/agents/process';
import { loadConfig } from '../../src/client/config';
import { MissionContext } from '../../src/client/commands/context';
import { getProgress } from '../../src/client/missions';
import { collectReport } from '../../src/client/report/collect';
import type { MissionProgress } from '../../src/mission/progress';
import type { AgentSpec, MissionSpec } from '../../src/mission/types';
import { names } from '../../src/mission/types';
import { resumeSignal, steerUpdate } from '../../src/workflows/messages';
import type { MissionResult } from '../../src/workflows/mission';
import { git, makeRepo, tempDir } from '../helpers/git';
import { mission, task, waitFor } from '../helpers/missions';
import { freePort } from '../helpers/net';
import {
  AnthropicReply,
  AnthropicStub,
  claudeEnv,
  RecordedRequest,
  reply,
  startAnthropicStub,
} from '../helpers/stub-anthropic';
import { startDevServer } from '../helpers/temporal';
import { runMission, startMission, startTestWorkers } from '../helpers/worker';
import { missionResult } from '../helpers/outcome';

type Script = (req: RecordedRequest, turn: number) => AnthropicReply;

let env: TestWorkflowEnvironment;
let address: string;
let stub: AnthropicStub;
let workers: Awaited<ReturnType<typeof startTestWorkers>> | undefined;
const home = tempDir('flotilla-claude-home-');
const agentHome = tempDir('claude-home-');
const scripts = new Map<string, Script>();
const taskQueue = 'flotilla-claude';
const savedEnv = { ...process.env };
let stubEnv: Record<string, string>;

const taskOf = (req: RecordedRequest): string | undefined => /your task is "([^"]+)"/.exec(req.system)?.[1];
const turnOf = (req: RecordedRequest): number =>
  req.messages.filter((m) => (m as { role?: string }).role === 'assistant').length;
const agentRequestsOf = (id: string): RecordedRequest[] => stub.agentRequests().filter((r) => taskOf(r) === id);

beforeAll(async () => {
  const port = await freePort();
  address = `127.0.0.1:${port}`;
  env = await startDevServer(port);
  stub = await startAnthropicStub((req) => {
    const id = taskOf(req);
    const script = id ? scripts.get(id) : undefined;
    return script ? script(req, turnOf(req)) : reply.text('Nothing to do.');
  });
  stubEnv = claudeEnv(stub, agentHome);
  // The worker's environment: agents get these by name (agent.env and the runtime's defaults).
  Object.assign(process.env, stubEnv);
  workers = await startTestWorkers(env, taskQueue, 'claude-it', home);
}, 180_000);

afterAll(async () => {
  await workers?.stop();
  await stub?.close();
  await env?.teardown();
  process.env = savedEnv;
});

function claudeAgent(extra: Partial<AgentSpec> = {}): AgentSpec {
  return {
    runtime: 'claude',
    model: 'claude-sonnet-4-5',
    args: [],
    env: Object.keys(stubEnv).filter((k) => !['PATH', 'HOME', 'TMPDIR', 'LANG'].includes(k)),
    timeoutMs: 180_000,
    idleTimeoutMs: 60_000,
    retries: 2,
    ...extra,
  };
}

const run = (spec: MissionSpec): Promise<MissionResult> => runMission(env, taskQueue, spec);

function steps(...replies: AnthropicReply[]): Script {
  return (_req, turn) => replies[Math.min(turn, replies.length - 1)];
}

test('a mission of real claude tasks completes with the expected commits and accounting', async () => {
  const repo = makeRepo();
  // Claude Code's Write tool wants an absolute path: answer with the worktree the request names.
  scripts.set('write-a', (req, turn) => {
    const wt = /Work only inside (\S+),/.exec(req.system)?.[1];
    return turn === 0
      ? reply.toolUse('Write', { file_path: `${wt}/a.txt`, content: 'alpha\n' })
      : reply.text('Wrote a.txt with alpha.');
  });
  scripts.set(
    'copy-b',
    steps(
      reply.toolUse('Bash', { command: 'test -f a.txt && cp a.txt b.txt && echo copied', description: 'copy a to b' }),
      reply.text('Copied a.txt to b.txt.'),
    ),
  );
  const spec = mission('claude-ok', repo, [
    task('write-a', '', { agent: claudeAgent(), prompt: 'Create a.txt containing alpha.' }),
    task('copy-b', '', { agent: claudeAgent(), prompt: 'Copy a.txt to b.txt.', dependsOn: ['write-a'] }),
  ]);
  const result = await run(spec);
  expect(result.tasks.map((t) => [t.id, t.status, t.error])).toEqual([
    ['write-a', 'merged', null],
    ['copy-b', 'merged', null],
  ]);
  const integration = names.integrationBranch('claude-ok');
  expect(git(repo, 'show', `${integration}:b.txt`)).toBe('alpha');
  expect(git(repo, 'log', '-1', '--format=%s', names.taskBranch('claude-ok', 'copy-b'))).toBe(
    'flotilla(copy-b): Task copy-b',
  );
  for (const t of result.tasks) {
    expect(t.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(t.turns).toBeGreaterThanOrEqual(2);
    expect(t.inputTokens).toBeGreaterThan(0);
    expect(t.outputTokens).toBeGreaterThan(0);
    expect(t.costUsd).toBeGreaterThan(0);
  }
  expect(result.costUsd).toBeCloseTo(result.tasks[0].costUsd + result.tasks[1].costUsd, 6);
  // The contract reached the model with the task's own worktree and branch.
  expect(agentRequestsOf('copy-b')[0].system).toMatch(/checked out on branch flotilla\/claude-ok\/tasks\/copy-b/);

  // `flotilla report`, read from Temporal as the command reads it: the cost where it was spent.
  const config = loadConfig({ TEMPORAL_ADDRESS: address, FLOTILLA_HOME: home });
  const report = await collectReport(
    new MissionContext({ connection: env.connection, client: env.client, config }, 'claude-ok'),
  );
  expect(report.costByRuntime).toEqual([
    {
      label: 'claude · claude-sonnet-4-5',
      tasks: 2,
      costUsd: expect.closeTo(result.costUsd, 6),
      inputTokens: result.inputTokens,
      outputTokens: result.outputTokens,
    },
  ]);
  for (const t of result.tasks) {
    const agents = report.segments.filter((s) => s.row === t.id && s.kind === 'agent');
    expect(agents.reduce((sum, s) => sum + (s.costUsd ?? 0), 0)).toBeCloseTo(t.costUsd, 6);
  }
});

test('an authentication failure fails the task at once with what to do', async () => {
  const repo = makeRepo();
  scripts.set('auth', steps(reply.unauthorized()));
  const t0 = Date.now();
  const result = await run(mission('claude-auth', repo, [task('auth', '', { agent: claudeAgent({ retries: 3 }) })]));
  expect(result.tasks[0].status).toBe('failed');
  expect(result.tasks[0].error).toMatch(/^authentication failed: .*set ANTHROPIC_API_KEY/);
  expect(result.tasks[0].attempts).toBe(1);
  expect(Date.now() - t0).toBeLessThan(60_000);
});

test('a 429 with retry-after waits durably for the delay, then resumes the session without repeating a turn', async () => {
  const repo = makeRepo();
  scripts.set('limited', (req, turn) => {
    if (turn === 0) return reply.toolUse('Bash', { command: 'echo one > one.txt', description: 'first step' });
    // The second model call is limited twice: Claude Code's own single retry (it waits the
    // retry-after) gets the second 429 and gives up; Flotilla then waits and resumes.
    const limitedBefore = agentRequestsOf('limited').filter((r) => turnOf(r) >= 1).length;
    return limitedBefore <= 2 ? reply.rateLimited(4) : reply.text('Done after the limit.');
  });
  const result = await run(mission('claude-429', repo, [task('limited', '', { agent: claudeAgent() })]));
  expect(result.tasks[0]).toMatchObject({ status: 'merged', error: null });
  const reqs = agentRequestsOf('limited');
  const later = reqs.filter((r) => turnOf(r) >= 1);
  expect(later).toHaveLength(3);
  // Claude Code's own retry honoured retry-after; Flotilla's durable wait used the same delay.
  expect(later[1].at - later[0].at).toBeGreaterThanOrEqual(4000);
  expect(later[2].at - later[1].at).toBeGreaterThanOrEqual(4000);
  // Resumed, not restarted: the first step ran once and is in the resumed conversation.
  expect(reqs.filter((r) => turnOf(r) === 0)).toHaveLength(1);
  expect(JSON.stringify(later[2].messages)).toContain('echo one > one.txt');
  expect(git(repo, 'show', `${names.integrationBranch('claude-429')}:one.txt`)).toBe('one');
});

test('a silent agent is killed as stalled and its session resumed', async () => {
  const repo = makeRepo();
  scripts.set('silent', (req, turn) => {
    if (turn === 0) return reply.toolUse('Bash', { command: 'echo before > before.txt', description: 'step' });
    // First time at turn 1 the model goes silent; after the resume it answers.
    return agentRequestsOf('silent').filter((r) => turnOf(r) >= 1).length <= 1
      ? reply.stall()
      : reply.text('Resumed and done.');
  });
  const result = await run(
    mission('claude-stall', repo, [task('silent', '', { agent: claudeAgent({ idleTimeoutMs: 5000 }) })]),
  );
  expect(result.tasks[0].status).toBe('merged');
  expect(result.tasks[0].attempts).toBe(2);
  const resumed = agentRequestsOf('silent').filter((r) => turnOf(r) >= 1)[1];
  // The resumed request carries the earlier conversation (the first tool call).
  expect(JSON.stringify(resumed.messages)).toContain('echo before > before.txt');
});

test('a gate that fails once goes back to the same session and then passes', async () => {
  const repo = makeRepo();
  scripts.set('gate', (req, turn) => {
    const feedback = JSON.stringify(req.messages).includes('verification failed');
    if (turn === 0) return reply.toolUse('Bash', { command: 'echo 41 > answer.txt', description: 'answer' });
    if (!feedback) return reply.text('Answered 41.');
    const answered = JSON.stringify(req.messages).includes('echo 42');
    return answered
      ? reply.text('Fixed: 42.')
      : reply.toolUse('Bash', { command: 'echo 42 > answer.txt', description: 'fix' });
  });
  const result = await run(
    mission('claude-gate', repo, [
      task('gate', '', { agent: claudeAgent(), verify: ['grep -qx 42 answer.txt'], maxIterations: 3 }),
    ]),
  );
  expect(result.tasks[0].status).toBe('merged');
  expect(result.tasks[0].iterations).toBe(2);
  const feedbackReq = agentRequestsOf('gate').find((r) => JSON.stringify(r.messages).includes('verification failed'))!;
  // Same session: the gate's prompt arrives after the first run's conversation.
  expect(JSON.stringify(feedbackReq.messages)).toContain('echo 41 > answer.txt');
  expect(git(repo, 'show', `${names.integrationBranch('claude-gate')}:answer.txt`)).toBe('42');
});

test('steer interrupts a claude agent mid tool call and resumes the same session with the message', async () => {
  const repo = makeRepo();
  scripts.set('paint', (req) => {
    const seen = JSON.stringify(req.messages);
    if (!seen.includes('Use the color blue'))
      return reply.toolUse('Bash', { command: 'node -e "setTimeout(() => {}, 120000)"', description: 'think slowly' });
    if (!seen.includes('color.txt')) {
      const wt = /Work only inside (\S+),/.exec(req.system)?.[1];
      return reply.toolUse('Write', { file_path: `${wt}/color.txt`, content: 'blue\n' });
    }
    return reply.text('Painted it blue.');
  });
  const handle = await startMission(
    env,
    taskQueue,
    mission('claude-steer', repo, [task('paint', '', { agent: claudeAgent(), prompt: 'Paint it.' })]),
  );
  const deadline = Date.now() + 90_000;
  while (agentRequestsOf('paint').length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  await new Promise((r) => setTimeout(r, 2000));
  const steered = await handle.executeUpdate(steerUpdate, {
    args: [{ taskId: 'paint', message: 'Use the color blue.' }],
  });
  expect(steered.delivery).toBe('interrupt');
  const result = await missionResult(handle);
  expect(result.tasks[0].status).toBe('merged');
  expect(git(repo, 'show', `${names.integrationBranch('claude-steer')}:color.txt`)).toBe('blue');
  // The session resumed (Claude Code gives the resumed run its own id; status reports the latest):
  // the message arrives after the interrupted conversation, not in a new one.
  const sessionOf = (r: RecordedRequest): string | undefined =>
    /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(
      r.headers['x-claude-code-session-id'] ?? JSON.stringify((r.body as { metadata?: unknown })?.metadata ?? ''),
    )?.[0];
  expect(sessionOf(agentRequestsOf('paint').at(-1)!)).toBe(result.tasks[0].sessionId);
  const first = agentRequestsOf('paint').find((r) => JSON.stringify(r.messages).includes('Use the color blue'))!;
  expect(JSON.stringify(first.messages)).toContain('setTimeout(() => {}, 120000)');
  expect(JSON.stringify(first.messages)).toContain('Paint it.');
}, 180_000);

test('a worker SIGKILLed during a tool call: a new worker resumes the same session; no agent outlives its attempt', async () => {
  const repo = makeRepo();
  const extHome = tempDir('flotilla-ext-home-');
  const queue = 'flotilla-claude-ext';
  scripts.set('crash', (req, turn) => {
    if (turn === 0)
      return reply.toolUse('Bash', {
        command: 'node -e "setTimeout(() => {}, 120000)" && echo slow > slow.txt',
        description: 'a long step',
      });
    return reply.text('Picked up after the crash.');
  });
  const worker = (): CliProcess =>
    spawnCli(['worker'], {
      env: { TEMPORAL_ADDRESS: address, FLOTILLA_HOME: extHome, FLOTILLA_TASK_QUEUE: queue, FLOTILLA_HOST_ID: 'ext' },
    });
  let w = worker();
  const spec = mission('claude-crash', repo, [task('crash', '', { agent: claudeAgent() })]);
  const handle = await startMission(env, queue, spec);
  // Wait for the tool call to be running (the model answered turn 0), then kill the worker hard.
  await waitFor(env.client, 'claude-crash', () => agentRequestsOf('crash').length >= 1, 90_000).catch(() => undefined);
  const deadline = Date.now() + 90_000;
  while (agentRequestsOf('crash').length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  await new Promise((r) => setTimeout(r, 2000));
  const pidFile = path.join(extHome, 'runs', 'claude-crash', 'crash', 'agent.pid');
  const pgid = Number(readFileSync(pidFile, 'utf8').split(' ')[0]);
  expect(groupAlive(pgid)).toBe(true);
  const killedAt = Date.now();
  w.kill('SIGKILL');
  w = worker();
  try {
    // No ghost: status shows the attempt as not in flight, once the dead worker's process is seen
    // gone (its identity names this host) or its heartbeats stop.
    const config = loadConfig({ TEMPORAL_ADDRESS: address, FLOTILLA_TASK_QUEUE: queue, FLOTILLA_HOME: extHome });
    let ghost: MissionProgress | undefined;
    while (Date.now() - killedAt < 19_000) {
      // The query may wait on the dead worker's sticky queue until the new worker takes over.
      const p = await getProgress(env.client, config, 'claude-crash').catch(() => undefined);
      if (p?.tasks[0].status === 'pending') {
        ghost = p;
        break;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(ghost?.tasks[0].error).toMatch(
      /^attempt 1: (its worker \d+@\S+ has exited|no heartbeat since \d\d:\d\d:\d\d UTC \(its worker may have died\))/,
    );
    expect(ghost?.counts.running).toBe(0);
    const result = await missionResult(handle);
    const resumed = agentRequestsOf('crash')[1];
    console.log(`claude: worker SIGKILL -> resumed first request: ${resumed.at - killedAt} ms`);
    expect(result.tasks[0].status).toBe('merged');
    expect(result.tasks[0].attempts).toBe(2);
    // Resumed, not restarted: the stub sees the earlier conversation, with the interrupted tool call.
    expect(JSON.stringify(resumed.messages)).toContain('setTimeout(() => {}, 120000)');
    // The first agent (orphaned by the dead worker) was killed before the second started.
    expect(groupAlive(pgid)).toBe(false);
    expect(existsSync(pidFile)).toBe(false);
  } finally {
    w.kill('SIGTERM');
  }
}, 240_000);

test('passing the mission budget pauses it with the reason; resume goes on', async () => {
  const repo = makeRepo();
  scripts.set('spend', () => reply.text('Spent some tokens.'));
  scripts.set('after', () => reply.text('Ran after the resume.'));
  const spec = mission(
    'claude-budget',
    repo,
    [task('spend', '', { agent: claudeAgent() }), task('after', '', { agent: claudeAgent(), dependsOn: ['spend'] })],
    { budgetUsd: 0.001 },
  );
  const handle = await startMission(env, taskQueue, spec);
  const paused = await waitFor(
    env.client,
    'claude-budget',
    (p) => p.phase === 'paused' && p.tasks[0].status === 'merged',
    90_000,
  );
  expect(paused.reason).toMatch(/^budget of \$0\.001 reached \(\$0\.\d+ spent\)/);
  expect(paused.costUsd).toBeGreaterThan(0.001);
  await new Promise((r) => setTimeout(r, 2000));
  expect((await waitFor(env.client, 'claude-budget', () => true)).tasks[1].status).toBe('pending');
  await handle.signal(resumeSignal);
  const result = await missionResult(handle);
  expect(result.phase).toBe('completed');
  expect(result.costUsd).toBeCloseTo(result.tasks[0].costUsd + result.tasks[1].costUsd, 6);
});
