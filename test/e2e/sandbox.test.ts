/**
 * `agent.sandbox` as a user meets it with the CLI: `validate` shows the sandbox of each task and of
 * the resolver; `validate`, `run` and `start` refuse (exit 2, nothing started) when bwrap is not
 * installed or cannot make namespaces, saying what to do; and `./flotilla run
 * examples/sandbox/mission.yaml` shows an agent kept in its worktree, where the same mission
 * without the sandbox writes into the main checkout and fails its gate.
 */
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { findOnPath } from '../../src/agents/programs';
import type { MissionProgress } from '../../src/mission/progress';
import { CliResult, ROOT, runCli } from '../helpers/cli';
import { git, makeRepo, tempDir } from '../helpers/git';
import { freePort } from '../helpers/net';

const home = tempDir('flotilla-sandbox-e2e-');
let address = '';

const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  TEMPORAL_ADDRESS: address,
  FLOTILLA_HOME: home,
  FLOTILLA_TASK_QUEUE: 'flotilla-sandbox-e2e',
  ...extra,
});

beforeAll(async () => {
  address = `127.0.0.1:${await freePort()}`;
});

afterAll(async () => {
  if (existsSync(path.join(home, 'server.json'))) await runCli(['server', 'stop'], { env: env() });
});

const MISSION = `id: boxed
agent: { runtime: command, command: [bash, -c, "true"], sandbox: bwrap }
policy: { onMergeConflict: resolve }
tasks:
  - { id: a, prompt: p }
  - { id: b, prompt: p, agent: { sandbox: none } }
`;

test('validate shows the sandbox of each task and of the resolver', async () => {
  const dir = makeRepo();
  writeFileSync(path.join(dir, 'mission.yaml'), MISSION);
  const r = await runCli(['validate', path.join(dir, 'mission.yaml')], { env: env() });
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/- a: a \[command, sandbox bwrap\]\n/);
  expect(r.stdout).toMatch(/- b: b \[command\]\n/);
  expect(r.stdout).toMatch(/\n {2}resolver: \[command, sandbox bwrap\]\n/);
});

/** A PATH with git and nothing else (no bwrap), and one whose bwrap cannot make namespaces. */
function paths(): { noBwrap: string; failing: string } {
  const noBwrap = tempDir('path-no-bwrap-');
  symlinkSync(findOnPath('git')!, path.join(noBwrap, 'git'));
  const failing = tempDir('path-failing-bwrap-');
  writeFileSync(
    path.join(failing, 'bwrap'),
    '#!/bin/sh\necho "bwrap: No permissions to create new namespace" >&2\nexit 1\n',
    { mode: 0o755 },
  );
  return { noBwrap, failing: `${failing}${path.delimiter}${process.env.PATH}` };
}

test('validate, run and start exit 2 when bwrap is missing or cannot make namespaces, and start nothing', async () => {
  const dir = makeRepo();
  const file = path.join(dir, 'mission.yaml');
  writeFileSync(file, MISSION);
  const { noBwrap, failing } = paths();
  const cases: Array<[string, RegExp]> = [
    [
      noBwrap,
      /agent\.sandbox: sandbox bwrap: bwrap is not installed\n\s+fix: install bubblewrap \(.*apt-get install bubblewrap/,
    ],
    [
      failing,
      /cannot create a sandbox on this host \(.*No permissions to create new namespace\)\n\s+fix: allow unprivileged user namespaces/,
    ],
  ];
  for (const [PATH, message] of cases) {
    for (const cmd of ['validate', 'run', 'start']) {
      const r: CliResult = await runCli([cmd, file], { env: env({ PATH }) });
      expect({ cmd, code: r.code }).toEqual({ cmd, code: 2 });
      expect(r.stderr).toContain(file);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  }
  // Nothing was started: no dev server, no branch.
  expect(existsSync(path.join(home, 'server.json'))).toBe(false);
  expect(git(dir, 'branch', '--list', 'flotilla/*')).toBe('');
});

test('./flotilla run examples/sandbox: the agent is kept in its worktree; without the sandbox it is not', async () => {
  const boxed = await runCli(['run', 'examples/sandbox/mission.yaml'], { env: env(), launcher: true });
  expect(boxed.stderr).not.toMatch(/Error/);
  expect(boxed.code).toBe(0);
  expect(boxed.stdout).toMatch(/mission sandbox completed in .*: 1\/1 tasks merged/);
  const logs = await runCli(['logs', 'sandbox', 'probe'], { env: env(), launcher: true });
  expect(logs.stdout).toMatch(/- read ~\/\.ssh: no\n/);
  expect(logs.stdout).toMatch(/- read other tasks' transcripts in .*: no\n/);
  expect(logs.stdout).toMatch(/- write .*escaped\.txt, outside its worktree: no\n/);
  expect(logs.stdout).toMatch(/- edit and commit in its own worktree: yes\n/);
  const status = JSON.parse((await runCli(['status', 'sandbox', '--json'], { env: env() })).stdout) as MissionProgress;
  expect(existsSync(path.join(status.repo, 'escaped.txt'))).toBe(false);
  expect(git(status.repo, 'log', '--format=%s', status.integrationBranch)).toMatch(/probe: a file of its own/);
  expect(git(status.repo, 'show', `${status.integrationBranch}:sandbox-report.txt`)).toMatch(
    /outside its worktree: no/,
  );

  // The same mission with `sandbox: none`: the write lands in the main checkout and the gate says so.
  const dir = path.join(tempDir('sandbox-none-'), 'none');
  mkdirSync(dir);
  const example = readFileSync(path.join(ROOT, 'examples', 'sandbox', 'mission.yaml'), 'utf8');
  const none = example
    .replace('id: sandbox', 'id: sandbox-none')
    .replace('sandbox: bwrap #', 'sandbox: none #')
    .replace('scaffold: ../quickstart/app', `scaffold: ${path.join(ROOT, 'examples', 'quickstart', 'app')}`);
  expect(none).toContain('sandbox: none #');
  writeFileSync(path.join(dir, 'mission.yaml'), none);
  const open = await runCli(['run', path.join(dir, 'mission.yaml')], { env: env() });
  expect(open.code).toBe(1);
  const openStatus = JSON.parse(
    (await runCli(['status', 'sandbox-none', '--json'], { env: env() })).stdout,
  ) as MissionProgress;
  expect(openStatus.tasks[0].status).toBe('failed');
  expect(openStatus.tasks[0].error).toMatch(/escaped\.txt, outside its worktree/);
  expect(existsSync(path.join(openStatus.repo, 'escaped.txt'))).toBe(true);
}, 240_000);
