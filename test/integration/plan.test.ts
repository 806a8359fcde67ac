/**
 * The plan workflow with the REAL Claude Code and Codex CLIs as planners, against the stub model
 * servers, on a real dev server with real git: a first plan with an error (a dependency cycle for
 * Claude, a gate command the repository lacks for Codex) is corrected in round 2 from the errors
 * Flotilla sent, in the same agent session (resumed, so the model sees its first plan). The
 * stubs recognise a planner by its contract ("the planner of Flotilla plan").
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { probeBwrap } from '../../src/agents/sandbox';
import { startPlan } from '../../src/client/plan';
import type { AgentSpec } from '../../src/mission/types';
import type { PlanInput, PlanResult } from '../../src/workflows/plan';
import { git, makeRepo, tempDir } from '../helpers/git';
import * as anthropic from '../helpers/stub-anthropic';
import * as openai from '../helpers/stub-openai';
import { startDevServer } from '../helpers/temporal';
import { replayRecorded } from '../helpers/histories';
import { startTestWorkers } from '../helpers/worker';

let env: TestWorkflowEnvironment;
let claudeStub: anthropic.AnthropicStub;
let codexStub: openai.ResponsesStub;
let workers: Awaited<ReturnType<typeof startTestWorkers>> | undefined;
let claudeVars: Record<string, string>;
let codexConfig: { args: string[]; env: Record<string, string> };
let sandbox: 'bwrap' | undefined;
const home = tempDir('flotilla-plan-it-home-');
const taskQueue = 'flotilla-plan-it';
const savedEnv = { ...process.env };

const PLANNER = /the planner of Flotilla plan "([^"]+)"/;
const PLAN_FILE = /Write the mission file \(YAML\) to (\S+) /;

/** A plan of two tasks; `cycle` makes each depend on the other; `gate` is task a's gate. */
function planYaml({ cycle = false, gate = 'npm test' } = {}): string {
  return [
    'tasks:',
    `  - { id: a, title: A, prompt: "Change src/a.js.", dependsOn: ${cycle ? '[b]' : '[]'}, touches: [src/a.js], verify: ["${gate}"] }`,
    `  - { id: b, title: B, prompt: "Add src/b.js.", dependsOn: ${cycle ? '[a]' : '[]'}, touches: [src/b.js], verify: [npm test] }`,
    'verify: [npm test]',
    '',
  ].join('\n');
}

beforeAll(async () => {
  env = await startDevServer();
  sandbox = await probeBwrap().then(
    () => 'bwrap' as const,
    () => undefined,
  );
  // Claude: round 1 writes a plan with a cycle; given the errors (round 2, resumed), a good one.
  claudeStub = await anthropic.startAnthropicStub((req) => {
    if (!PLANNER.test(req.system)) return anthropic.reply.text('Nothing to do.');
    const file = PLAN_FILE.exec(req.system)![1];
    const turn = req.messages.filter((m) => (m as { role?: string }).role === 'assistant').length;
    if (turn === 0) return anthropic.reply.toolUse('Write', { file_path: file, content: planYaml({ cycle: true }) });
    if (turn === 2 && /dependency cycle/.test(anthropic.lastUserText(req)))
      return anthropic.reply.toolUse('Write', { file_path: file, content: planYaml() });
    return anthropic.reply.text('Two tasks, a and b, in parallel.');
  });
  claudeVars = anthropic.claudeEnv(claudeStub, tempDir('claude-home-'));
  // Codex: round 1 gates task a on `npm run lint`, which the repository lacks; round 2 fixes it.
  codexStub = await openai.startResponsesStub((req) => {
    const texts = openai.userTexts(req).join('\n');
    if (!PLANNER.test(texts)) return openai.reply.message('Nothing to do.');
    const file = PLAN_FILE.exec(texts)![1];
    const outputs = openai.toolOutputs(req).length;
    const last = openai.userTexts(req).at(-1) ?? '';
    const write = (yaml: string) => openai.reply.shell(['sh', '-c', `cat > '${file}' <<'EOF'\n${yaml}EOF`]);
    if (outputs === 0) return write(planYaml({ gate: 'npm run lint' }));
    if (outputs === 1 && /package\.json has no "lint" script/.test(last)) return write(planYaml());
    return openai.reply.message('Two tasks, a and b, in parallel.');
  });
  codexConfig = openai.codexConfig(codexStub, tempDir('codex-home-'));
  Object.assign(process.env, claudeVars, codexConfig.env);
  workers = await startTestWorkers(env, taskQueue, 'plan-it', home);
}, 180_000);

afterAll(async () => {
  await workers?.stop();
  await claudeStub?.close();
  await codexStub?.close();
  await env?.teardown();
  process.env = savedEnv;
});

function nodeRepo(): string {
  return makeRepo({
    'package.json': JSON.stringify({ name: 'app', private: true, scripts: { test: 'node --test' } }),
    'src/a.js': 'module.exports = 1;\n',
  });
}

function planInput(id: string, repo: string, planner: AgentSpec): PlanInput {
  return {
    id,
    repo,
    base: 'main',
    goal: 'Split the work on src/ in two.',
    planner: { ...planner, ...(sandbox ? { sandbox } : {}) },
    defaults: { concurrency: 2, agent: { runtime: 'command', command: ['true'] } },
  };
}

const agent = (extra: Partial<AgentSpec>): AgentSpec => ({
  runtime: 'claude',
  args: [],
  env: [],
  timeoutMs: 180_000,
  idleTimeoutMs: 60_000,
  retries: 1,
  ...extra,
});

async function plan(input: PlanInput): Promise<{ result: PlanResult; details: string }> {
  const workflowId = await startPlan(env.client, taskQueue, input);
  const handle = env.client.workflow.getHandle(workflowId);
  const result = (await handle.result()) as PlanResult;
  const meta = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  return { result, details: meta.currentDetails ?? '' };
}

function expectNothingLeft(repo: string, id: string): void {
  expect(git(repo, 'worktree', 'list', '--porcelain').match(/^worktree /gm)).toHaveLength(1);
  expect(git(repo, 'for-each-ref', '--format=%(refname)')).toBe('refs/heads/main');
  expect(git(repo, 'status', '--porcelain')).toBe('');
  expect(existsSync(path.join(home, 'worktrees', `plan-${id}`))).toBe(false);
}

test('Claude Code as the planner: a plan with a cycle is corrected in round 2, in the same session, from the errors Flotilla sent', async () => {
  const repo = nodeRepo();
  const claude = agent({
    model: 'claude-sonnet-4-5',
    env: Object.keys(claudeVars).filter((k) => !['PATH', 'HOME', 'TMPDIR', 'LANG'].includes(k)),
  });
  const { result, details } = await plan(planInput('claude-plan', repo, claude));
  expect(result).toMatchObject({ status: 'valid', rounds: 2, problems: [] });
  expect(result.yaml).toContain('dependsOn: []');
  expect(result.waves).toEqual([['a', 'b']]);

  const requests = claudeStub.agentRequests().filter((r) => PLANNER.test(r.system));
  const round2 = requests.find((r) => /dependency cycle/.test(anthropic.lastUserText(r)))!;
  // Resumed: the same Claude session, and the conversation holds round 1's plan.
  expect(round2.headers['x-claude-code-session-id']).toBe(requests[0].headers['x-claude-code-session-id']);
  expect(JSON.stringify(round2.messages)).toContain('dependsOn: [b]');
  expect(anthropic.lastUserText(round2)).toContain('found 1 problem');
  expect(result.usage.sessionId).toBe(requests[0].headers['x-claude-code-session-id']);
  // Its cost is in the ledger; the Web UI shows the round and the plan.
  expect(result.usage.inputTokens).toBeGreaterThan(0);
  expect(result.usage.costUsd).toBeGreaterThan(0);
  expect(details).toContain('round 2/3 · valid');
  expect(details).toContain('```yaml');
  // Its transcripts, one per round, say how it ran (sandboxed when this host can).
  const transcript = path.join(home, 'runs', 'plan-claude-plan', 'planner', 'attempt-1.jsonl');
  const first = JSON.parse(readFileSync(transcript, 'utf8').split('\n')[0]) as Record<string, unknown>;
  expect(first).toMatchObject({ type: 'flotilla.attempt', role: 'planner', runtime: 'claude' });
  expect(first.sandbox).toBe(sandbox);
  expectNothingLeft(repo, 'claude-plan');
}, 240_000);

test('Codex as the planner: a gate command the repository lacks is corrected in round 2, in the same thread', async () => {
  const repo = nodeRepo();
  // The adapter adds the unattended flags itself; the stub's provider settings come as args.
  const args = codexConfig.args.filter(
    (a) => a !== '--dangerously-bypass-approvals-and-sandbox' && a !== '--skip-git-repo-check',
  );
  const codex = agent({ runtime: 'codex', args, env: Object.keys(codexConfig.env) });
  const { result } = await plan(planInput('codex-plan', repo, codex));
  expect(result).toMatchObject({ status: 'valid', rounds: 2, problems: [] });
  expect(result.yaml).not.toContain('lint');

  const requests = codexStub.requests.filter((r) => PLANNER.test(openai.userTexts(r).join('\n')));
  const round2 = requests.find((r) => /no "lint" script/.test(openai.userTexts(r).at(-1) ?? ''))!;
  // Resumed: round 2's request carries round 1's shell call and its output.
  expect(openai.toolOutputs(round2)).toHaveLength(1);
  expect(JSON.stringify(round2.input)).toContain('npm run lint');
  expect(result.usage.sessionId).toBeTruthy();
  expect(result.usage.inputTokens).toBeGreaterThan(0);
  expectNothingLeft(repo, 'codex-plan');
}, 240_000);

test('every plan this suite ran replays against the current workflow code', async () => {
  // With FLOTILLA_RECORD_HISTORIES=1 the two plans become replay fixtures (docs/architecture.md, "Versioning").
  expect(await replayRecorded(env, taskQueue, /^plan-(claude|codex)-plan$/)).toBe(2);
}, 120_000);
