/**
 * Bad input, systematically: every case of bad-input-cases.ts through the CLI. Each must exit 2,
 * name the file (for a mission file), the field and the reason on one line with a `fix:` line
 * under it, print no stack trace, start nothing and write nothing to the repository.
 *
 * "Start nothing": TEMPORAL_ADDRESS points at a tripwire, a TCP listener that only counts
 * connections. A CLI that got as far as contacting Temporal (or starting the embedded dev server
 * there, which `run` and `start` do when nothing answers) is caught: the tripwire counts it, and a
 * dev server would leave `server.json` in FLOTILLA_HOME.
 *
 * Most cases call the CLI's entry point in this process (`runCliInProcess`: the same program,
 * parser and mission loader, about 1 s less per case); the cases in SPAWNED run the built CLI as
 * a real `flotilla` process (`npm run build` first), proving the exit code a shell sees and that
 * the process ends by itself. FLOTILLA_TEST_SPAWN_ALL=1 runs every case as a process.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { git, tempDir } from '../helpers/git';
import { CliResult, runCli, runCliInProcess } from '../helpers/cli';
import { ARGUMENT_CASES, Case, chain, FILE_CASES, mission, missionText, repoAt, Workspace } from './bad-input-cases';

const home = tempDir('flotilla-bad-input-home-');
let tripwire: net.Server;
let address = '';
let contacts = 0;

beforeAll(async () => {
  tripwire = net.createServer((socket) => {
    contacts++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => tripwire.listen(0, '127.0.0.1', resolve));
  address = `127.0.0.1:${(tripwire.address() as net.AddressInfo).port}`;
});

afterAll(async () => {
  // A case that started the embedded dev server after all: stop it, the test has failed already.
  for (const h of [home, ...homes])
    if (existsSync(path.join(h, 'server.json'))) await runCli(['server', 'stop'], { env: envFor(h) });
  await new Promise<void>((resolve) => tripwire.close(() => resolve()));
});

/** Cases run as real processes: a file case through all three commands, its own home, arguments. */
const SPAWNED = new Set([
  'a mission too large in total',
  'scaffold holding the folder repositories are made in',
  'an empty file',
  'an unknown flag',
  'an unknown command',
  'list --limit 0',
]);
const spawnAll = process.env.FLOTILLA_TEST_SPAWN_ALL === '1';
const runnerFor = (c: Case): typeof runCli => (spawnAll || SPAWNED.has(c.name) ? runCli : runCliInProcess);

const homes: string[] = [];
const envFor = (flotillaHome: string): NodeJS.ProcessEnv => ({
  TEMPORAL_ADDRESS: address,
  FLOTILLA_HOME: flotillaHome,
  FLOTILLA_TASK_QUEUE: 'flotilla-bad-input',
  FLOTILLA_DEBUG: '', // stack traces only on request: none here
});

function workspace(c: Case): Workspace {
  const root = tempDir('flotilla-bad-input-');
  const missionDir = path.join(root, 'mission');
  mkdirSync(missionDir);
  const ws: Workspace = {
    root,
    app: repoAt(path.join(root, 'app')),
    missionDir,
    file: path.join(missionDir, c.fileName ?? 'mission.yaml'),
    repos: [],
  };
  const text = missionText(c);
  if (text !== undefined) writeFileSync(ws.file, text);
  return ws;
}

/** What a command could change in a repository (or, for a folder that is none, its entries). */
function snapshot(dir: string): Record<string, string> {
  if (!existsSync(dir)) return { missing: dir };
  const entries = readdirSync(dir).sort().join('\n');
  let gitDir: string;
  try {
    gitDir = git(dir, 'rev-parse', '--absolute-git-dir');
  } catch {
    return { entries };
  }
  const bare = git(dir, 'rev-parse', '--is-bare-repository') === 'true';
  return {
    entries,
    gitDirEntries: readdirSync(gitDir).sort().join('\n'),
    config: readFileSync(path.join(gitDir, 'config'), 'utf8'),
    refs: git(dir, 'for-each-ref', '--format=%(refname) %(objectname)'),
    worktrees: git(dir, 'worktree', 'list', '--porcelain'),
    status: bare ? '' : git(dir, 'status', '--porcelain', '--ignored'),
  };
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Runs `args` and checks everything a bad input must (and must not) do. */
async function expectRefused(c: Case, ws: Workspace, args: string[], flotillaHome: string): Promise<CliResult> {
  const watched = [ws.app, ...ws.repos];
  const before = watched.map(snapshot);
  const contactsBefore = contacts;
  const r = await runnerFor(c)(args, { env: envFor(flotillaHome), cwd: ws.root, timeoutMs: 60_000 });
  const what = `${c.name}: flotilla ${args.join(' ').slice(0, 120)}`;
  expect({ what, code: r.code }).toEqual({ what, code: 2 });
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  if (c.field !== undefined) {
    const file = args.find((a) => path.isAbsolute(a)) ?? ws.file;
    expect(r.stderr).toContain(`${file}: invalid mission file`);
    expect(r.stderr).toMatch(new RegExp(`\\n  - ${escape(c.field)}: [^\\n]*?${c.reason.source}`));
    expect(r.stderr).toMatch(new RegExp(`\\n  - ${escape(c.field)}: [^\\n]*\\n    fix: \\S`));
  } else {
    expect(r.stderr).toMatch(c.reason);
    expect(r.stderr).toMatch(/^fix: \S/m);
  }
  // Nothing started, nothing written.
  expect({ what, contacts: contacts - contactsBefore }).toEqual({ what, contacts: 0 });
  expect(r.stdout).not.toMatch(/starting the embedded dev server|started mission/);
  expect(existsSync(path.join(flotillaHome, 'server.json'))).toBe(false);
  expect(watched.map(snapshot)).toEqual(before);
  return r;
}

describe('malformed mission files exit 2 with the file, the field, the reason and a fix; nothing starts or is written', () => {
  test.each(FILE_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const ws = workspace(c);
    const args = c.prepare?.(ws) ?? ['validate', ws.file];
    const flotillaHome = c.home ? path.join(ws.root, c.home) : home;
    if (c.home) homes.push(flotillaHome);
    await expectRefused(c, ws, args, flotillaHome);
    for (const command of c.also ?? []) await expectRefused(c, ws, [command, ...args.slice(1)], flotillaHome);
  });
});

describe('bad CLI arguments exit 2 with the reason and a fix, before anything connects', () => {
  test.each(ARGUMENT_CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const ws = workspace({ ...c, mission: mission() });
    await expectRefused(c, ws, c.prepare!(ws) as string[], home);
  });
});

test('at least 40 cases, and FLOTILLA_HOME is left as it was', () => {
  expect(FILE_CASES.length + ARGUMENT_CASES.length).toBeGreaterThanOrEqual(40);
  // Every name in SPAWNED is a case (a renamed case would silently run in-process only).
  const names = new Set([...FILE_CASES, ...ARGUMENT_CASES].map((c) => c.name));
  expect([...SPAWNED].filter((n) => !names.has(n))).toEqual([]);
  expect(readdirSync(home)).toEqual([]);
});

test('a 1,000-task chain is valid: one wave per task, exit 0, nothing started', async () => {
  const ws = workspace({ name: 'chain', reason: /./, mission: mission({ tasks: chain(1_000) }) });
  const before = snapshot(ws.app);
  const r = await runCliInProcess(['validate', ws.file], { env: envFor(home), cwd: ws.root });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/1000 tasks in 1000 waves/);
  expect(r.stdout).toMatch(/wave 999:\n {4}- t999: t999 \[command\] {2}\(after t998\)\nvalid\n$/);
  expect(snapshot(ws.app)).toEqual(before);
});
