/**
 * The table of bad input for test/e2e/bad-input.test.ts: malformed mission files (every field's
 * wrong type, unknown fields, duplicate keys and ids, cycles, sizes, paths that escape, broken
 * repositories, files that are no mission file) and CLI arguments. Each case is a mission file in
 * `<root>/mission/` whose `repo: ../app` is a fresh repository next to it, plus what the case adds.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { git } from '../helpers/git';

/** Where a case runs: `root/app` (a repository with one commit), `root/mission` (the mission file's folder). */
export interface Workspace {
  root: string;
  app: string;
  missionDir: string;
  file: string;
  /** Repositories (besides `app`) the case made: nothing may be written to them either. */
  repos: string[];
}

export interface Case {
  name: string;
  /** The mission file: a value (written as YAML, or JSON when `file` ends in .json), or raw text. */
  mission?: unknown;
  /** The mission file's name in `root/mission` (default mission.yaml). */
  fileName?: string;
  /** Makes what the case needs besides the mission file; returns the CLI arguments (default `validate FILE`). */
  prepare?: (ws: Workspace) => string[] | void;
  /** The field path printed (`(file)` for the file itself); absent for CLI argument cases. */
  field?: string;
  /** The reason, on the field's line (or anywhere in stderr for CLI argument cases). */
  reason: RegExp;
  /** Also these commands on the same file (they must refuse before any server or worker starts). */
  also?: Array<'start' | 'run'>;
  /** FLOTILLA_HOME for this case, relative to root (default: the suite's own). */
  home?: string;
}

const agent = { runtime: 'command', command: ['bash', '-c', 'true'] };

/** A valid mission with `patch` applied on top (a field set to `undefined` is removed). */
export function mission(patch: Record<string, unknown> = {}): Record<string, unknown> {
  const m: Record<string, unknown> = { id: 'demo', repo: '../app', agent, tasks: [{ id: 'a', prompt: 'do a' }] };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete m[k];
    else m[k] = v;
  }
  return m;
}

/** A valid mission whose first task has `patch` applied. */
const task = (patch: Record<string, unknown>): Record<string, unknown> => {
  const t: Record<string, unknown> = { id: 'a', prompt: 'do a' };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete t[k];
    else t[k] = v;
  }
  return mission({ tasks: [t] });
};

const withAgent = (patch: Record<string, unknown>) => mission({ agent: { ...agent, ...patch } });

/**
 * `size` tasks in one chain: each depends on the one before it, or with `backwards` on the one
 * after it (`t0` runs last), so that a search from the first task goes `size` steps deep.
 */
export function chain(size: number, backwards = false): Array<Record<string, unknown>> {
  return Array.from({ length: size }, (_, i) => {
    const dep = backwards ? i + 1 : i - 1;
    return { id: `t${i}`, prompt: `step ${i}`, ...(dep >= 0 && dep < size ? { dependsOn: [`t${dep}`] } : {}) };
  });
}

/** Writes `files` (path relative to `dir` -> content) and returns `dir`. */
function write(dir: string, files: Record<string, string | Buffer>): string {
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), content);
  }
  return dir;
}

/** A repository at `dir` with one commit on main. */
export function repoAt(dir: string): string {
  mkdirSync(dir, { recursive: true });
  git(dir, 'init', '--quiet', '--initial-branch', 'main');
  write(dir, { 'README.md': '# app\n' });
  git(dir, 'add', '--all');
  git(dir, 'commit', '--quiet', '-m', 'initial');
  return dir;
}

/** Makes `app` something else: replaces the repository the mission points at. */
const replaceApp = (ws: Workspace, make: (dir: string) => void): void => {
  execFileSync('rm', ['-rf', ws.app]);
  make(ws.app);
};

const bigPrompt = 'x'.repeat(63_000);

export const FILE_CASES: Case[] = [
  // Every top-level field with a value of the wrong type.
  { name: 'id: a number', mission: mission({ id: 5 }), field: 'id', reason: /must be an id/ },
  {
    name: 'repo: a number',
    mission: mission({ repo: 5 }),
    field: 'repo',
    reason: /must be a path to a git repository/,
  },
  { name: 'origin: a list', mission: mission({ origin: ['x'] }), field: 'origin', reason: /must be a git URL or path/ },
  {
    name: 'scaffold: a number',
    mission: mission({ scaffold: 5 }),
    field: 'scaffold',
    reason: /must be a path to a folder/,
  },
  { name: 'base: a number', mission: mission({ base: 5 }), field: 'base', reason: /must be a branch name/ },
  {
    name: 'concurrency: text',
    mission: mission({ concurrency: 'many' }),
    field: 'concurrency',
    reason: /whole number from 1 to 64/,
  },
  {
    name: 'concurrency: 0',
    mission: mission({ concurrency: 0 }),
    field: 'concurrency',
    reason: /whole number from 1 to 64/,
    also: ['start'],
  },
  {
    name: 'concurrency: 2.5',
    mission: mission({ concurrency: 2.5 }),
    field: 'concurrency',
    reason: /whole number from 1 to 64/,
  },
  {
    name: 'agent: a number',
    mission: mission({ agent: 5 }),
    field: 'agent',
    reason: /must be a mapping \(fields: runtime, model/,
  },
  {
    name: 'setup: text',
    mission: mission({ setup: 'npm install' }),
    field: 'setup',
    reason: /must be a list of commands/,
  },
  { name: 'copy: text', mission: mission({ copy: '.env' }), field: 'copy', reason: /must be a list of strings/ },
  { name: 'verify: a number', mission: mission({ verify: 5 }), field: 'verify', reason: /must be a list of commands/ },
  {
    name: 'policy: text',
    mission: mission({ policy: 'strict' }),
    field: 'policy',
    reason: /must be a mapping \(fields: onTaskFailure/,
  },
  { name: 'resolver: a list', mission: mission({ resolver: [] }), field: 'resolver', reason: /must be a mapping/ },
  { name: 'land: yes', mission: mission({ land: 'yes' }), field: 'land', reason: /must be one of: ff, push, pr, none/ },
  {
    name: 'keepWorktrees: "yes"',
    mission: mission({ keepWorktrees: 'yes' }),
    field: 'keepWorktrees',
    reason: /must be true or false/,
  },
  {
    name: 'budget: a number',
    mission: mission({ budget: 10 }),
    field: 'budget',
    reason: /must be a mapping \(fields: usd\)/,
  },
  {
    name: 'checkpointEvery: a number',
    mission: mission({ checkpointEvery: 5 }),
    field: 'checkpointEvery',
    reason: /must be a duration/,
  },
  {
    name: 'hostLostAfter: soon',
    mission: mission({ hostLostAfter: 'soon' }),
    field: 'hostLostAfter',
    reason: /must be a duration/,
  },
  {
    name: 'tasks: text',
    mission: mission({ tasks: 'a' }),
    field: 'tasks',
    reason: /must be a list of tasks/,
    also: ['run'],
  },
  { name: 'tasks: empty', mission: mission({ tasks: [] }), field: 'tasks', reason: /at least one task/ },
  // Agent fields.
  {
    name: 'agent.runtime: gpt',
    mission: withAgent({ runtime: 'gpt' }),
    field: 'agent.runtime',
    reason: /must be one of: claude, codex, command/,
  },
  {
    name: 'agent.model: a number',
    mission: withAgent({ model: 5 }),
    field: 'agent.model',
    reason: /must be a model name/,
  },
  {
    name: 'agent.args: text',
    mission: withAgent({ args: '--fast' }),
    field: 'agent.args',
    reason: /must be a list of strings/,
  },
  {
    name: 'agent.command: text',
    mission: withAgent({ command: 'bash -c true' }),
    field: 'agent.command',
    reason: /must be an argv/,
  },
  {
    name: 'agent.env: text',
    mission: withAgent({ env: 'API_KEY' }),
    field: 'agent.env',
    reason: /list of environment variable names/,
  },
  {
    name: 'agent.env: a value',
    mission: withAgent({ env: ['KEY=secret'] }),
    field: 'agent.env[0]',
    reason: /NAME of an environment variable/,
  },
  {
    name: 'agent.timeout: a number',
    mission: withAgent({ timeout: 5 }),
    field: 'agent.timeout',
    reason: /must be a duration/,
  },
  {
    name: 'agent.idleTimeout: never',
    mission: withAgent({ idleTimeout: 'never' }),
    field: 'agent.idleTimeout',
    reason: /must be a duration/,
  },
  {
    name: 'agent.retries: text',
    mission: withAgent({ retries: 'x' }),
    field: 'agent.retries',
    reason: /whole number from 0 to 100/,
  },
  {
    name: 'runtime command without command',
    mission: mission({ agent: { runtime: 'command' } }),
    field: 'agent.command',
    reason: /needs a command/,
  },
  // Task fields.
  { name: 'task id: a number', mission: task({ id: 5 }), field: 'tasks[0].id', reason: /must be an id/ },
  { name: 'task title: a number', mission: task({ title: 5 }), field: 'tasks[0].title', reason: /must be a title/ },
  {
    name: 'task prompt: a number',
    mission: task({ prompt: 5 }),
    field: 'tasks[0].prompt',
    reason: /must be the prompt/,
  },
  { name: 'task prompt: empty', mission: task({ prompt: '' }), field: 'tasks[0].prompt', reason: /must not be empty/ },
  {
    name: 'task promptFile: a number',
    mission: task({ prompt: undefined, promptFile: 5 }),
    field: 'tasks[0].promptFile',
    reason: /must be a path/,
  },
  {
    name: 'task dependsOn: text',
    mission: task({ dependsOn: 'b' }),
    field: 'tasks[0].dependsOn',
    reason: /must be a list of task ids/,
  },
  {
    name: 'task verify: text',
    mission: task({ verify: 'npm test' }),
    field: 'tasks[0].verify',
    reason: /must be a list of commands/,
  },
  {
    name: 'task maxIterations: 0',
    mission: task({ maxIterations: 0 }),
    field: 'tasks[0].maxIterations',
    reason: /whole number from 1 to 50/,
  },
  {
    name: 'task agent: text',
    mission: task({ agent: 'codex' }),
    field: 'tasks[0].agent',
    reason: /must be a mapping \(fields: runtime/,
  },
  {
    name: 'task checkpointEvery: "5"',
    mission: task({ checkpointEvery: '5' }),
    field: 'tasks[0].checkpointEvery',
    reason: /must be a duration/,
  },
  {
    name: 'task touches: text',
    mission: task({ touches: 'src' }),
    field: 'tasks[0].touches',
    reason: /must be a list of path globs/,
  },
  {
    name: 'a task that is text',
    mission: mission({ tasks: ['a'] }),
    field: 'tasks[0]',
    reason: /must be a mapping \(fields: id, title, prompt/,
  },
  {
    name: 'a task without a prompt',
    mission: task({ prompt: undefined }),
    field: 'tasks[0].prompt',
    reason: /is required/,
  },
  { name: 'a task without an id', mission: task({ id: undefined }), field: 'tasks[0].id', reason: /is required/ },
  // Policy values and the budget.
  {
    name: 'policy.onTaskFailure: ignore',
    mission: mission({ policy: { onTaskFailure: 'ignore' } }),
    field: 'policy.onTaskFailure',
    reason: /must be one of: skip-dependents, stop-wave, stop-all/,
  },
  {
    name: 'policy.onMergeConflict: a number',
    mission: mission({ policy: { onMergeConflict: 5 } }),
    field: 'policy.onMergeConflict',
    reason: /must be one of: pause, resolve, fail/,
  },
  {
    name: 'policy.onVerifyFailure: retry',
    mission: mission({ policy: { onVerifyFailure: 'retry' } }),
    field: 'policy.onVerifyFailure',
    reason: /must be one of: fix, revert, pause, fail/,
  },
  {
    name: 'budget.usd: text',
    mission: mission({ budget: { usd: 'ten' } }),
    field: 'budget.usd',
    reason: /number of US dollars/,
  },
  {
    name: 'budget.usd: negative',
    mission: mission({ budget: { usd: -1 } }),
    field: 'budget.usd',
    reason: /number of US dollars above 0/,
  },
  // Unknown fields, with the field probably meant.
  {
    name: 'an unknown top-level field',
    mission: mission({ colour: 'blue' }),
    field: 'colour',
    reason: /unknown field/,
  },
  {
    name: 'a misspelt top-level field',
    mission: mission({ concurency: 2 }),
    field: 'concurency',
    reason: /unknown field[^\n]*\n\s+fix: did you mean `concurrency`/,
  },
  {
    name: 'an unknown agent field',
    mission: withAgent({ timout: '5m' }),
    field: 'agent.timout',
    reason: /unknown field[^\n]*\n\s+fix: did you mean `timeout`/,
  },
  {
    name: 'an unknown task field',
    mission: task({ depends_on: ['b'] }),
    field: 'tasks[0].depends_on',
    reason: /unknown field[^\n]*\n\s+fix: did you mean `dependsOn`/,
  },
  {
    name: 'an unknown policy field',
    mission: mission({ policy: { onFailure: 'stop-all' } }),
    field: 'policy.onFailure',
    reason: /unknown field/,
  },
  {
    name: 'an unknown budget field',
    mission: mission({ budget: { eur: 5 } }),
    field: 'budget.eur',
    reason: /unknown field/,
  },
  // Keys given twice.
  {
    name: 'a duplicate top-level key',
    mission:
      'id: demo\nrepo: ../app\nid: other\ntasks: [{ id: a, prompt: p, agent: { runtime: command, command: [x] } }]\n',
    field: 'id',
    reason: /duplicate key: Map keys must be unique at line 3/,
  },
  {
    name: 'a duplicate key in a task',
    mission:
      'id: demo\nrepo: ../app\nagent: { runtime: command, command: [x] }\ntasks:\n  - id: a\n    prompt: one\n    prompt: two\n',
    field: 'tasks[0].prompt',
    reason: /duplicate key/,
    also: ['start'],
  },
  {
    name: 'a duplicate key in JSON',
    fileName: 'mission.json',
    mission:
      '{"id": "demo", "repo": "../app", "agent": {"runtime": "command", "command": ["x"]}, "tasks": [{"id": "a", "prompt": "p", "id": "b"}]}',
    field: 'tasks[0].id',
    reason: /duplicate key/,
  },
  // Ids.
  {
    name: 'duplicate task ids',
    mission: mission({
      tasks: [
        { id: 'a', prompt: 'p' },
        { id: 'a', prompt: 'q' },
      ],
    }),
    field: 'tasks[1].id',
    reason: /duplicate task id "a" \(also tasks\[0\]\.id\)/,
    also: ['run'],
  },
  { name: 'a bad mission id', mission: mission({ id: 'My_Mission' }), field: 'id', reason: /must be an id/ },
  { name: 'a bad task id', mission: task({ id: 'Task 1' }), field: 'tasks[0].id', reason: /must be an id/ },
  {
    name: 'a bad --id',
    mission: mission(),
    prepare: (ws) => ['validate', ws.file, '--id', 'Bad_Id'],
    field: '--id',
    reason: /"Bad_Id" is not a valid mission id[^\n]*\n\s+fix:[^\n]*--id my-mission/,
  },
  {
    name: 'a bad --id on run',
    mission: mission(),
    prepare: (ws) => ['run', ws.file, '--id', 'x'.repeat(64)],
    field: '--id',
    reason: /is not a valid mission id/,
  },
  // Dependencies.
  {
    name: 'an unknown dependency',
    mission: task({ dependsOn: ['ghost'] }),
    field: 'tasks[0].dependsOn[0]',
    reason: /unknown task "ghost"[^\n]*\n\s+fix: use one of the task ids: a/,
    also: ['start'],
  },
  {
    name: 'a self-dependency',
    mission: task({ dependsOn: ['a'] }),
    field: 'tasks[0].dependsOn[0]',
    reason: /task "a" depends on itself/,
  },
  {
    name: 'a cycle of two',
    mission: mission({
      tasks: [
        { id: 'a', prompt: 'p', dependsOn: ['b'] },
        { id: 'b', prompt: 'p', dependsOn: ['a'] },
      ],
    }),
    field: 'tasks[0].dependsOn',
    reason: /dependency cycle: a -> b -> a/,
  },
  {
    name: 'a cycle through three tasks',
    mission: mission({
      tasks: [
        { id: 'a', prompt: 'p', dependsOn: ['c'] },
        { id: 'b', prompt: 'p', dependsOn: ['a'] },
        { id: 'c', prompt: 'p', dependsOn: ['b'] },
      ],
    }),
    field: 'tasks[0].dependsOn',
    reason: /dependency cycle: a -> c -> b -> a/,
    also: ['run'],
  },
  {
    // Listed backwards: the search meets the cycle 10,000 tasks deep (a recursive one overflowed).
    name: 'a 10,000-task chain with a cycle at its end',
    mission: mission({
      tasks: chain(10_000, true).map((t, i) => (i === 9_999 ? { ...t, dependsOn: ['t9997'] } : t)),
    }),
    field: 'tasks[9997].dependsOn',
    reason: /dependency cycle: t9997 -> t9998 -> t9999 -> t9997/,
  },
  {
    // Valid as a graph; too large for one Temporal payload with the state of 10,000 tasks.
    name: 'a 10,000-task chain',
    mission: mission({ tasks: chain(10_000, true) }),
    field: 'tasks',
    reason: /too large for Temporal: its start input is 2\.\d+ MiB \(10000 tasks[^\n]*\n\s+fix: split the mission/,
    also: ['start'],
  },
  // Sizes.
  {
    name: 'a prompt over 64 KiB',
    mission: task({ prompt: 'x'.repeat(70_000) }),
    field: 'tasks[0].prompt',
    reason: /the prompt is 68 KiB; at most 64 KiB/,
  },
  {
    name: 'a promptFile over 64 KiB',
    mission: task({ prompt: undefined, promptFile: 'big.md' }),
    prepare: (ws) => void write(ws.missionDir, { 'big.md': 'x'.repeat(70_000) }),
    field: 'tasks[0].promptFile',
    reason: /at most 64 KiB/,
  },
  {
    name: 'a mission too large in total',
    mission: mission({ tasks: Array.from({ length: 35 }, (_, i) => ({ id: `t${i}`, prompt: bigPrompt })) }),
    field: 'tasks',
    reason:
      /too large for Temporal: its start input is 2\.\d+ MiB \(35 tasks, prompts 2\.\d+ MiB\)[^\n]*limit\.blobSize\.error[^\n]*\n\s+fix: split the mission[^\n]*shorten the prompts[^\n]*promptFile does not help/,
    also: ['start', 'run'],
  },
  // promptFile, copy, scaffold: paths that escape or do not exist.
  {
    name: 'promptFile escaping the folder',
    mission: task({ prompt: undefined, promptFile: '../../etc/passwd' }),
    field: 'tasks[0].promptFile',
    reason: /is outside the mission's folder/,
    also: ['run'],
  },
  {
    name: 'promptFile missing',
    mission: task({ prompt: undefined, promptFile: 'prompts/a.md' }),
    field: 'tasks[0].promptFile',
    reason: /file not found/,
  },
  {
    name: 'promptFile a folder',
    mission: task({ prompt: undefined, promptFile: 'prompts' }),
    prepare: (ws) => void mkdirSync(path.join(ws.missionDir, 'prompts')),
    field: 'tasks[0].promptFile',
    reason: /not a file/,
  },
  {
    name: 'promptFile a symbolic link out of the folder',
    mission: task({ prompt: undefined, promptFile: 'a.md' }),
    prepare: (ws) => void symlinkSync('/etc/hostname', path.join(ws.missionDir, 'a.md')),
    field: 'tasks[0].promptFile',
    reason: /outside the mission's folder[^\n]*symbolic link/,
  },
  {
    name: 'promptFile not text',
    mission: task({ prompt: undefined, promptFile: 'a.md' }),
    prepare: (ws) => void write(ws.missionDir, { 'a.md': Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 1]) }),
    field: 'tasks[0].promptFile',
    reason: /not a text file/,
  },
  {
    name: 'copy escaping the repository',
    mission: mission({ copy: ['../secret.env'] }),
    field: 'copy[0]',
    reason: /not a path inside the repository/,
  },
  {
    name: 'copy an absolute path',
    mission: mission({ copy: ['/etc/passwd'] }),
    field: 'copy[0]',
    reason: /not a path inside the repository/,
  },
  {
    name: 'copy into .git',
    mission: mission({ copy: ['.git/config'] }),
    field: 'copy[0]',
    reason: /not a path inside the repository \(outside \.git\)/,
  },
  {
    name: 'copy a missing file',
    mission: mission({ copy: ['.env'] }),
    field: 'copy[0]',
    reason: /\.env does not exist in/,
    also: ['start'],
  },
  {
    name: 'copy a folder',
    mission: mission({ copy: ['config'] }),
    prepare: (ws) => void write(ws.app, { 'config/local.json': '{}' }),
    field: 'copy[0]',
    reason: /not a file \(copy takes files, not folders\)/,
  },
  {
    name: 'copy a symbolic link out of the repository',
    mission: mission({ copy: ['.env'] }),
    prepare: (ws) => void symlinkSync('/etc/hostname', path.join(ws.app, '.env')),
    field: 'copy[0]',
    reason: /symbolic link that leads out of the repository/,
  },
  {
    name: 'scaffold missing',
    mission: mission({ repo: undefined, scaffold: './template' }),
    field: 'scaffold',
    reason: /not a directory/,
    also: ['run'],
  },
  {
    name: 'scaffold a file',
    mission: mission({ repo: undefined, scaffold: './template' }),
    prepare: (ws) => void write(ws.missionDir, { template: 'not a folder' }),
    field: 'scaffold',
    reason: /not a directory/,
  },
  {
    name: 'scaffold holding the folder repositories are made in',
    mission: mission({ repo: undefined, scaffold: '..' }),
    home: 'home',
    field: 'scaffold',
    reason: /holds [^\n]*home\/repos, where the repository is made from it/,
    also: ['start'],
  },
  // The repository.
  {
    name: 'repo missing',
    mission: mission({ repo: '../nowhere' }),
    field: 'repo',
    reason: /not a directory: [^\n]*nowhere/,
    also: ['run'],
  },
  {
    name: 'repo a file',
    mission: mission({ repo: '../app.txt' }),
    prepare: (ws) => void write(ws.root, { 'app.txt': 'x' }),
    field: 'repo',
    reason: /not a directory/,
  },
  {
    name: 'repo not a git repository',
    mission: mission(),
    prepare: (ws) => replaceApp(ws, (d) => write(d, { 'a.txt': 'x' })),
    field: 'repo',
    reason: /not a git repository/,
  },
  {
    name: 'a bare repository',
    mission: mission(),
    prepare: (ws) => replaceApp(ws, (d) => void git(ws.root, 'init', '--quiet', '--bare', d)),
    field: 'repo',
    reason: /is a bare repository[^\n]*\n\s+fix: point repo at a clone/,
    also: ['start'],
  },
  {
    name: 'repo the .git folder',
    mission: mission({ repo: '../app/.git' }),
    field: 'repo',
    reason: /is inside a \.git folder/,
  },
  {
    name: 'an empty repository (no commits)',
    mission: mission(),
    prepare: (ws) => replaceApp(ws, (d) => void git(ws.root, 'init', '--quiet', d)),
    field: 'repo',
    reason: /the repository has no commits/,
    also: ['run'],
  },
  {
    name: 'a detached HEAD and no base',
    mission: mission(),
    prepare: (ws) => void git(ws.app, 'checkout', '--quiet', '--detach'),
    field: 'base',
    reason: /is on a detached HEAD[^\n]*\n\s+fix: set `base:`/,
    also: ['start'],
  },
  {
    name: 'a base branch that does not exist',
    mission: mission({ base: 'release' }),
    field: 'base',
    reason: /unknown branch "release"[^\n]*\n\s+fix: use an existing local branch \(main\)/,
    also: ['run'],
  },
  {
    name: 'repo and origin together',
    mission: mission({ origin: '../shared.git' }),
    field: 'repo',
    reason: /repo and origin exclude each other/,
  },
  // Files that are no mission file.
  {
    name: 'a file that is not YAML',
    mission: 'id: demo\ntasks: [\n  - a: b: c\n',
    field: '(file)',
    reason: /not valid YAML: [^\n]*line \d+, column \d+/,
  },
  {
    name: 'a Markdown file',
    fileName: 'README.md',
    mission: '# My mission\n\nDo things.\n',
    field: '(file)',
    reason: /must be a mapping \(id:, tasks:, \.\.\.\); it is a string/,
  },
  { name: 'an empty file', mission: '', field: '(file)', reason: /is empty/, also: ['start'] },
  {
    name: 'a file of comments only',
    mission: '# nothing yet\n',
    field: '(file)',
    reason: /must be a mapping[^\n]*it is empty \(comments only\)/,
  },
  { name: 'a directory', prepare: (ws) => ['validate', ws.missionDir], field: '(file)', reason: /is a directory/ },
  {
    name: 'a missing file',
    prepare: (ws) => ['validate', path.join(ws.missionDir, 'nope.yaml')],
    field: '(file)',
    reason: /file not found/,
    also: ['run'],
  },
  {
    name: 'a JSON syntax error',
    fileName: 'mission.json',
    mission: '{"id": "demo", "tasks": [}',
    field: '(file)',
    reason: /not valid JSON/,
  },
  {
    name: 'a JSON list',
    fileName: 'mission.json',
    mission: [{ id: 'a', prompt: 'p' }],
    field: '(file)',
    reason: /must be a mapping[^\n]*it is a list/,
  },
  {
    name: 'a binary file',
    prepare: (ws) => {
      write(ws.missionDir, { 'mission.yaml': Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]) });
      return ['validate', ws.file];
    },
    field: '(file)',
    reason: /is not a text file/,
  },
];

/** CLI arguments: usage mistakes that commander or the command catches before connecting. */
export const ARGUMENT_CASES: Case[] = [
  {
    name: 'an unknown flag',
    prepare: (ws) => ['validate', ws.file, '--bogus'],
    reason: /unknown option '--bogus'\nfix: usage: flotilla validate \[options\] <file>/,
  },
  { name: 'a missing argument', prepare: () => ['validate'], reason: /missing required argument 'file'\nfix: usage:/ },
  {
    name: 'an unknown command',
    prepare: () => ['bogus'],
    reason: /unknown command 'bogus'[\s\S]*fix: usage: flotilla/,
  },
  {
    name: 'a missing message',
    prepare: () => ['steer', 'demo', 'a'],
    reason: /missing required argument 'message'\nfix: usage: flotilla steer/,
  },
  {
    name: 'worker --concurrency 0',
    prepare: () => ['worker', '--concurrency', '0'],
    reason: /'--concurrency <n>' argument '0' is invalid[^\n]*at least 1\nfix: usage: flotilla worker/,
  },
  { name: 'worker --agents many', prepare: () => ['worker', '--agents', 'many'], reason: /argument 'many' is invalid/ },
  {
    name: 'worker --drain-timeout soon',
    prepare: () => ['worker', '--drain-timeout', 'soon'],
    reason: /must be a duration/,
  },
  {
    name: 'worker --metrics nonsense',
    prepare: () => ['worker', '--metrics', 'no port'],
    reason: /'--metrics <host:port>' argument 'no port' is invalid/,
  },
  {
    name: 'list --limit 0',
    prepare: () => ['list', '--limit', '0'],
    reason: /--limit must be a whole number of at least 1, not "0"\nfix:/,
  },
  {
    name: 'list --phase bogus',
    prepare: () => ['list', '--phase', 'bogus'],
    reason: /unknown phase "bogus"\nfix: use one of: planning, running/,
  },
  {
    name: 'land --ff --push',
    prepare: () => ['land', 'demo', '--ff', '--push', 'origin'],
    reason: /--ff and --push exclude each other[^\n]*\nfix:/,
  },
  {
    name: 'land --pr without --push',
    prepare: () => ['land', 'demo', '--pr'],
    reason: /--pr needs a remote[^\n]*\nfix: add --push REMOTE/,
  },
  {
    name: 'a mission id that cannot be one',
    prepare: () => ['status', 'Bad_Id'],
    reason: /"Bad_Id" is not a mission id[^\n]*\nfix:/,
  },
  {
    name: 'a task id that cannot be one',
    prepare: () => ['retry', 'demo', 'Bad task'],
    reason: /"Bad task" is not a task id[^\n]*\nfix:/,
  },
];

/** The mission file's text for `c`. */
export function missionText(c: Case): string | undefined {
  if (c.mission === undefined) return undefined;
  if (typeof c.mission === 'string') return c.mission;
  return (c.fileName ?? 'mission.yaml').endsWith('.json')
    ? JSON.stringify(c.mission)
    : YAML.stringify(c.mission, { lineWidth: 0 });
}
