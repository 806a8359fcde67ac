/**
 * `flotilla plan` as a user runs it (the built CLI, `npm run build` first), with a `command`
 * planner (a bash script, no API key) on a real dev server: a first plan with a dependency cycle
 * and a gate command the repository lacks, corrected in round 2 from the errors Flotilla sent;
 * a plan still invalid after the last round (exit 1, the file kept); bad input (exit 2, nothing
 * started). The planner runs in the bwrap sandbox when this host can make one: then it cannot
 * write to the repository's worktree.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { cpSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { probeBwrap } from '../../src/agents/sandbox';
import { loadMission } from '../../src/mission-file/load';
import type { PlanResult } from '../../src/workflows/plan';
import { ROOT, runCli, spawnCli } from '../helpers/cli';
import { git, makeRepo, tempDir } from '../helpers/git';
import { startDevServer } from '../helpers/temporal';

let env: TestWorkflowEnvironment;
const home = tempDir('flotilla-plan-home-');

beforeAll(async () => {
  env = await startDevServer();
}, 180_000);

afterAll(async () => {
  await env?.teardown();
});

const cliEnv = (): NodeJS.ProcessEnv => ({
  TEMPORAL_ADDRESS: env.address,
  FLOTILLA_HOME: home,
  FLOTILLA_TASK_QUEUE: 'flotilla-plan-e2e',
});

/** A node repository with a `test` script and nothing else to run. */
function nodeRepo(): string {
  return makeRepo({
    'package.json': JSON.stringify({ name: 'app', private: true, scripts: { test: 'node --test' } }, null, 2),
    'src/a.js': 'module.exports = 1;\n',
  });
}

/**
 * A planner script: each round it keeps what it was given (`round-N.env`: its prompt and
 * $FLOTILLA_PLAN_ERRORS) next to the plan file, tries to write into the repository's worktree
 * (`leaked` when it could), and writes a plan: with a cycle and `npm run lint` (which the
 * repository lacks) until it gets errors, or always when `stubborn`.
 */
function template(stubborn = false): string {
  const script = `
set -eu
out="$(dirname "$FLOTILLA_PLAN_FILE")"
{ echo "PROMPT<<"; echo "$FLOTILLA_PROMPT"; echo ">>"; echo "ERRORS<<"; echo "\${FLOTILLA_PLAN_ERRORS:-}"; echo ">>"; } > "$out/round-$FLOTILLA_PLAN_ROUND.env"
if touch planner-was-here 2>/dev/null; then echo leaked > "$out/leaked"; fi
if [ -z "\${FLOTILLA_PLAN_ERRORS:-}" ] || [ "${stubborn ? 'yes' : 'no'}" = yes ]; then
  deps_b='[a]'; deps_a='[b]'; gate='npm run lint'
else
  deps_b='[]'; deps_a='[]'; gate='npm test'
fi
cat > "$FLOTILLA_PLAN_FILE" <<PLAN
tasks:
  - { id: a, title: Task a, prompt: "change src/a.js", dependsOn: $deps_a, touches: [src/a.js], verify: ["$gate"] }
  - { id: b, title: Task b, prompt: "add src/b.js", dependsOn: $deps_b, touches: [src/b.js], verify: [npm test] }
PLAN
echo "planned a and b"
`;
  return [
    'planner:',
    '  runtime: command',
    `  command: [bash, -c, ${JSON.stringify(script)}]`,
    '  timeout: 1m',
    '  retries: 0',
    'concurrency: 2',
    'agent: { runtime: command, command: [bash, -c, "true"] }',
    "verify: ['npm test']",
    '',
  ].join('\n');
}

function workspace(stubborn = false): { repo: string; templateFile: string; out: string } {
  const repo = nodeRepo();
  const dir = tempDir('flotilla-plan-ws-');
  const templateFile = path.join(dir, 'template.yaml');
  writeFileSync(templateFile, template(stubborn));
  return { repo, templateFile, out: path.join(dir, 'mission.yaml') };
}

const planIdOf = (stdout: string): string => /\(workflow (plan-[a-z0-9-]+)\)/.exec(stdout)![1];
const plannerDir = (planId: string): string => path.join(home, 'runs', planId, 'planner', 'out');

test('a first plan with a cycle and a missing gate command is corrected in round 2 from the errors Flotilla sent', async () => {
  const { repo, templateFile, out } = workspace();
  const headBefore = git(repo, 'rev-parse', 'HEAD');
  const r = await runCli(
    ['plan', 'Split the work on src/ in two', '--repo', repo, '--from', templateFile, '--out', out],
    {
      env: cliEnv(),
      timeoutMs: 180_000,
    },
  );
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  const planId = planIdOf(r.stdout);

  // Round 2 got both problems of round 1, in the variable and in its prompt.
  const round2 = readFileSync(path.join(plannerDir(planId), 'round-2.env'), 'utf8');
  const errors = /ERRORS<<\n([\s\S]*?)\n>>/.exec(round2)![1];
  expect(errors).toMatch(/dependency cycle/);
  expect(errors).toMatch(/npm run lint: package\.json has no "lint" script/);
  const prompt = /PROMPT<<\n([\s\S]*?)\n>>/.exec(round2)![1];
  expect(prompt).toContain('found 2 problems');
  expect(prompt).toContain('npm run lint');
  expect(existsSync(path.join(plannerDir(planId), 'round-3.env'))).toBe(false);

  // The plan is printed as `validate` prints it, and written to --out with the template's defaults.
  expect(r.stdout).toContain('2 tasks in 1 wave, concurrency 2');
  expect(r.stdout).toContain('planner: 2 rounds');
  const loaded = await loadMission(out);
  expect(loaded.spec.repo).toBe(repo);
  expect(loaded.spec.verify).toEqual(['npm test']);
  expect(loaded.spec.tasks.map((t) => [t.id, t.dependsOn, t.verify])).toEqual([
    ['a', [], ['npm test']],
    ['b', [], ['npm test']],
  ]);

  // The workflow: its result and its summary in the Web UI.
  const handle: WorkflowHandle = env.client.workflow.getHandle(planId);
  const result = (await handle.result()) as PlanResult;
  expect(result).toMatchObject({ status: 'valid', rounds: 2, problems: [] });
  expect(result.usage.attempts).toBe(2);
  expect(await (await handle.describe()).staticSummary()).toBe('plan: Split the work on src/ in two');
  // (Its current details need a worker to answer: test/integration/plan.test.ts reads them.)

  // Nothing left in the user's repository: no worktree, no branch, no new commit, no file.
  expect(git(repo, 'worktree', 'list', '--porcelain').match(/^worktree /gm)).toHaveLength(1);
  expect(git(repo, 'for-each-ref', '--format=%(refname)')).toBe('refs/heads/main');
  expect(git(repo, 'rev-parse', 'HEAD')).toBe(headBefore);
  expect(git(repo, 'status', '--porcelain')).toBe('');
  expect(existsSync(path.join(home, 'worktrees', planId))).toBe(false);
  const sandboxed = await probeBwrap().then(
    () => true,
    () => false,
  );
  if (sandboxed) expect(readdirSync(plannerDir(planId))).not.toContain('leaked');
}, 240_000);

test('a plan still invalid after the last round exits 1 with the errors and keeps the file', async () => {
  const { repo, templateFile, out } = workspace(true);
  writeFileSync(out, 'my own notes\n');
  const r = await runCli(['plan', 'Never right', '--repo', repo, '--from', templateFile, '--out', out], {
    env: cliEnv(),
    timeoutMs: 180_000,
  });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('the plan is still invalid after 3 rounds');
  expect(r.stderr).toMatch(/dependency cycle/);
  expect(r.stderr).toMatch(/npm run lint/);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(readFileSync(out, 'utf8')).toContain('npm run lint');
  // What was at --out before is kept.
  expect(readFileSync(`${out}.bak`, 'utf8')).toBe('my own notes\n');
  expect(existsSync(path.join(plannerDir(planIdOf(r.stdout)), 'round-3.env'))).toBe(true);
}, 240_000);

test('Ctrl-C cancels the plan: its planner is stopped and its worktree removed; exit 130', async () => {
  const { repo, templateFile, out } = workspace();
  writeFileSync(
    templateFile,
    'planner: { runtime: command, command: [bash, -c, "echo thinking; sleep 120"], timeout: 5m }\n',
  );
  const cli = spawnCli(['plan', 'Take your time', '--repo', repo, '--from', templateFile, '--out', out], {
    env: cliEnv(),
    timeoutMs: 180_000,
  });
  await cli.waitFor(/\(workflow plan-/, 120_000);
  const planId = planIdOf(cli.stdout());
  const pidFile = path.join(home, 'runs', planId, 'planner', 'agent.pid');
  for (let i = 0; i < 600 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 100));
  expect(existsSync(pidFile)).toBe(true);
  cli.kill('SIGINT');
  const r = await cli.result;
  expect(r.code).toBe(130);
  expect(r.stderr).toContain(`interrupted: cancelling plan ${planId}`);
  const d = await env.client.workflow.getHandle(planId).describe();
  expect(d.status.name).toBe('CANCELLED');
  expect(existsSync(pidFile)).toBe(false);
  expect(existsSync(path.join(home, 'worktrees', planId))).toBe(false);
  expect(git(repo, 'worktree', 'list', '--porcelain').match(/^worktree /gm)).toHaveLength(1);
  expect(existsSync(out)).toBe(false);
}, 240_000);

test('examples/plan: the scripted planner plans on the example repository in two rounds, and --run runs the plan', async () => {
  const example = path.join(ROOT, 'examples', 'plan');
  const repo = path.join(tempDir('flotilla-plan-example-'), 'textkit');
  cpSync(path.join(example, 'app'), repo, { recursive: true });
  git(repo, 'init', '--quiet', '-b', 'main');
  git(repo, 'add', '--all');
  git(repo, '-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '--quiet', '-m', 'textkit');
  const out = path.join(path.dirname(repo), 'mission.yaml');
  const goal = 'Add shout(text) and whisper(text) to textkit, each with tests';
  const r = await runCli(
    ['plan', goal, '--repo', repo, '--from', path.join(example, 'template.yaml'), '--out', out, '--run'],
    { env: cliEnv(), timeoutMs: 240_000 },
  );
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(r.stdout).toContain('planner: 2 rounds');
  expect(r.stdout).toMatch(/completed in .*: 2\/2 tasks merged/);
}, 300_000);

describe('bad input exits 2 before anything starts', () => {
  // Nothing listens there: a CLI that got as far as Temporal would hang or fail otherwise.
  const badEnv = (): NodeJS.ProcessEnv => ({
    TEMPORAL_ADDRESS: '127.0.0.1:1',
    FLOTILLA_HOME: tempDir('flotilla-plan-bad-'),
  });
  const cases: Array<[string, (ws: ReturnType<typeof workspace>) => string[], RegExp]> = [
    ['no goal', (ws) => ['plan', '--repo', ws.repo, '--from', ws.templateFile], /missing required argument 'goal'/],
    ['an empty goal', (ws) => ['plan', '  ', '--repo', ws.repo, '--from', ws.templateFile], /the goal is empty/],
    ['a missing @goal file', (ws) => ['plan', '@/nonexistent/goal.md', '--repo', ws.repo], /goal file not found/],
    [
      'a template with tasks',
      (ws) => {
        writeFileSync(ws.templateFile, `${template()}tasks:\n  - { id: x, prompt: p }\n`);
        return ['plan', 'goal', '--repo', ws.repo, '--from', ws.templateFile];
      },
      /tasks: a template has no tasks/,
    ],
    [
      'a template with an unknown field',
      (ws) => {
        writeFileSync(ws.templateFile, `${template()}concurency: 2\n`);
        return ['plan', 'goal', '--repo', ws.repo, '--from', ws.templateFile];
      },
      /concurency/,
    ],
    [
      'a missing template',
      (ws) => ['plan', 'goal', '--repo', ws.repo, '--from', '/nonexistent.yaml'],
      /file not found/,
    ],
    ['an unknown planner', (ws) => ['plan', 'goal', '--repo', ws.repo, '--planner', 'gpt'], /unknown runtime/],
    [
      'a command planner without a command',
      (ws) => ['plan', 'goal', '--repo', ws.repo, '--planner', 'command'],
      /needs its command/,
    ],
    ['a repository that is not one', (ws) => ['plan', 'goal', '--repo', path.dirname(ws.out)], /not a git repository/],
  ];
  test.each(cases)(
    '%s',
    async (_name, args, message) => {
      const ws = workspace();
      const e = badEnv();
      const r = await runCli(args(ws), { env: e, timeoutMs: 60_000 });
      expect({ code: r.code, out: r.stdout }).toEqual({ code: 2, out: '' });
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(path.join(e.FLOTILLA_HOME!, 'server.json'))).toBe(false);
      expect(existsSync(ws.out)).toBe(false);
      expect(git(ws.repo, 'status', '--porcelain')).toBe('');
    },
    60_000,
  );
});
