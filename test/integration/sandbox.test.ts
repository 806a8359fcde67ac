/**
 * Sandboxed agents (`agent.sandbox: bwrap`) end to end: the REAL Claude Code and Codex CLIs (the
 * npm dependencies) against the stub model servers on 127.0.0.1, a `command` agent, missions on a
 * real Temporal dev server, real git, real bubblewrap. Every runtime runs the same tool command
 * twice, without a sandbox and in one: it reads a fake `~/.ssh/id_ed25519`, writes into a
 * directory nothing hides, into the repository's main checkout, into $HOME and into
 * `$FLOTILLA_HOME`, looks at `$FLOTILLA_HOME/runs`, and edits and commits in its own worktree.
 * Outside the sandbox all of it works; inside only the worktree's edit and commit do (a write under
 * the hidden home or /tmp lands in the sandbox's own tmpfs, never on the host). A cancelled
 * sandboxed agent leaves no process behind.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { groupAlive } from '../../src/agents/process';
import { readPidFile } from '../../src/agents/pid-file';
import { spawnCli } from '../helpers/cli';
import { freePort } from '../helpers/net';
import type { AgentSpec, MissionSpec, TaskSpec } from '../../src/mission/types';
import { names } from '../../src/mission/types';
import type { MissionResult } from '../../src/workflows/mission';
import { git, makeRepo, tempDir } from '../helpers/git';
import { bashAgent, mission, task, waitFor } from '../helpers/missions';
import { missionResult } from '../helpers/outcome';
import * as anthropic from '../helpers/stub-anthropic';
import * as openai from '../helpers/stub-openai';
import { startDevServer } from '../helpers/temporal';
import { runMission, startMission, startTestWorkers } from '../helpers/worker';
import { until } from '../helpers/poll';

const FAKE_KEY =
  '-----BEGIN OPENSSH PRIVATE KEY-----\nfake-key-for-the-sandbox-test\n-----END OPENSSH PRIVATE KEY-----\n';

let env: TestWorkflowEnvironment;
let address: string;
let claudeStub: anthropic.AnthropicStub;
let codexStub: openai.ResponsesStub;
let workers: Awaited<ReturnType<typeof startTestWorkers>> | undefined;
let codex: { args: string[]; env: Record<string, string> };
let claudeNames: string[];
const taskQueue = 'flotilla-sandbox';
const flotillaHome = tempDir('flotilla-sandbox-home-');
// The user's home: a private key, a git identity, and whatever else a real home holds.
const home = tempDir('sandbox-user-home-');
const savedEnv = { ...process.env };
// Another repository of the user's that nothing hides (outside /tmp and the home): read-only inside.
const visible = mkdtempSync('/var/tmp/flotilla-sandbox-visible-');
/** Tool commands by task id, for the stub model servers. */
const commands = new Map<string, string>();

beforeAll(async () => {
  mkdirSync(path.join(home, '.ssh'), { recursive: true, mode: 0o700 });
  writeFileSync(path.join(home, '.ssh', 'id_ed25519'), FAKE_KEY, { mode: 0o600 });
  writeFileSync(path.join(home, '.gitconfig'), '[user]\n\tname = Sandy Agent\n\temail = sandy@example.com\n');
  const port = await freePort();
  address = `127.0.0.1:${port}`;
  env = await startDevServer(port);
  claudeStub = await anthropic.startAnthropicStub((req) => {
    const id = /your task is "([^"]+)"/.exec(req.system)?.[1];
    const done = req.messages.some((m) => (m as { role?: string }).role === 'assistant');
    const command = id ? commands.get(id) : undefined;
    return command && !done
      ? anthropic.reply.toolUse('Bash', { command, description: 'probe the sandbox' })
      : anthropic.reply.text('Done.');
  });
  codexStub = await openai.startResponsesStub((req) => {
    const id = /your task is "([^"]+)"/.exec(openai.userTexts(req).join('\n'))?.[1];
    const done = (req.input as Array<{ type?: string }>).some((i) => i?.type === 'function_call_output');
    const command = id ? commands.get(id) : undefined;
    return command && !done ? openai.reply.shell(['bash', '-c', command]) : openai.reply.message('Done.');
  });
  const claudeEnv = anthropic.claudeEnv(claudeStub, home);
  codex = openai.codexConfig(codexStub, tempDir('sandbox-codex-home-'));
  // The worker's environment (the agents get it by name): HOME is the user's home above.
  Object.assign(process.env, claudeEnv, codex.env, { HOME: home });
  claudeNames = Object.keys(claudeEnv).filter((k) => !['PATH', 'HOME', 'TMPDIR', 'LANG'].includes(k));
  workers = await startTestWorkers(env, taskQueue, 'sandbox-it', flotillaHome);
}, 180_000);

afterAll(async () => {
  await workers?.stop();
  await claudeStub?.close();
  await codexStub?.close();
  await env?.teardown();
  process.env = savedEnv;
  rmSync(visible, { recursive: true, force: true });
});

/** An agent of `runtime` with `sandbox` (none: the field left out, as the mission file loader does). */
function agentOf(runtime: 'claude' | 'codex' | 'command', sandbox: 'none' | 'bwrap', script = ''): AgentSpec {
  const base = { timeoutMs: 180_000, idleTimeoutMs: 90_000, retries: 0, ...(sandbox === 'bwrap' ? { sandbox } : {}) };
  if (runtime === 'command') return { ...bashAgent(script), ...base };
  if (runtime === 'claude') return { runtime, model: 'claude-sonnet-4-5', args: [], env: claudeNames, ...base };
  const args = codex.args.filter(
    (a) => a !== '--dangerously-bypass-approvals-and-sandbox' && a !== '--skip-git-repo-check',
  );
  return { runtime, args, env: Object.keys(codex.env), ...base };
}

/**
 * The tool command: every probe writes its verdict into a file of the worktree (committed by
 * Flotilla with the rest), so the test reads what the agent saw from the task branch.
 */
function probeScript(repo: string, id: string): string {
  return [
    `(cat "$HOME/.ssh/id_ed25519" 2>/dev/null || echo DENIED) > key.txt`,
    // A directory nothing hides (read-only in the sandbox), the main checkout, the home (both
    // hidden: what is written there lands in the sandbox's own tmpfs, never on the host).
    `(echo pwned > ${visible}/outside-${id}.txt && echo WROTE || echo DENIED) > outside.txt`,
    `echo pwned > ${repo}/outside-${id}.txt`,
    `echo pwned > "$HOME/pwned-${id}.txt"`,
    `(ls ${path.join(flotillaHome, 'runs')} >/dev/null 2>&1 && echo SEEN || echo HIDDEN) > flotilla-home.txt`,
    `(echo pwned > ${flotillaHome}/pwned-${id}.txt && echo WROTE || echo DENIED) > flotilla-home-write.txt`,
    'echo mine > mine.txt && git add mine.txt && git commit -q -m "agent commit" && echo COMMITTED > commit.txt',
  ].join('; ');
}

/** Runs one task of `runtime` with the probe, with or without the sandbox, and reads what it saw. */
async function probe(runtime: 'claude' | 'codex' | 'command', sandbox: 'none' | 'bwrap') {
  const repo = makeRepo();
  const id = `${runtime}-${sandbox}`;
  const script = probeScript(repo, id);
  commands.set(id, script);
  const t: TaskSpec = task(id, '', { agent: agentOf(runtime, sandbox, script), prompt: 'Probe the sandbox.' });
  const result = await runMission(env, taskQueue, mission(`sbx-${id}`, repo, [t]));
  const branch = names.taskBranch(`sbx-${id}`, id);
  const show = (file: string): string => git(repo, 'show', `${branch}:${file}`);
  return {
    result,
    key: show('key.txt'),
    outside: show('outside.txt'),
    flotillaHome: show('flotilla-home.txt'),
    flotillaHomeWrite: show('flotilla-home-write.txt'),
    wroteVisible: existsSync(path.join(visible, `outside-${id}.txt`)),
    wroteRepo: existsSync(path.join(repo, `outside-${id}.txt`)),
    wroteHome: existsSync(path.join(home, `pwned-${id}.txt`)),
    commit: show('commit.txt'),
    mine: show('mine.txt'),
    // The agent's own commit, with the identity git has outside the sandbox.
    agentCommit: git(repo, 'log', '--format=%an <%ae> %s', branch)
      .split('\n')
      .find((l) => l.endsWith('agent commit')),
  };
}

describe.each(['command', 'claude', 'codex'] as const)('%s agent', (runtime) => {
  test('reads ~/.ssh and writes outside its worktree without a sandbox, cannot in bwrap, and still commits', async () => {
    const open = await probe(runtime, 'none');
    expect(open.result.tasks[0]).toMatchObject({ status: 'merged', error: null });
    expect(open.key).toBe(FAKE_KEY.trim());
    expect(open.outside).toBe('WROTE');
    expect(open.wroteVisible).toBe(true);
    expect(open.wroteRepo).toBe(true);
    expect(open.wroteHome).toBe(true);
    expect(open.flotillaHome).toBe('SEEN');
    expect(open.flotillaHomeWrite).toBe('WROTE');
    expect([open.commit, open.mine, open.agentCommit]).toEqual([
      'COMMITTED',
      'mine',
      'Sandy Agent <sandy@example.com> agent commit',
    ]);

    const boxed = await probe(runtime, 'bwrap');
    expect(boxed.result.tasks[0]).toMatchObject({ status: 'merged', error: null });
    expect(boxed.key).toBe('DENIED');
    expect(boxed.outside).toBe('DENIED');
    expect(boxed.wroteVisible).toBe(false);
    expect(boxed.wroteRepo).toBe(false);
    expect(boxed.wroteHome).toBe(false);
    expect(boxed.flotillaHome).toBe('HIDDEN');
    expect(boxed.flotillaHomeWrite).toBe('DENIED');
    expect([boxed.commit, boxed.mine, boxed.agentCommit]).toEqual([
      'COMMITTED',
      'mine',
      'Sandy Agent <sandy@example.com> agent commit',
    ]);
  }, 240_000);
});

/** Host processes whose argv holds `text` (this process's own never does). */
function processesWith(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (argv.includes(text) && Number(pid) !== process.pid) found.push(`${pid}: ${argv.slice(0, 200)}`);
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

describe.each(['command', 'claude'] as const)('a cancelled sandboxed %s agent', (runtime) => {
  test('leaves no process of its sandbox behind', async () => {
    const repo = makeRepo();
    const id = `cancel-${runtime}`;
    const marker = `sandbox-marker-${process.pid}-${runtime}`;
    // A child in the agent's group, one in a session of its own (as Claude Code starts its tool
    // commands), and the agent waiting for both.
    const script = `node -e "setInterval(() => {}, 1000)" ${marker} & setsid node -e "setInterval(() => {}, 1000)" ${marker} & wait`;
    commands.set(id, script);
    const spec: MissionSpec = mission(`sbx-${id}`, repo, [
      task(id, '', { agent: agentOf(runtime, 'bwrap', script), prompt: 'Run forever.' }),
    ]);
    const handle = await startMission(env, taskQueue, spec);
    await until(
      'both children of the agent',
      () => processesWith(`setInterval(() => {}, 1000) ${marker}`).length >= 2,
      90_000,
    );
    const pgid = readPidFile(path.join(flotillaHome, 'runs', `sbx-${id}`, id, 'agent.pid'))!.pgid;
    expect(groupAlive(pgid)).toBe(true);
    expect((await waitFor(env.client, `sbx-${id}`, () => true)).tasks[0].status).toBe('running');
    await handle.cancel();
    const result: MissionResult = await missionResult(handle);
    expect(result.tasks[0].status).toBe('cancelled');
    // The activity returned only after the group was gone; the namespace went with it.
    expect(groupAlive(pgid)).toBe(false);
    await until('no process of the sandbox left', () => processesWith(marker).length === 0, 5000);
    expect(processesWith(marker)).toEqual([]);
    expect(execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })).not.toContain(`sbx-${id}`);
  }, 180_000);
});

test('a worker where bwrap cannot make a sandbox fails the task at once, saying why and what to do', async () => {
  const fake = tempDir('sandbox-fake-bwrap-');
  writeFileSync(
    path.join(fake, 'bwrap'),
    '#!/bin/sh\necho "bwrap: No permissions to create a new namespace" >&2\nexit 1\n',
    { mode: 0o755 },
  );
  const repo = makeRepo();
  const saved = process.env.PATH;
  // The worker's PATH: the activities probe bwrap where the worker finds it.
  process.env.PATH = `${fake}${path.delimiter}${saved}`;
  try {
    const result = await runMission(
      env,
      taskQueue,
      mission('sbx-no-userns', repo, [
        task('boxed', 'echo hi > hi.txt', { agent: agentOf('command', 'bwrap', 'echo hi > hi.txt') }),
      ]),
    );
    expect(result.tasks[0]).toMatchObject({ status: 'failed', attempts: 1 });
    expect(result.tasks[0].error).toMatch(
      /bwrap cannot create a sandbox on this host \(.*No permissions to create a new namespace\).*agent\.sandbox: none/,
    );
  } finally {
    process.env.PATH = saved;
  }
  // A program missing inside the sandbox is "not found", as without one (not a retried exit 1).
  const missing = await runMission(
    env,
    taskQueue,
    mission('sbx-missing', repo, [
      task('ghost', '', { agent: { ...agentOf('command', 'bwrap'), command: ['no-such-agent-program'], retries: 2 } }),
    ]),
  );
  expect(missing.tasks[0]).toMatchObject({ status: 'failed', attempts: 1 });
  expect(missing.tasks[0].error).toMatch(/agent program not found for runtime "command"/);
});

test('a sandboxed agent past its timeout is killed with everything it started', async () => {
  const repo = makeRepo();
  const marker = `sandbox-timeout-${process.pid}`;
  const script = `setsid node -e "setInterval(() => {}, 1000)" ${marker} & node -e "setInterval(() => {}, 1000)" ${marker} & wait`;
  const agent = { ...agentOf('command', 'bwrap', script), timeoutMs: 4000 };
  const result = await runMission(env, taskQueue, mission('sbx-timeout', repo, [task('slow', '', { agent })]));
  expect(result.tasks[0].status).toBe('failed');
  expect(result.tasks[0].error).toMatch(/timed out after 4s/);
  await until('no process of the sandbox left', () => processesWith(marker).length === 0, 5000);
});

test('a SIGKILLed worker takes its sandboxed agent and everything it started with it', async () => {
  const repo = makeRepo();
  const marker = `sandbox-orphan-${process.pid}`;
  const script = `setsid node -e "setInterval(() => {}, 1000)" ${marker} & node -e "setInterval(() => {}, 1000)" ${marker} & wait`;
  const queue = 'flotilla-sandbox-ext';
  const extHome = tempDir('flotilla-sandbox-ext-');
  const worker = spawnCli(['worker'], {
    env: {
      TEMPORAL_ADDRESS: address,
      FLOTILLA_HOME: extHome,
      FLOTILLA_TASK_QUEUE: queue,
      FLOTILLA_HOST_ID: 'ext',
    },
  });
  try {
    const spec = mission('sbx-orphan', repo, [task('orphan', '', { agent: agentOf('command', 'bwrap', script) })]);
    await startMission(env, queue, spec);
    await until('both children of the agent', () => processesWith(`1000) ${marker}`).length >= 2, 60_000);
    worker.kill('SIGKILL');
    await worker.result;
    // Nothing of the worker runs any more; the sandbox (bwrap's --die-with-parent, the watchdog)
    // takes the agent's whole tree down, the command that left its process group included.
    await until('no process of the sandbox left', () => processesWith(marker).length === 0, 10_000);
  } finally {
    worker.kill('SIGKILL');
    await env.client.workflow
      .getHandle(names.missionWorkflowId('sbx-orphan'))
      .terminate('test over')
      .catch(() => undefined);
  }
});

test('a sandboxed resolver resolves a conflict in its conflict worktree and cannot read ~/.ssh', async () => {
  const lines = Array.from({ length: 12 }, (_, i) => `line ${i + 1}`).join('\n') + '\n';
  const repo = makeRepo({ 'shared.txt': lines });
  const resolver = agentOf(
    'command',
    'bwrap',
    [
      '(cat "$HOME/.ssh/id_ed25519" >/dev/null 2>&1 && echo "ssh: READ" || echo "ssh: DENIED")',
      'while IFS= read -r f; do',
      '  [ -n "$f" ] || continue',
      '  git show ":1:$f" > /tmp/base; git show ":2:$f" > /tmp/ours; git show ":3:$f" > /tmp/theirs',
      '  git merge-file --union -p /tmp/ours /tmp/base /tmp/theirs > "$f" && git add "$f" && echo "kept both sides of $f"',
      'done <<< "$FLOTILLA_CONFLICTS"',
    ].join('\n'),
  );
  const spec = mission(
    'sbx-resolve',
    repo,
    [
      task('en', "sed -i '6s/.*/greeting: hello/' shared.txt"),
      task('fr', "sleep 2; sed -i '6s/.*/greeting: bonjour/' shared.txt"),
    ],
    { policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'resolve', onVerifyFailure: 'fail' }, resolver },
  );
  const result = await runMission(env, taskQueue, spec);
  expect(result.phase).toBe('completed');
  const merged = git(repo, 'show', `${names.integrationBranch('sbx-resolve')}:shared.txt`);
  expect(merged).toContain('greeting: hello');
  expect(merged).toContain('greeting: bonjour');
  const transcript = readFileSync(
    path.join(flotillaHome, 'runs', 'sbx-resolve', 'fr', 'resolver', 'attempt-1.jsonl'),
    'utf8',
  );
  expect(transcript).toContain('"sandbox":"bwrap"');
  expect(transcript).toContain('ssh: DENIED');
  expect(transcript).toContain('kept both sides of shared.txt');
});
