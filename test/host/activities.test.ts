/**
 * Activities against real git repositories and real processes, through the SDK's
 * MockActivityEnvironment (heartbeats and cancellation as a worker would deliver them).
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createActivities } from '../../src/activities';
import { writePidFile } from '../../src/agents/process';
import { taskWorktreeNeedsRebuild, taskWorktreePath } from '../../src/git/worktree-layout';
import { names } from '../../src/mission/types';
import { git, makeRepo, tempDir } from '../helpers/git';
import { bashAgent, processAlive, slowInstallSetup } from '../helpers/missions';
import { runActivity, worktreeInput } from '../helpers/activities';

const home = tempDir('flotilla-home-');
const acts = createActivities({ home, hostQueue: 'q@test' });
const runId = '0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee';

async function worktreeFor(repo: string, taskId = 't', missionId = 'm') {
  return runActivity(acts.prepareWorktree, worktreeInput(repo, missionId, taskId, git(repo, 'rev-parse', 'main')));
}

function agentInput(worktree: string, script: string, extra: Parameters<typeof bashAgent>[1] = {}) {
  return {
    missionId: 'm',
    taskId: path.basename(worktree),
    worktree,
    branch: 'flotilla/m/tasks/t',
    baseSha: 'HEAD',
    agent: bashAgent(script, extra),
    prompt: 'the prompt',
    taskPrompt: 'the prompt',
    iteration: 1,
  };
}

describe('prepareWorktree', () => {
  test('creates the task branch from the base and a worktree; a second call reuses both', async () => {
    const repo = makeRepo({ '.env': 'SECRET=1\n', 'README.md': 'x' });
    git(repo, 'rm', '--quiet', '--cached', '.env');
    git(repo, 'commit', '--quiet', '-m', 'untrack .env');
    const input = worktreeInput(repo, 'm', 'a', git(repo, 'rev-parse', 'main'), {
      setup: ['echo ran >> setup-count.txt'],
      copy: ['.env'],
    });
    const first = await runActivity(acts.prepareWorktree, input);
    expect(first.created).toBe(true);
    expect(first.branch).toBe(names.taskBranch('m', 'a'));
    expect(git(first.worktree, 'rev-parse', 'HEAD')).toBe(input.baseSha);
    expect(readFileSync(path.join(first.worktree, '.env'), 'utf8')).toBe('SECRET=1\n');
    const again = await runActivity(acts.prepareWorktree, input);
    expect(again).toEqual({ ...first, created: false });
    // setup ran once per worktree, not once per call
    expect(readFileSync(path.join(first.worktree, 'setup-count.txt'), 'utf8')).toBe('ran\n');
  });

  test('refuses a branch that another mission run made', async () => {
    const repo = makeRepo();
    git(repo, 'branch', names.taskBranch('m', 'a'));
    const err = (await worktreeFor(repo, 'a').catch((e: unknown) => e)) as ApplicationFailure;
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'BranchTaken', nonRetryable: true });
    expect(err.message).toMatch(/another --id, or land and clean the earlier run first/);
    // Never advice that discards the branch's work.
    expect(err.message).not.toMatch(/branch -D/);
  });

  test('eight worktrees of one repository created at once all succeed (serialized per repo)', async () => {
    const repo = makeRepo();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => worktreeFor(repo, `p${i}`, 'par')));
    expect(new Set(results.map((r) => r.worktree)).size).toBe(8);
    expect(git(repo, 'worktree', 'list').split('\n')).toHaveLength(9);
  });
});

describe('prepareWorktree: a setup cut short', () => {
  test('is killed with its activity; the next call makes the worktree again and setup starts clean, keeping aside what a person changed', async () => {
    const repo = makeRepo({ '.gitignore': 'node_modules/\n', 'README.md': 'readme\n' });
    const dir = tempDir('flotilla-half-');
    const [pidFile, go] = [path.join(dir, 'setup.pid'), path.join(dir, 'go')];
    const setup = slowInstallSetup(pidFile, go);
    const input = worktreeInput(repo, 'm', 'half', git(repo, 'rev-parse', 'main'), { setup: [setup] });
    const worktree = taskWorktreePath(home, 'm', runId, 'half');
    const env = new MockActivityEnvironment();
    const first = env.run(acts.prepareWorktree, input);
    const deadline = Date.now() + 20_000;
    while (!existsSync(path.join(worktree, 'node_modules', '.partial')) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const pgid = Number(readFileSync(pidFile, 'utf8'));
    // Someone edits the worktree meanwhile; then the activity is cancelled (as the SDK does when
    // its worker shuts down).
    writeFileSync(path.join(worktree, 'README.md'), 'edited by hand\n');
    env.cancel();
    await expect(first).rejects.toBeInstanceOf(CancelledFailure);
    expect(processAlive(pgid)).toBe(false);
    expect(taskWorktreeNeedsRebuild(home, { missionId: 'm', runId, taskId: 'half' })).toBe(true);

    writeFileSync(go, '');
    const again = await runActivity(acts.prepareWorktree, input);
    expect(again.created).toBe(true);
    expect(existsSync(path.join(worktree, 'node_modules', 'installed'))).toBe(true);
    expect(readFileSync(path.join(worktree, 'README.md'), 'utf8')).toBe('readme\n');
    expect(taskWorktreeNeedsRebuild(home, { missionId: 'm', runId, taskId: 'half' })).toBe(false);
    // The hand edit is not lost: kept as a commit on the branch under a stale-checkpoints ref.
    const [aside] = git(repo, 'for-each-ref', '--format=%(refname)', 'refs/flotilla/stale-checkpoints/m/half/').split(
      '\n',
    );
    expect(aside).toMatch(/^refs\/flotilla\/stale-checkpoints\/m\/half\/\d+$/);
    expect(git(repo, 'show', `${aside}:README.md`)).toBe('edited by hand');
    expect(git(repo, 'rev-parse', `${aside}^`)).toBe(input.baseSha);
  });
});

describe('checkpoint', () => {
  test("commits everything the agent left with the task's message, and only once", async () => {
    const repo = makeRepo();
    const wt = await worktreeFor(repo, 'ck');
    writeFileSync(path.join(wt.worktree, 'new.txt'), 'new\n');
    writeFileSync(path.join(wt.worktree, 'README.md'), 'changed\n');
    const base = git(repo, 'rev-parse', 'main');
    const input = {
      worktree: wt.worktree,
      taskId: 'ck',
      title: 'Check it',
      branch: wt.branch,
      baseSha: base,
      exclude: [],
    };
    const first = await runActivity(acts.checkpoint, input);
    expect(first.committed).toBe(true);
    expect(first.diffstat).toEqual({ files: 2, insertions: 2, deletions: 1 });
    expect(git(wt.worktree, 'log', '-1', '--format=%s')).toBe('flotilla(ck): Check it');
    expect(git(wt.worktree, 'status', '--porcelain')).toBe('');
    const again = await runActivity(acts.checkpoint, input);
    expect(again).toEqual({ ...first, committed: false });
  });

  test('never commits the files the mission copied in (secrets such as .env)', async () => {
    const repo = makeRepo();
    const wt = await worktreeFor(repo, 'secret');
    writeFileSync(path.join(wt.worktree, '.env'), 'TOKEN=s3cret\n');
    writeFileSync(path.join(wt.worktree, 'work.txt'), 'work\n');
    const base = git(repo, 'rev-parse', 'main');
    await runActivity(acts.checkpoint, {
      worktree: wt.worktree,
      taskId: 'secret',
      title: 'S',
      branch: wt.branch,
      baseSha: base,
      exclude: ['.env'],
    });
    expect(git(wt.worktree, 'show', '--name-only', '--format=', 'HEAD')).toBe('work.txt');
  });

  test('refuses to commit when the agent moved HEAD off the task branch or left a merge in progress', async () => {
    const repo = makeRepo();
    const wt = await worktreeFor(repo, 'moved');
    const base = git(repo, 'rev-parse', 'main');
    const input = { worktree: wt.worktree, taskId: 'moved', title: 'M', branch: wt.branch, baseSha: base, exclude: [] };
    git(wt.worktree, 'checkout', '--quiet', '--detach');
    writeFileSync(path.join(wt.worktree, 'lost.txt'), 'x\n');
    await expect(runActivity(acts.checkpoint, input)).rejects.toMatchObject({
      type: 'WorktreeState',
      nonRetryable: true,
      message: expect.stringMatching(/left HEAD on a detached commit instead of flotilla\/m\/tasks\/moved/),
    });
    git(wt.worktree, 'checkout', '--quiet', wt.branch);
    git(wt.worktree, 'add', 'lost.txt');
    git(wt.worktree, 'commit', '--quiet', '-m', 'agent commit');
    git(repo, 'branch', 'other', base);
    git(repo, 'config', `branch.other.dummy`, 'x');
    const other = path.join(tempDir(), 'other');
    git(repo, 'worktree', 'add', '--quiet', other, 'other');
    writeFileSync(path.join(other, 'lost.txt'), 'conflicting\n');
    git(other, 'add', 'lost.txt');
    git(other, 'commit', '--quiet', '-m', 'other side');
    try {
      git(wt.worktree, 'merge', 'other');
    } catch {
      // conflict expected
    }
    await expect(runActivity(acts.checkpoint, input)).rejects.toMatchObject({
      type: 'WorktreeState',
      message: expect.stringMatching(/left a merge in progress/),
    });
  });
});

describe('runAgent (command runtime)', () => {
  test('runs in the worktree with the prompt in $FLOTILLA_PROMPT, only named variables passed, transcript written redacted', async () => {
    process.env.FLOTILLA_TEST_SECRET = 'hunter2';
    process.env.UT_AGENT_NAMED = 'visible';
    const wt = tempDir('wt-');
    const script =
      'echo "prompt=$FLOTILLA_PROMPT"; echo "secret=${FLOTILLA_TEST_SECRET:-unset}"; echo "named=$UT_AGENT_NAMED"; pwd > where.txt';
    const r = await runActivity(acts.runAgent, agentInput(wt, script, { env: ['UT_AGENT_NAMED'] }));
    // The named variable reaches the agent. Its value is redacted from the transcript as written,
    // and from the result on its way to history by the worker's boundary (test/unit/redact.test.ts).
    expect(r).toMatchObject({ attempt: 1, exitCode: 0, summary: 'named=visible', events: 3 });
    expect(readFileSync(path.join(wt, 'where.txt'), 'utf8').trim()).toBe(wt);
    const lines = readFileSync(r.transcript, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.stream === 'stdout').map((l) => l.line)).toEqual([
      'prompt=the prompt',
      'secret=unset',
      'named=[redacted:UT_AGENT_NAMED]',
    ]);
    expect(path.basename(r.transcript)).toMatch(/^attempt-\d+\.jsonl$/);
  });

  test('every line the agent wrote before it exited is in the transcript, before its exit record, and counted', async () => {
    // The last lines an agent writes can still be in the pipe when its exit is seen (Node's 'exit'
    // comes before the pipes close). Lost under load once: a transcript with no stdout line. Many
    // agents at once keep the event loop busy enough for the exit to overtake the output.
    const runs = await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        const wt = tempDir(`wt-${i}-`);
        const r = await runActivity(acts.runAgent, agentInput(wt, 'printf "one\\ntwo\\nthree\\n"'));
        return { returned: { events: r.events, summary: r.summary }, transcript: r.transcript };
      }),
    );
    for (const { returned, transcript } of runs) {
      const lines = readFileSync(transcript, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { stream?: string; line?: string; type?: string });
      expect(lines.filter((l) => l.stream === 'stdout').map((l) => l.line)).toEqual(['one', 'two', 'three']);
      expect(lines.at(-1)?.type).toBe('flotilla.exit');
      // The result as it was returned, not as lines read later changed it.
      expect(returned).toEqual({ events: 3, summary: 'three' });
    }
  });

  test('a missing program is a non-retryable AgentNotFound', async () => {
    const wt = tempDir('wt-');
    const input = { ...agentInput(wt, ''), agent: { ...bashAgent(''), command: ['/no/such/agent-binary'] } };
    await expect(runActivity(acts.runAgent, input)).rejects.toMatchObject({
      type: 'AgentNotFound',
      nonRetryable: true,
    });
  });

  test('a non-zero exit is a retryable AgentExit carrying the stderr tail', async () => {
    const wt = tempDir('wt-');
    await expect(runActivity(acts.runAgent, agentInput(wt, 'echo nope >&2; exit 7'))).rejects.toMatchObject({
      type: 'AgentExit',
      nonRetryable: false,
      message: 'agent exited with code 7: nope',
    });
  });

  test('cancellation kills the whole process group, grandchildren included', async () => {
    const wt = tempDir('wt-');
    const env = new MockActivityEnvironment();
    const run = env.run<Parameters<typeof acts.runAgent>, unknown, typeof acts.runAgent>(
      acts.runAgent,
      agentInput(wt, 'sleep 300 & echo $! > child.pid; echo $$ > agent.pid; wait'),
    );
    while (!existsSync(path.join(wt, 'child.pid')) || !existsSync(path.join(wt, 'agent.pid')))
      await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 100));
    const pids = ['child.pid', 'agent.pid'].map((f) => Number(readFileSync(path.join(wt, f), 'utf8')));
    env.cancel();
    await expect(run).rejects.toBeInstanceOf(CancelledFailure);
    for (const pid of pids) expect(processAlive(pid)).toBe(false);
  });

  test('timeout and idleTimeout kill the group and fail the attempt as retryable', async () => {
    const wt = tempDir('wt-');
    await expect(
      runActivity(acts.runAgent, agentInput(wt, 'while true; do echo tick; sleep 0.2; done', { timeoutMs: 1500 })),
    ).rejects.toMatchObject({
      type: 'AgentTimeout',
      nonRetryable: false,
    });
    const t0 = Date.now();
    await expect(
      runActivity(acts.runAgent, agentInput(wt, 'echo hi; sleep 60', { idleTimeoutMs: 1500 })),
    ).rejects.toMatchObject({
      type: 'AgentStalled',
      message: expect.stringMatching(/no output for 2s \(idleTimeout\)/),
    });
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  test('processes the agent left in the background die with its attempt', async () => {
    const wt = tempDir('wt-');
    await runActivity(acts.runAgent, agentInput(wt, 'sleep 300 & echo $! > bg.pid; echo done'));
    const bg = Number(readFileSync(path.join(wt, 'bg.pid'), 'utf8'));
    await new Promise((r) => setTimeout(r, 200));
    expect(processAlive(bg)).toBe(false);
  });

  test('an agent group left by an earlier attempt (dead worker) is killed before the next starts', async () => {
    const wt = tempDir('wt-');
    const orphan = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
    orphan.unref();
    const runDir = path.join(home, 'runs', 'm', path.basename(wt));
    mkdirSync(runDir, { recursive: true });
    writePidFile(path.join(runDir, 'agent.pid'), orphan.pid!);
    expect(processAlive(orphan.pid!)).toBe(true);
    await runActivity(acts.runAgent, agentInput(wt, 'echo fresh'));
    await new Promise((r) => setTimeout(r, 200));
    expect(processAlive(orphan.pid!)).toBe(false);
  });
});
