/**
 * The soak's mission and the user's repository it runs on (test equipment, paths baked in):
 *
 * - 40 tasks `t01`…`t40`, each a `command` agent (node, no shell) that writes `out/<id>.txt` and
 *   commits nothing itself. Later tasks depend on earlier ones (seeded); a dependent reads its
 *   dependencies' files (they must be merged before it starts: else it exits 3) and writes a
 *   digest of them, so each file's content is known in advance ({@link expectedContent}).
 *   A few tasks take seconds, most are quick.
 * - `t01` and `t02` set the same line of `shared.txt` from the same base (t01 waits until t02's
 *   agent has started, so both branch off before either merges): a conflict, resolved by a
 *   `command` resolver that keeps both lines (`onMergeConflict: resolve`).
 * - two "target" tasks wait for a go file before finishing, so the driver can delete or fill their
 *   worktree while their agent runs.
 * - `verify`: `check.js`, committed on the base branch, checks every `out/*.txt` (name, its
 *   dependencies present, their digest) and that `shared.txt` has no conflict markers.
 * - `setup` writes an ignored stamp file in every new worktree.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { git } from '../helpers/git';
import { unionResolverLines } from '../faults/harness';

/** A seeded pseudo-random generator (mulberry32): numbers in [0, 1). */
export type Rng = () => number;

export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A whole number in [lo, hi]. */
export const between = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));

export const TASK_COUNT = 40;
/** The line of shared.txt (from 0) both conflicting tasks set. */
export const SHARED_LINE = 4;
export const CONFLICT_PAIR = ['t01', 't02'] as const;

export interface SoakTask {
  id: string;
  deps: string[];
  /** How long the agent works before writing its file, ms. */
  sleepMs: number;
  /** Target of a worktree fault: the agent waits for its go file before finishing. */
  target?: 'delete' | 'fill';
}

export interface SoakPlan {
  tasks: SoakTask[];
  /** Task ids of the worktree faults' targets. */
  deleteTarget: string;
  fillTarget: string;
}

const taskId = (i: number): string => `t${String(i).padStart(2, '0')}`;

/** The seeded task graph: dependencies only on earlier tasks (so no cycle), about 1 in 6 slow. */
export function planTasks(rng: Rng): SoakPlan {
  const tasks: SoakTask[] = [];
  for (let i = 1; i <= TASK_COUNT; i++) {
    const deps = new Set<string>();
    if (i > 3 && rng() < 0.5) for (let k = between(rng, 1, 2); k > 0; k--) deps.add(taskId(between(rng, 1, i - 1)));
    const slow = rng() < 0.17;
    tasks.push({
      id: taskId(i),
      deps: [...deps].sort(),
      sleepMs: slow ? between(rng, 2000, 5000) : between(rng, 0, 300),
    });
  }
  // The conflicting pair: t02 takes a few seconds, so t01 (which waits for t02 to start) merges first.
  tasks[1].sleepMs = 4000;
  const deleteAt = between(rng, 5, 30);
  let fillAt = between(rng, 5, 30);
  while (fillAt === deleteAt) fillAt = between(rng, 5, 30);
  tasks[deleteAt - 1].target = 'delete';
  tasks[fillAt - 1].target = 'fill';
  return { tasks, deleteTarget: taskId(deleteAt), fillTarget: taskId(fillAt) };
}

const digest = (parts: string[]): string => createHash('sha1').update(parts.join('')).digest('hex').slice(0, 12);

/** What `out/<id>.txt` must hold: the task, its dependencies and the digest of their files. */
export function expectedContent(tasks: SoakTask[], id: string, memo = new Map<string, string>()): string {
  const known = memo.get(id);
  if (known !== undefined) return known;
  const t = tasks.find((x) => x.id === id)!;
  const depContents = t.deps.map((d) => expectedContent(tasks, d, memo));
  const content = `${id} deps=${t.deps.join(',') || '-'} digest=${digest(depContents)}\n`;
  memo.set(id, content);
  return content;
}

/** The agent: one node program; its configuration is its one argument (JSON). */
const AGENT = `
const fs = require('fs'), path = require('path'), crypto = require('crypto');
const c = JSON.parse(process.argv[1]);
const startsFile = path.join(c.starts, c.id);
const alive = (pid) => { try { return fs.readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1][0] !== 'Z'; } catch { return false; } };
const earlier = fs.existsSync(startsFile) ? fs.readFileSync(startsFile, 'utf8').split('\\n').filter(Boolean).map((l) => Number(l.split(' ')[0])) : [];
fs.appendFileSync(startsFile, process.pid + ' ' + earlier.filter(alive).length + '\\n');
const depContents = c.deps.map((d) => {
  const f = path.join('out', d + '.txt');
  if (!fs.existsSync(f)) { console.error(c.id + ': dependency ' + d + ' is not in this worktree'); process.exit(3); }
  return fs.readFileSync(f, 'utf8');
});
const waitFor = (file, ms) => new Promise((resolve) => {
  const end = Date.now() + ms;
  const t = setInterval(() => { if (fs.existsSync(file) || Date.now() > end) { clearInterval(t); resolve(); } }, 100);
});
(async () => {
  console.log(c.id + ': started');
  if (c.waitFor) await waitFor(c.waitFor, 120000);
  if (c.go) await waitFor(c.go, 600000);
  await new Promise((r) => setTimeout(r, c.sleepMs));
  const digest = crypto.createHash('sha1').update(depContents.join('')).digest('hex').slice(0, 12);
  fs.mkdirSync('out', { recursive: true });
  fs.writeFileSync(path.join('out', c.id + '.txt'), c.id + ' deps=' + (c.deps.join(',') || '-') + ' digest=' + digest + '\\n');
  if (c.sharedLine !== undefined) {
    const lines = fs.readFileSync('shared.txt', 'utf8').split('\\n');
    lines[c.sharedLine] = c.id + ' was here';
    fs.writeFileSync('shared.txt', lines.join('\\n'));
  }
  console.log(c.id + ': done');
})();
`;

/** The mission verify: checks every output file and shared.txt on the candidate; exit 1 says what is wrong. */
const CHECK = `const fs = require('fs'), crypto = require('crypto');
const problems = [];
const files = fs.existsSync('out') ? fs.readdirSync('out') : [];
const read = (id) => fs.readFileSync('out/' + id + '.txt', 'utf8');
for (const f of files) {
  const m = /^(t\\d\\d) deps=(\\S+) digest=([0-9a-f]{12})\\n$/.exec(fs.readFileSync('out/' + f, 'utf8'));
  if (!m || f !== m[1] + '.txt') { problems.push(f + ': malformed'); continue; }
  const deps = m[2] === '-' ? [] : m[2].split(',');
  const missing = deps.filter((d) => !files.includes(d + '.txt'));
  if (missing.length) { problems.push(f + ': dependencies missing: ' + missing.join(',')); continue; }
  const digest = crypto.createHash('sha1').update(deps.map(read).join('')).digest('hex').slice(0, 12);
  if (digest !== m[3]) problems.push(f + ': digest ' + m[3] + ' but its dependencies give ' + digest);
}
if (/^(<{7}|={7}|>{7})/m.test(fs.readFileSync('shared.txt', 'utf8'))) problems.push('shared.txt: conflict markers');
if (problems.length) { console.error(problems.join('\\n')); process.exit(1); }
console.log('check: ' + files.length + ' output files ok');
`;

export const SHARED_TEXT = `${Array.from({ length: 10 }, (_, i) => `line ${i + 1}`).join('\n')}\n`;

/** What the user's repository and checkout hold before the mission (see {@link makeUserRepo}). */
export const USER = {
  branch: 'feature',
  otherBranch: 'release',
  editedFile: 'README.md',
  edited: '# soak\n\nmy edit, not committed\n',
  untrackedFile: 'notes.txt',
  untracked: 'my notes, untracked\n',
};

/**
 * The user's repository in `dir`: `main` (the mission's base) with the project files, `release`
 * (a branch of theirs), and their checkout on `feature` (a commit of theirs) with an uncommitted
 * edit to README.md and an untracked notes.txt, and a setting of theirs in its config.
 */
export function makeUserRepo(dir: string): string {
  mkdirSync(dir, { recursive: true });
  git(dir, 'init', '--quiet', '--initial-branch', 'main');
  git(dir, 'config', 'user.name', 'Soak User');
  git(dir, 'config', 'user.email', 'user@example.com');
  git(dir, 'config', 'soak.mine', 'kept');
  const files: Record<string, string> = {
    'README.md': '# soak\n',
    'shared.txt': SHARED_TEXT,
    'check.js': CHECK,
    '.gitignore': '.soak-setup/\n',
  };
  for (const [rel, content] of Object.entries(files)) writeFileSync(path.join(dir, rel), content);
  git(dir, 'add', '--all');
  git(dir, 'commit', '--quiet', '-m', 'the project');
  git(dir, 'branch', USER.otherBranch);
  git(dir, 'checkout', '--quiet', '-b', USER.branch);
  writeFileSync(path.join(dir, 'feature.txt'), 'a feature of mine\n');
  git(dir, 'add', 'feature.txt');
  git(dir, 'commit', '--quiet', '-m', 'my feature');
  writeFileSync(path.join(dir, USER.editedFile), USER.edited);
  writeFileSync(path.join(dir, USER.untrackedFile), USER.untracked);
  return dir;
}

/** Where the driver and the agents meet: start records and go files. */
export interface Meeting {
  /**
   * `<starts>/<task>`: one line per agent start, its pid and how many earlier starts were still
   * alive then (the format of `faultAgentArgv`, read by the harness's `agentStarts`).
   */
  starts: string;
  /** `<gos>/<task>`: the go file a target task waits for. */
  gos: string;
}

/** Writes the mission file (JSON) for `plan` on `repo`; returns its path. */
export function writeMissionFile(file: string, id: string, repo: string, plan: SoakPlan, meet: Meeting): string {
  const agentArgv = (t: SoakTask): string[] => {
    const c: Record<string, unknown> = { id: t.id, deps: t.deps, sleepMs: t.sleepMs, starts: meet.starts };
    if (t.target) c.go = path.join(meet.gos, t.id);
    if (t.id === CONFLICT_PAIR[0]) c.waitFor = path.join(meet.starts, CONFLICT_PAIR[1]);
    if ((CONFLICT_PAIR as readonly string[]).includes(t.id)) c.sharedLine = SHARED_LINE;
    return [process.execPath, '-e', AGENT, JSON.stringify(c)];
  };
  const mission = {
    id,
    repo,
    base: 'main',
    concurrency: 4,
    checkpointEvery: '3s',
    agent: { runtime: 'command', retries: 10, timeout: '10m', idleTimeout: '5m' },
    setup: [
      [
        process.execPath,
        '-e',
        "require('fs').mkdirSync('.soak-setup', { recursive: true }); require('fs').writeFileSync('.soak-setup/stamp', 'set up\\n')",
      ],
    ],
    verify: [[process.execPath, 'check.js']],
    policy: { onTaskFailure: 'skip-dependents', onMergeConflict: 'resolve', onVerifyFailure: 'fail' },
    resolver: { runtime: 'command', command: ['bash', '-c', unionResolverLines('shared.txt').join('\n')], retries: 10 },
    tasks: plan.tasks.map((t) => ({
      id: t.id,
      title: `Write out/${t.id}.txt`,
      prompt: `write out/${t.id}.txt`,
      ...(t.deps.length ? { dependsOn: t.deps } : {}),
      agent: { command: agentArgv(t) },
    })),
  };
  writeFileSync(file, JSON.stringify(mission, null, 2));
  return file;
}
