/**
 * Merge conflicts resolved by an agent, the activity side: prepareConflict sets the merge up in its
 * own worktree, a resolver runs through the real `runAgent` activity (role `resolver`), and
 * checkResolution decides, without trusting it, whether its work can be committed by
 * commitResolution. Real git repositories, real processes: `command` resolvers (node scripts), and
 * once the real Claude Code CLI against the stub Anthropic API.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { Command } from 'commander';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createActivities } from '../../src/activities';
import type { RunAgentInput, RunAgentResult } from '../../src/activities/agent';
import type {
  CheckResolutionInput,
  CheckResolutionResult,
  CommitResolutionResult,
  PrepareConflictInput,
  PrepareConflictResult,
} from '../../src/git/merge-queue-types';
import { register as registerLogs } from '../../src/client/commands/logs';
import type { AgentSpec } from '../../src/mission/types';
import { names } from '../../src/mission/types';
import { resolverPrompt } from '../../src/workflows/mission/resolver-prompt';
import { git, makeRepo, tempDir } from '../helpers/git';
import {
  AnthropicStub,
  claudeEnv,
  lastToolResults,
  RecordedRequest,
  reply,
  startAnthropicStub,
} from '../helpers/stub-anthropic';

const home = tempDir('flotilla-conflict-home-');
const acts = createActivities({ home, hostQueue: 'q@test' });
const runId = '01900000-aaaa-7bbb-8ccc-dddddddddddd';
const DATE = '2030-01-02T03:04:05.000Z';

const BASE = [
  '# app',
  'import base',
  'one',
  'two',
  'three',
  'config = "base"',
  'four',
  'five',
  'six',
  'footer',
  '',
].join('\n');
// Task "a" (merged first): an import at the top, and the config line.
const A = BASE.replace('import base', 'import base\nimport logging').replace('config = "base"', 'config = "ours"');
// Task "b" (being merged): the same config line, and a line at the bottom.
const B = BASE.replace('config = "base"', 'config = "theirs"').replace('footer', 'footer\nmetrics = enabled');
const RESOLVED = A.replace('config = "ours"', 'config = "ours+theirs"').replace('footer', 'footer\nmetrics = enabled');

interface Scene {
  repo: string;
  missionId: string;
  onto: string;
  branch: string;
  ref: string;
}

/**
 * A repository where task "a" is merged on the candidate (`flotilla: merge a: ...`) and task "b",
 * branched from the same base, conflicts with it on app.txt's config line; b also changes
 * other.txt, which merges cleanly. The candidate ref holds `onto`.
 */
function scene(missionId: string): Scene {
  const repo = makeRepo({ 'app.txt': BASE, 'other.txt': 'other\n', 'notes.txt': 'notes\n', '.gitignore': '.env\n' });
  writeFileSync(path.join(repo, '.env'), 'SECRET=1\n');
  const [ta, tb] = [names.taskBranch(missionId, 'a'), names.taskBranch(missionId, 'b')];
  git(repo, 'checkout', '--quiet', '-b', ta);
  writeFileSync(path.join(repo, 'app.txt'), A);
  git(repo, 'commit', '--quiet', '-am', 'flotilla(a): Task a');
  git(repo, 'checkout', '--quiet', '-b', tb, 'main');
  writeFileSync(path.join(repo, 'app.txt'), B);
  writeFileSync(path.join(repo, 'other.txt'), 'other, changed by b\n');
  git(repo, 'commit', '--quiet', '-am', 'flotilla(b): Task b');
  git(repo, 'checkout', '--quiet', 'main');
  git(repo, 'merge', '--quiet', '--no-ff', '-m', 'flotilla: merge a: Task a', ta);
  const onto = git(repo, 'rev-parse', 'HEAD');
  const ref = `refs/flotilla/candidates/${missionId}`;
  git(repo, 'update-ref', ref, onto);
  return { repo, missionId, onto, branch: tb, ref };
}

const env = (): MockActivityEnvironment => new MockActivityEnvironment();

function prepare(s: Scene, extra: Partial<PrepareConflictInput> = {}): Promise<PrepareConflictResult> {
  return env().run(acts.prepareConflict, {
    missionId: s.missionId,
    runId,
    repo: s.repo,
    taskId: 'b',
    onto: s.onto,
    branch: s.branch,
    setup: [],
    copy: ['.env'],
    setupTimeoutMs: 60_000,
    ...extra,
  });
}

function checkInput(s: Scene, p: PrepareConflictResult): CheckResolutionInput {
  return {
    worktree: p.worktree,
    conflicted: p.conflicted,
    onto: s.onto,
    branchTip: p.branchTip,
    mergeBase: p.mergeBase,
    taskId: 'b',
  };
}

const check = (s: Scene, p: PrepareConflictResult): Promise<CheckResolutionResult> =>
  env().run(acts.checkResolution, checkInput(s, p));

const commit = (s: Scene, p: PrepareConflictResult): Promise<CommitResolutionResult> =>
  env().run(acts.commitResolution, {
    repo: s.repo,
    worktree: p.worktree,
    taskId: 'b',
    title: 'Task b',
    onto: s.onto,
    branchTip: p.branchTip,
    ref: s.ref,
    expected: s.onto,
    date: DATE,
  });

/** A `command` resolver: node running `script` in the conflict worktree (it gets $FLOTILLA_CONFLICTS). */
function nodeAgent(script: string): AgentSpec {
  return {
    runtime: 'command',
    command: ['node', '-e', script],
    args: [],
    env: [],
    timeoutMs: 60_000,
    idleTimeoutMs: 60_000,
    retries: 0,
  };
}

function resolverInput(s: Scene, p: PrepareConflictResult, agent: AgentSpec, feedback?: string[]): RunAgentInput {
  const prompt = resolverPrompt({
    task: { id: 'b', title: 'Task b', prompt: 'Set config to theirs; add metrics.', summary: null, verify: [] },
    others: [{ id: 'a', title: 'Task a', prompt: 'Set config to ours; add logging.', summary: 'Done.' }],
    conflict: p,
    missionVerify: [['node', '--version']],
    feedback,
  });
  return {
    missionId: s.missionId,
    taskId: 'b',
    worktree: p.worktree,
    branch: s.branch,
    baseSha: s.onto,
    agent,
    prompt,
    taskPrompt: prompt,
    iteration: 1,
    role: 'resolver',
    extraEnv: { FLOTILLA_CONFLICTS: p.remaining.join('\n') },
    // Given on purpose: a resolver must never checkpoint, whatever it is passed.
    exclude: ['.env'],
    checkpointEveryMs: 100,
  };
}

const runResolver = (input: RunAgentInput): Promise<RunAgentResult> =>
  env().run(acts.runAgent, input) as Promise<RunAgentResult>;

/** Replaces every diff3 conflict block of each file in $FLOTILLA_CONFLICTS with `config = "ours+theirs"`. */
const GOOD_RESOLVER = `
const fs = require('fs');
for (const f of process.env.FLOTILLA_CONFLICTS.split('\\n').filter(Boolean)) {
  const text = fs.readFileSync(f, 'utf8');
  fs.writeFileSync(f, text.replace(/^<<<<<<< [^\\n]*\\n[\\s\\S]*?^>>>>>>> [^\\n]*\\n/gm, 'config = "ours+theirs"\\n'));
}
console.log('kept ours: the import; theirs: metrics; config combined');
`;

test('a conflict set up, resolved by a command resolver through runAgent, checked, committed and recorded by rerere, the repository config untouched', async () => {
  const s = scene('conflict-ok');
  // The user's repository config: Flotilla turns rerere on for its own commands only (`-c`).
  const config = readFileSync(path.join(s.repo, '.git', 'config'), 'utf8');
  const p = await prepare(s);
  expect(p.worktree).toBe(path.join(home, 'worktrees', s.missionId, runId.replace(/-/g, ''), 'tasks', 'b.conflict'));
  expect(p.conflicted).toEqual(['app.txt']);
  expect(p.remaining).toEqual(['app.txt']);
  expect(p.branchTip).toBe(git(s.repo, 'rev-parse', s.branch));
  expect(p.mergeBase).toBe(git(s.repo, 'merge-base', s.onto, s.branch));
  expect(p.otherTasks).toEqual(['a']);
  expect(p.oursDiff).toContain('+config = "ours"');
  expect(p.oursDiff).toContain('+import logging');
  expect(p.theirsDiff).toContain('+config = "theirs"');
  expect(p.theirsDiff).not.toContain('other.txt'); // only the conflicted files
  expect(p.mergedLog).toContain('flotilla: merge a: Task a');
  // diff3 markers, the merge in progress, the clean file merged, the copy file there.
  const text = readFileSync(path.join(p.worktree, 'app.txt'), 'utf8');
  expect(text).toMatch(
    /^<<<<<<< HEAD\nconfig = "ours"\n\|\|\|\|\|\|\| [^\n]+\nconfig = "base"\n=======\nconfig = "theirs"\n>>>>>>> /m,
  );
  expect(git(p.worktree, 'status', '--porcelain')).toContain('UU app.txt');
  expect(git(p.worktree, 'rev-parse', 'HEAD')).toBe(s.onto);
  expect(readFileSync(path.join(p.worktree, 'other.txt'), 'utf8')).toBe('other, changed by b\n');
  expect(existsSync(path.join(p.worktree, '.env'))).toBe(true);
  expect(readFileSync(path.join(s.repo, '.git', 'config'), 'utf8')).toEqual(config);

  // Unresolved: the markers are the problem.
  const before = await check(s, p);
  expect(before.ok).toBe(false);
  expect(before.problems.join('\n')).toMatch(/app\.txt: conflict markers are left/);

  const run = await runResolver(resolverInput(s, p, nodeAgent(GOOD_RESOLVER)));
  expect(run.exitCode).toBe(0);
  expect(run.transcript).toBe(path.join(home, 'runs', s.missionId, 'b', 'resolver', 'attempt-1.jsonl'));
  expect(run.checkpointSha).toBeNull();
  expect(git(s.repo, 'for-each-ref', `refs/flotilla/checkpoints/${s.missionId}`)).toBe('');
  expect(readFileSync(path.join(p.worktree, 'app.txt'), 'utf8')).toBe(RESOLVED);

  expect(await check(s, p)).toEqual({ ok: true, problems: [] });
  const { sha } = await commit(s, p);
  expect(git(s.repo, 'rev-parse', s.ref)).toBe(sha);
  expect(git(s.repo, 'rev-list', '--parents', '-n', '1', sha).split(' ').slice(1)).toEqual([s.onto, p.branchTip]);
  expect(git(s.repo, 'log', '-1', '--format=%B', sha).trim()).toBe(
    'flotilla: merge b: Task b\n\nConflicts resolved by the resolver agent: app.txt',
  );
  expect(git(s.repo, 'log', '-1', '--format=%aI %cI', sha)).toBe('2030-01-02T03:04:05+00:00 2030-01-02T03:04:05+00:00');
  expect(git(s.repo, 'show', `${sha}:app.txt`) + '\n').toBe(RESOLVED);
  expect(git(s.repo, 'show', `${sha}:other.txt`)).toBe('other, changed by b');
  expect(existsSync(p.worktree)).toBe(false);
  expect(git(s.repo, 'worktree', 'list')).not.toContain('b.conflict');
  // rerere recorded the resolution (a postimage in the shared rr-cache).
  const rr = path.join(s.repo, '.git', 'rr-cache');
  expect(readdirSync(rr).some((id) => existsSync(path.join(rr, id, 'postimage')))).toBe(true);

  // A retry after a crash that came after publishing: the same commit, found on the ref.
  expect(await commit(s, p)).toEqual({ sha });

  // The same merge onto the same base again (a rebuilt batch): rerere replays the resolution.
  git(s.repo, 'update-ref', s.ref, s.onto);
  const again = await prepare(s);
  expect(again.conflicted).toEqual(['app.txt']);
  expect(again.remaining).toEqual([]);
  expect(readFileSync(path.join(again.worktree, 'app.txt'), 'utf8')).toBe(RESOLVED);
  expect(await check(s, again)).toEqual({ ok: true, problems: [] });
  // Committed again with the same date and identity: the very same commit.
  expect(await commit(s, again)).toEqual({ sha });
  // Prepared, resolved, committed, replayed: the repository's config is byte for byte what it was.
  expect(readFileSync(path.join(s.repo, '.git', 'config'), 'utf8')).toEqual(config);

  // `flotilla logs ID TASK --resolver` shows the resolver's transcript.
  const shown = await logs([s.missionId, 'b', '--resolver']);
  expect(shown).toContain('--- resolver attempt 1, iteration 1 (command) ');
  expect(shown).toContain('kept ours: the import; theirs: metrics; config combined');
  expect(shown).toContain('--- exit 0 ---');
  await expect(logs([s.missionId, 'a', '--resolver'])).rejects.toThrow(
    /no resolver transcript for task "a" of mission "conflict-ok"/,
  );
});

test('a resolver that leaves the markers is rejected', async () => {
  const s = scene('conflict-markers');
  const p = await prepare(s);
  await runResolver(resolverInput(s, p, nodeAgent('console.log("I looked at it")')));
  const r = await check(s, p);
  expect(r.ok).toBe(false);
  expect(r.problems).toHaveLength(1);
  expect(r.problems[0]).toBe(
    'app.txt: conflict markers are left at lines 7 (<<<<<<<), 9 (|||||||), 11 (=======), 13 (>>>>>>>); resolve every conflict in it and remove all its markers',
  );
  await env().run(acts.dropConflict, { repo: s.repo, worktree: p.worktree });
  expect(existsSync(p.worktree)).toBe(false);
  // The transcript of the rejected attempt stays.
  expect(existsSync(path.join(home, 'runs', s.missionId, 'b', 'resolver', 'attempt-1.jsonl'))).toBe(true);
  // Dropping again is fine.
  await env().run(acts.dropConflict, { repo: s.repo, worktree: p.worktree });
});

test('a resolver that takes one side of the whole file is rejected, naming the side dropped', async () => {
  const s = scene('conflict-ours');
  const p = await prepare(s);
  const agent: AgentSpec = {
    ...nodeAgent(''),
    command: ['git', 'checkout', '--ours', '--', 'app.txt'],
  };
  await runResolver(resolverInput(s, p, agent));
  expect(readFileSync(path.join(p.worktree, 'app.txt'), 'utf8')).toBe(A);
  const r = await check(s, p);
  expect(r.ok).toBe(false);
  expect(r.problems).toHaveLength(1);
  expect(r.problems[0]).toContain('app.txt: 1 line(s) that the task branch being merged (task "b", MERGE_HEAD');
  expect(r.problems[0]).toContain('"metrics = enabled"');

  // And the other way round: theirs taken whole drops what the candidate added (the import).
  git(p.worktree, 'checkout', '--theirs', '--', 'app.txt');
  const t = await check(s, p);
  expect(t.ok).toBe(false);
  expect(t.problems[0]).toContain('the side already merged (HEAD');
  expect(t.problems[0]).toContain('"import logging"');
});

test('a resolver that changes a file outside the conflicted set, or adds one, is rejected', async () => {
  const s = scene('conflict-outside');
  const p = await prepare(s);
  const script = `${GOOD_RESOLVER}
fs.writeFileSync('notes.txt', 'rewritten\\n');
fs.writeFileSync('extra.txt', 'new\\n');
fs.writeFileSync('.env', 'SECRET=2\\n'); // ignored: not the resolution's business
`;
  await runResolver(resolverInput(s, p, nodeAgent(script)));
  const r = await check(s, p);
  expect(r.ok).toBe(false);
  expect(r.problems).toHaveLength(2);
  expect(r.problems[0]).toMatch(
    /^files outside the conflicted set were changed: notes\.txt\. .*git restore --source=[0-9a-f]{40} --staged --worktree -- <file>/,
  );
  expect(r.problems[1]).toMatch(/^new files outside the conflicted set: extra\.txt\./);

  // The resolver follows the advice: put back, delete; then it passes.
  const tree = /--source=([0-9a-f]{40})/.exec(r.problems[0])![1];
  git(p.worktree, 'restore', `--source=${tree}`, '--staged', '--worktree', '--', 'notes.txt');
  git(p.worktree, 'clean', '--quiet', '-f', '--', 'extra.txt');
  expect(await check(s, p)).toEqual({ ok: true, problems: [] });
  // A commit whose expected value is out of date moves nothing.
  git(s.repo, 'update-ref', s.ref, p.branchTip);
  await expect(commit(s, p)).rejects.toMatchObject({ type: 'CandidateMoved', nonRetryable: true });
  expect(git(s.repo, 'rev-parse', s.ref)).toBe(p.branchTip);
  // The merge commit it made stays in the worktree's HEAD; a later commit (the ref as expected
  // again, like a retry after a crash between commit and publish) reuses it.
  const made = git(p.worktree, 'rev-parse', 'HEAD');
  expect(git(p.worktree, 'rev-list', '--parents', '-n', '1', 'HEAD').split(' ').slice(1)).toEqual([
    s.onto,
    p.branchTip,
  ]);
  git(s.repo, 'update-ref', s.ref, s.onto);
  expect(await commit(s, p)).toEqual({ sha: made });
  expect(git(s.repo, 'rev-parse', s.ref)).toBe(made);
  expect(existsSync(p.worktree)).toBe(false);
});

test('a resolver whose conflict worktree is gone fails without rebuilding anything', async () => {
  const s = scene('conflict-gone');
  const p = await prepare(s);
  await env().run(acts.dropConflict, { repo: s.repo, worktree: p.worktree });
  await expect(runResolver(resolverInput(s, p, nodeAgent(GOOD_RESOLVER)))).rejects.toMatchObject({
    type: 'WorktreeLost',
    nonRetryable: true,
    message: expect.stringContaining('the merge must be prepared again'),
  });
  expect(existsSync(p.worktree)).toBe(false);
  // Nothing outside a conflict worktree is ever dropped.
  await expect(
    env().run(acts.dropConflict, { repo: s.repo, worktree: path.join(path.dirname(p.worktree), 'b') }),
  ).rejects.toMatchObject({ type: 'WorktreeState' });
});

test('prepareConflict rebuilds a conflict worktree left by an earlier attempt, and runs setup there', async () => {
  const s = scene('conflict-rebuild');
  const first = await prepare(s);
  writeFileSync(path.join(first.worktree, 'app.txt'), 'half-done\n');
  writeFileSync(path.join(first.worktree, 'stray.txt'), 'stray\n');
  const again = await prepare(s, { setup: [['node', '-e', "require('fs').writeFileSync('built.txt', 'x')"]] });
  expect(again.worktree).toBe(first.worktree);
  expect(again.remaining).toEqual(['app.txt']);
  expect(readFileSync(path.join(again.worktree, 'app.txt'), 'utf8')).toContain('<<<<<<< HEAD');
  expect(existsSync(path.join(again.worktree, 'stray.txt'))).toBe(false);
  // What setup made (not ignored here) is not the resolver's doing.
  expect(existsSync(path.join(again.worktree, 'built.txt'))).toBe(true);
  await runResolver(resolverInput(s, again, nodeAgent(GOOD_RESOLVER)));
  expect(await check(s, again)).toEqual({ ok: true, problems: [] });
  await env().run(acts.dropConflict, { repo: s.repo, worktree: again.worktree });
});

test('commitResolution after a worker died inside its `git commit`: the locks left in the conflict worktree are removed, the merge committed (a kill the soak can land)', async () => {
  const s = scene('conflict-locks');
  const p = await prepare(s);
  await runResolver(resolverInput(s, p, nodeAgent(GOOD_RESOLVER)));
  expect(await check(s, p)).toEqual({ ok: true, problems: [] });
  const own = path.resolve(p.worktree, git(p.worktree, 'rev-parse', '--git-dir'));
  const locks = [path.join(own, 'index.lock'), path.join(own, 'HEAD.lock')];
  for (const lock of locks) writeFileSync(lock, '');
  const { sha } = await commit(s, p);
  expect(git(s.repo, 'rev-parse', s.ref)).toBe(sha);
  expect(git(s.repo, 'show', `${sha}:app.txt`) + '\n').toBe(RESOLVED);
  expect(existsSync(p.worktree)).toBe(false);
});

/** Runs `flotilla logs …` in-process; resolves with what it printed. */
async function logs(args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  registerLogs(program);
  const out: string[] = [];
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  });
  const saved = process.env.FLOTILLA_HOME;
  process.env.FLOTILLA_HOME = home;
  try {
    await program.parseAsync(['logs', ...args], { from: 'user' });
    return out.join('');
  } finally {
    write.mockRestore();
    process.env.FLOTILLA_HOME = saved;
  }
}

describe('the real Claude Code CLI as resolver', () => {
  let stub: AnthropicStub;
  const saved = { ...process.env };
  let stubEnv: Record<string, string>;
  let worktree = '';
  const requests: RecordedRequest[] = [];

  beforeAll(async () => {
    const turnOf = (req: RecordedRequest): number =>
      req.messages.filter((m) => (m as { role?: string }).role === 'assistant').length;
    stub = await startAnthropicStub((req) => {
      requests.push(req);
      switch (turnOf(req)) {
        case 0:
          return reply.toolUse('Bash', { command: 'printf "%s" "$FLOTILLA_CONFLICTS"', description: 'the files' });
        case 1:
          return reply.toolUse('Read', { file_path: `${worktree}/app.txt` });
        case 2:
          return reply.toolUse('Write', { file_path: `${worktree}/app.txt`, content: RESOLVED });
        default:
          return reply.text('Kept the import from ours, metrics from theirs; combined the config line.');
      }
    });
    stubEnv = claudeEnv(stub, tempDir('claude-home-'));
    Object.assign(process.env, stubEnv);
  });
  afterAll(async () => {
    await stub?.close();
    process.env = saved;
  });

  test('writes a resolution that passes checkResolution', async () => {
    const s = scene('conflict-claude');
    const p = await prepare(s);
    worktree = p.worktree;
    const agent: AgentSpec = {
      runtime: 'claude',
      model: 'claude-sonnet-4-5',
      args: [],
      env: Object.keys(stubEnv).filter((k) => !['PATH', 'HOME', 'TMPDIR', 'LANG'].includes(k)),
      timeoutMs: 120_000,
      idleTimeoutMs: 60_000,
      retries: 0,
    };
    const run = await runResolver(resolverInput(s, p, agent));
    expect(run.exitCode).toBe(0);
    expect(run.summary).toContain('Kept the import from ours');
    // The resolver's contract, not the task's, and the conflicted files in its environment.
    const first = requests[0];
    expect(first.system).toContain('You are resolving a merge in progress');
    expect(first.system).toContain('FLOTILLA_CONFLICTS');
    expect(first.system).not.toContain('your task is');
    const bash = lastToolResults(requests.find((r) => lastToolResults(r).length > 0)!)[0];
    expect(JSON.stringify(bash.content)).toContain('app.txt');
    expect(readFileSync(path.join(p.worktree, 'app.txt'), 'utf8')).toBe(RESOLVED);
    expect(await check(s, p)).toEqual({ ok: true, problems: [] });
    const { sha } = await commit(s, p);
    expect(git(s.repo, 'show', `${sha}:app.txt`) + '\n').toBe(RESOLVED);
  }, 180_000);
});
