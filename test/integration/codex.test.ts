/**
 * The `codex` runtime end to end: the REAL Codex CLI (the npm dependency) against a stub OpenAI
 * Responses API on 127.0.0.1, missions on a real Temporal dev server, real git. Requests are
 * routed by the task contract at the head of the prompt and answered by how many tool outputs
 * the conversation already holds, which stays right across resumes.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { AgentSpec, MissionSpec } from '../../src/mission/types';
import { names } from '../../src/mission/types';
import { pauseSignal, resumeSignal } from '../../src/workflows/messages';
import type { MissionResult } from '../../src/workflows/mission';
import { git, makeRepo, tempDir } from '../helpers/git';
import { mission, task, waitFor } from '../helpers/missions';
import {
  codexConfig,
  RecordedRequest,
  reply,
  ResponsesReply,
  ResponsesStub,
  startResponsesStub,
  userTexts,
} from '../helpers/stub-openai';
import { startDevServer } from '../helpers/temporal';
import { runMission, startMission, startTestWorkers } from '../helpers/worker';
import { missionResult } from '../helpers/outcome';

type Script = (req: RecordedRequest, turn: number) => ResponsesReply;

let env: TestWorkflowEnvironment;
let stub: ResponsesStub;
let workers: Awaited<ReturnType<typeof startTestWorkers>> | undefined;
let config: { args: string[]; env: Record<string, string> };
const scripts = new Map<string, Script>();
const taskQueue = 'flotilla-codex';
const savedEnv = { ...process.env };

const taskOf = (req: RecordedRequest): string | undefined =>
  /your task is "([^"]+)"/.exec(userTexts(req).join('\n'))?.[1];
const turnOf = (req: RecordedRequest): number =>
  (req.input as Array<{ type?: string }>).filter((i) => typeof i?.type === 'string' && i.type.endsWith('_output'))
    .length;
const requestsOf = (id: string): RecordedRequest[] => stub.requests.filter((r) => taskOf(r) === id);

beforeAll(async () => {
  env = await startDevServer();
  stub = await startResponsesStub((req) => {
    const id = taskOf(req);
    const script = id ? scripts.get(id) : undefined;
    return script ? script(req, turnOf(req)) : reply.message('Nothing to do.');
  });
  config = codexConfig(stub, tempDir('codex-home-'));
  Object.assign(process.env, config.env);
  workers = await startTestWorkers(env, taskQueue, 'codex-it', tempDir('flotilla-codex-home-'));
}, 180_000);

afterAll(async () => {
  await workers?.stop();
  await stub?.close();
  await env?.teardown();
  process.env = savedEnv;
});

function codexAgent(extra: Partial<AgentSpec> = {}): AgentSpec {
  // The adapter adds the unattended flags itself; the stub's provider settings come as args.
  const args = config.args.filter(
    (a) => a !== '--dangerously-bypass-approvals-and-sandbox' && a !== '--skip-git-repo-check',
  );
  return {
    runtime: 'codex',
    args,
    env: Object.keys(config.env),
    timeoutMs: 180_000,
    idleTimeoutMs: 60_000,
    retries: 2,
    ...extra,
  };
}

const run = (spec: MissionSpec): Promise<MissionResult> => runMission(env, taskQueue, spec);

test('a mission of real codex tasks completes with the expected commits and token accounting', async () => {
  const repo = makeRepo();
  scripts.set('hello', (_req, turn) =>
    turn === 0 ? reply.sh("printf 'hi\\n' > hello.txt") : reply.message('Created hello.txt.'),
  );
  scripts.set('world', (_req, turn) =>
    turn === 0 ? reply.sh('test -f hello.txt && cat hello.txt > world.txt') : reply.message('Copied it.'),
  );
  const result = await run(
    mission('codex-ok', repo, [
      task('hello', '', { agent: codexAgent(), prompt: 'Create hello.txt with hi.' }),
      task('world', '', { agent: codexAgent(), prompt: 'Copy hello.txt to world.txt.', dependsOn: ['hello'] }),
    ]),
  );
  expect(result.tasks.map((t) => [t.id, t.status, t.error])).toEqual([
    ['hello', 'merged', null],
    ['world', 'merged', null],
  ]);
  expect(git(repo, 'show', `${names.integrationBranch('codex-ok')}:world.txt`)).toBe('hi');
  for (const t of result.tasks) {
    expect(t.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(t.turns).toBeGreaterThanOrEqual(1);
    expect(t.inputTokens).toBeGreaterThan(0);
    expect(t.outputTokens).toBeGreaterThan(0);
  }
});

test('an authentication failure fails the task at once with what to do', async () => {
  const repo = makeRepo();
  scripts.set('auth', () => reply.invalidApiKey());
  const result = await run(mission('codex-auth', repo, [task('auth', '', { agent: codexAgent({ retries: 3 }) })]));
  expect(result.tasks[0].status).toBe('failed');
  expect(result.tasks[0].error).toMatch(/^authentication failed: .*401.*set OPENAI_API_KEY/);
  expect(result.tasks[0].attempts).toBe(1);
});

test('a failing gate resumes the same codex thread with the failure, and the task then passes', async () => {
  const repo = makeRepo();
  scripts.set('gate', (req, turn) => {
    const texts = userTexts(req).join('\n');
    if (!texts.includes('verification failed'))
      return turn === 0 ? reply.sh('echo 41 > answer.txt') : reply.message('Answered 41.');
    return turn <= 1 ? reply.sh('echo 42 > answer.txt') : reply.message('Fixed: 42.');
  });
  const result = await run(
    mission('codex-gate', repo, [
      task('gate', '', { agent: codexAgent(), verify: ['grep -qx 42 answer.txt'], maxIterations: 3 }),
    ]),
  );
  expect(result.tasks[0]).toMatchObject({ status: 'merged', iterations: 2 });
  const feedback = requestsOf('gate').find((r) => userTexts(r).join('\n').includes('verification failed'))!;
  // The same thread: the first run's command is in the resumed conversation.
  expect(JSON.stringify(feedback.input)).toContain('echo 41 > answer.txt');
  expect(git(repo, 'show', `${names.integrationBranch('codex-gate')}:answer.txt`)).toBe('42');
});

test('pause --now stops a codex agent mid command; resume continues the same thread', async () => {
  const repo = makeRepo();
  scripts.set('hold', (req) => {
    const texts = userTexts(req).join('\n');
    if (!texts.includes('paused by the user')) return reply.sh('node -e "setTimeout(() => {}, 120000)"');
    return JSON.stringify(req.input).includes('done.txt')
      ? reply.message('Finished after the pause.')
      : reply.sh('echo done > done.txt');
  });
  const handle = await startMission(
    env,
    taskQueue,
    mission('codex-hold', repo, [task('hold', '', { agent: codexAgent(), prompt: 'Do the slow thing.' })]),
  );
  const deadline = Date.now() + 90_000;
  while (requestsOf('hold').length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  await new Promise((r) => setTimeout(r, 2000));
  await handle.signal(pauseSignal, { now: true });
  const held = await waitFor(env.client, 'codex-hold', (p) => p.tasks[0].status === 'pending', 30_000);
  expect(held.phase).toBe('paused');
  const before = requestsOf('hold').length;
  await new Promise((r) => setTimeout(r, 1500));
  expect(requestsOf('hold')).toHaveLength(before);
  await handle.signal(resumeSignal);
  const result = await missionResult(handle);
  expect(result.tasks[0].status).toBe('merged');
  expect(git(repo, 'show', `${names.integrationBranch('codex-hold')}:done.txt`)).toBe('done');
  const resumed = requestsOf('hold').find((r) => userTexts(r).join('\n').includes('paused by the user'))!;
  // The same thread: the interrupted command is in the resumed conversation.
  expect(JSON.stringify(resumed.input)).toContain('setTimeout(() => {}, 120000)');
}, 180_000);
