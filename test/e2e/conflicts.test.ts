/**
 * A merge conflict as a newcomer meets it, with the CLI as a user runs it (a standalone
 * `flotilla worker`, real git, a real dev server). Three tasks edit one file: `top` its line 2,
 * `bottom` its line 19, and `late` (which finishes after both are merged) its line 2 again, so
 * `late` conflicts with `top` only.
 * - `onMergeConflict: pause`: the blocked message (`run`'s exit 3, `status`, `status --json`, the
 *   Web UI's details) names `late`'s worktree and the task it conflicts with; `git checkout` of
 *   the branch in the repository fails ("already checked out"), and the commands the message
 *   gives, followed literally, resolve it; after `resume`, `status` shows the branch's new head,
 *   and `watch` and `status` give the mission the same duration.
 * - `onMergeConflict: resolve`: the resolver is shown while it works (what it does, for how long),
 *   in the plain line output and on a terminal, and the conflict names `top` only.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MissionProgress } from '../../src/mission/progress';
import { names } from '../../src/mission/types';
import { CLI_JS, CliProcess, runCli, spawnCli } from '../helpers/cli';
import { git, makeRepo, tempDir } from '../helpers/git';
import { startDevServer } from '../helpers/temporal';

let env: TestWorkflowEnvironment;
let worker: CliProcess;
const home = tempDir('flotilla-conflicts-home-');
const LINES = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`);

const cliEnv = (): NodeJS.ProcessEnv => ({
  TEMPORAL_ADDRESS: env.address,
  FLOTILLA_HOME: home,
  FLOTILLA_TASK_QUEUE: 'flotilla-conflicts',
  // The person at the keyboard has an identity; the repositories made here do not.
  GIT_AUTHOR_NAME: 'Newcomer',
  GIT_AUTHOR_EMAIL: 'newcomer@example.com',
  GIT_COMMITTER_NAME: 'Newcomer',
  GIT_COMMITTER_EMAIL: 'newcomer@example.com',
});
const flotilla = (args: string[]) => runCli(args, { env: cliEnv(), timeoutMs: 180_000 });

beforeAll(async () => {
  env = await startDevServer();
  worker = spawnCli(['worker'], { env: cliEnv() });
  await worker.waitFor(/task queues/);
}, 180_000);

afterAll(async () => {
  worker?.kill('SIGTERM');
  await worker?.result;
  await env?.teardown();
});

/** A mission of the three tasks on a fresh repository, written as JSON; `extra` adds fields. */
function missionFile(id: string, extra: Record<string, unknown>): { file: string; repo: string } {
  const repo = makeRepo({ 'f.txt': LINES.join('\n') + '\n' });
  const set = (line: number, by: string) => `sed -i "s/^line ${line}$/line ${line} by ${by}/" f.txt`;
  // late waits until both others are merged, so it conflicts with what they merged.
  const waitForTwo = `for i in $(seq 600); do [ "$(git log --format=%s ${names.integrationBranch(id)} | grep -c '^flotilla: merge')" -ge 2 ] && break; sleep 0.2; done`;
  const file = path.join(repo, 'mission.json');
  writeFileSync(
    file,
    JSON.stringify({
      id,
      concurrency: 3,
      agent: { runtime: 'command', retries: 0, command: ['bash', '-c', 'exit 1'] },
      ...extra,
      tasks: [
        { id: 'top', prompt: 'p', agent: { command: ['bash', '-c', set(2, 'top')] } },
        { id: 'bottom', prompt: 'p', agent: { command: ['bash', '-c', set(19, 'bottom')] } },
        { id: 'late', prompt: 'p', agent: { command: ['bash', '-c', `${waitForTwo}; ${set(2, 'late')}`] } },
      ],
    }),
  );
  return { file, repo };
}

/** The worktree that has `branch` checked out, as git lists it. */
function worktreeOf(repo: string, branch: string): string {
  const entries = git(repo, 'worktree', 'list', '--porcelain').split('\n\n');
  const entry = entries.find((e) => e.includes(`\nbranch refs/heads/${branch}`));
  if (!entry) throw new Error(`no worktree has ${branch}`);
  return entry.split('\n')[0].replace(/^worktree /, '');
}

async function statusJson(id: string): Promise<MissionProgress> {
  return JSON.parse((await flotilla(['status', id, '--json'])).stdout) as MissionProgress;
}

const pause = { id: 'pause-conflict', ...missionFile('pause-conflict', { policy: { onMergeConflict: 'pause' } }) };
const lateBranch = names.taskBranch(pause.id, 'late');

test('pause: the blocked message names the worktree to work in and the task it conflicts with', async () => {
  const run = await flotilla(['run', pause.file]);
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 3, stderr: '' });
  const worktree = worktreeOf(pause.repo, lateBranch);

  // What the newcomer tried first: git refuses, naming the same worktree.
  const checkout = spawnSync('git', ['checkout', lateBranch], { cwd: pause.repo, encoding: 'utf8' });
  expect(checkout.status).not.toBe(0);
  expect(checkout.stderr).toContain(`already checked out at '${worktree}'`);

  // run's exit-3 message (the status it prints and its last line).
  expect(run.stdout).toContain(`cd ${worktree}\n`);
  expect(run.stdout).toMatch(/the mission waits for you: task late: merge conflict with top in f\.txt/);
  const p = await statusJson(pause.id);
  expect(p.mergeQueue!.conflicts).toEqual([
    expect.objectContaining({ taskId: 'late', files: ['f.txt'], withTasks: ['top'], state: 'blocked', worktree }),
  ]);
  expect(p.reason).toContain(`cd ${worktree}\n`);
  const text = (await flotilla(['status', pause.id])).stdout;
  expect(text).toContain(`cd ${worktree}\n`);
  expect(text).toContain('conflict late with top in f.txt: blocked');
  // The Web UI's current details (the SDK's metadata query, answered by the worker).
  const meta = await env.client.workflow
    .getHandle(names.missionWorkflowId(pause.id))
    .query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  expect(meta.currentDetails).toContain(`cd ${worktree}`);
  expect(meta.currentDetails).toContain('conflict of `late` with `top` in `f.txt`');
}, 240_000);

test('pause: the commands the message gives, followed literally, resolve it; status then shows the new head, and watch and status agree on the duration', async () => {
  const p = await statusJson(pause.id);
  // The commands: the indented lines of the reason; a `#` line is the person's own part.
  const lines = p.reason!.split('\n');
  const commands = lines.filter((l) => /^ {2}\S/.test(l)).map((l) => l.trim());
  const human = commands.findIndex((c) => c.startsWith('#'));
  expect(human).toBeGreaterThan(0);
  const shell = (script: string, cwd: string) =>
    spawnSync('bash', ['-c', `${script}\npwd`], { cwd, env: { ...process.env, ...cliEnv() }, encoding: 'utf8' });
  const before = shell(commands.slice(0, human).join('\n'), tempDir('elsewhere-'));
  expect(before.stdout).toContain('CONFLICT (content): Merge conflict in f.txt');
  const cwd = before.stdout.trim().split('\n').pop()!;
  // The person's part: keep both sides.
  const conflicted = readFileSync(path.join(cwd, 'f.txt'), 'utf8');
  expect(conflicted).toContain('<<<<<<<');
  writeFileSync(
    path.join(cwd, 'f.txt'),
    LINES.map((l) => (l === 'line 2' ? 'line 2 by top and late' : l === 'line 19' ? 'line 19 by bottom' : l)).join(
      '\n',
    ) + '\n',
  );
  const after = shell(commands.slice(human + 1).join('\n'), cwd);
  expect(after.status).toBe(0);
  const head = git(pause.repo, 'rev-parse', lateBranch);
  expect(git(pause.repo, 'log', '-1', '--format=%an', head)).toBe('Newcomer');

  const resume = lines
    .join('\n')
    .match(/`flotilla (resume [^`]+)`/)![1]
    .split(' ');
  expect((await flotilla(resume)).code).toBe(0);
  const watch = await flotilla(['watch', pause.id]);
  expect({ code: watch.code, stderr: watch.stderr }).toEqual({ code: 0, stderr: '' });

  const done = await statusJson(pause.id);
  expect(done.phase).toBe('completed');
  const late = done.tasks.find((t) => t.id === 'late')!;
  expect(late).toMatchObject({ status: 'merged', headSha: head });
  expect(done.mergeQueue!.conflicts[0]).toMatchObject({ state: 'resolved' });
  expect(git(pause.repo, 'show', `${done.integrationBranch}:f.txt`)).toContain('line 2 by top and late');
  const text = (await flotilla(['status', pause.id])).stdout;
  expect(text).toMatch(new RegExp(`^✔ late +merged .* ${head.slice(0, 8)}$`, 'm'));
  const took = /· took (.+?) \(started/.exec(text)![1];
  const watched = /mission pause-conflict completed in (.+?): 3\/3 tasks merged/.exec(watch.stdout)![1];
  expect(watched).toBe(took);
}, 240_000);

test('resolve: the resolver is shown while it works, in the plain output and on a terminal; it conflicts with top only', async () => {
  const id = 'resolve-conflict';
  const go = path.join(tempDir('go-'), 'go');
  // Union-merges each conflicted file, after saying so and waiting for the test's go.
  const resolver = [
    'while IFS= read -r f; do',
    '  [ -n "$f" ] || continue',
    '  echo "resolving $f"',
    `  for i in $(seq 600); do [ -e ${go} ] && break; sleep 0.1; done`,
    '  git show ":1:$f" > "$f.base"; git show ":2:$f" > "$f.ours"; git show ":3:$f" > "$f.theirs"',
    '  git merge-file --union -p "$f.ours" "$f.base" "$f.theirs" > "$f"',
    '  rm -f "$f.base" "$f.ours" "$f.theirs"',
    '  echo "kept both sides of $f"',
    'done <<< "$FLOTILLA_CONFLICTS"',
  ].join('\n');
  const { file } = missionFile(id, {
    policy: { onMergeConflict: 'resolve' },
    resolver: { runtime: 'command', command: ['bash', '-c', resolver] },
  });
  const run = spawnCli(['run', file], { env: cliEnv(), timeoutMs: 180_000 });
  await run.waitFor(/started mission resolve-conflict/, 60_000);
  // The same mission on a terminal: `watch` in a pseudo-terminal (util-linux `script`).
  const onTty = onTerminal(['watch', id]);
  // Both show the resolver while it waits for the go: what it does now, for how long.
  await run.waitFor(
    /▶ resolver late \(conflict with top in f\.txt\) · run 1 · \d+s · last output .* ago: resolving f\.txt/,
    120_000,
  );
  await onTty.waitFor(
    /▶ resolver late \(conflict with top in f\.txt\) · run 1 · \d+s · last output .* ago: resolving f\.txt/,
  );
  writeFileSync(go, '');
  const res = await run.result;
  expect({ code: res.code, stderr: res.stderr }).toEqual({ code: 0, stderr: '' });
  expect(await onTty.exitCode).toBe(0);
  // The plain output says when the resolver started and how it ended.
  expect(res.stdout).toMatch(/\n {2}▶ resolver late \(conflict with top in f\.txt\) · run 1 · /);
  expect(res.stdout).toMatch(/\n {2}✓ conflict of late with top in f\.txt resolved by the resolver in \d+s/);
  const p = await statusJson(id);
  expect(p.mergeQueue!.conflicts).toEqual([
    expect.objectContaining({ taskId: 'late', withTasks: ['top'], state: 'resolved', attempts: 1 }),
  ]);
}, 240_000);

/**
 * The CLI with `args` on a pseudo-terminal (`script -qfec`, util-linux), as on a user's terminal:
 * its output with the terminal's control sequences taken out, and its exit code.
 */
function onTerminal(args: string[]): { waitFor(pattern: RegExp): Promise<void>; exitCode: Promise<number | null> } {
  const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  // A terminal 160 columns wide, so the live lines are not cut.
  const command = `stty cols 160 rows 50; ${[process.execPath, CLI_JS, ...args].map(quote).join(' ')}`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    env: { ...process.env, ...cliEnv() },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  // eslint-disable-next-line no-control-regex
  const plain = () => out.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exitCode = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    exitCode,
    waitFor: async (pattern) => {
      const deadline = Date.now() + 120_000;
      while (!pattern.test(plain())) {
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`no ${pattern} on the terminal:\n${plain()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
  };
}
