/** Mission file validation: every error names the file, the field path, the reason and a fix. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MissionFileError } from '../../src/mission-file/errors';
import { loadMission, originLocation } from '../../src/mission-file/load';
import { git, makeRepo, tempDir } from '../helpers/git';

function missionFile(body: string, name = 'mission.yaml', dir = makeRepo()): string {
  const file = path.join(dir, name);
  writeFileSync(file, body);
  return file;
}

async function problems(file: string): Promise<Array<{ path: string; reason: string; fix: string }>> {
  try {
    await loadMission(file);
  } catch (err) {
    expect(err).toBeInstanceOf(MissionFileError);
    const e = err as MissionFileError;
    expect(e.message).toContain(file);
    for (const p of e.problems) expect(p.fix.length).toBeGreaterThan(0);
    return e.problems;
  }
  throw new Error('expected the mission file to be rejected');
}

const minimal = `id: demo
agent: { runtime: command, command: [bash, -c, "true"] }
tasks:
  - id: a
    prompt: do a
`;

test('a minimal file loads with the documented defaults', async () => {
  const dir = makeRepo();
  const loaded = await loadMission(missionFile(minimal, 'mission.yaml', dir));
  const { spec } = loaded;
  expect(spec.repo).toBe(dir);
  expect(spec.base).toBe('main');
  expect(spec.concurrency).toBe(3);
  expect(spec.policy).toEqual({ onTaskFailure: 'skip-dependents', onMergeConflict: 'pause', onVerifyFailure: 'fix' });
  expect(spec).toMatchObject({ land: 'none', keepWorktrees: false });
  // The resolver defaults to the mission's agent.
  expect(spec.resolver).toEqual(spec.tasks[0].agent);
  expect(spec.tasks[0]).toMatchObject({ id: 'a', title: 'a', maxIterations: 3, checkpointEveryMs: 300_000 });
  expect(spec.tasks[0].agent).toMatchObject({
    runtime: 'command',
    timeoutMs: 7_200_000,
    idleTimeoutMs: 600_000,
    retries: 3,
  });
  expect(loaded.waves).toEqual([['a']]);
});

test('JSON is accepted, task agent fields override the mission defaults, promptFile is read', async () => {
  const dir = makeRepo();
  mkdirSync(path.join(dir, 'prompts'));
  writeFileSync(path.join(dir, 'prompts', 'b.md'), 'prompt from file');
  const file = missionFile(
    JSON.stringify({
      id: 'json-demo',
      agent: { runtime: 'command', command: ['sh', '-c', 'true'], timeout: '5m', env: ['API_KEY'] },
      tasks: [
        { id: 'a', prompt: 'x', agent: { timeout: '30s', retries: 0 } },
        { id: 'b', promptFile: 'prompts/b.md', dependsOn: ['a'] },
      ],
    }),
    'mission.json',
    dir,
  );
  const { spec, waves } = await loadMission(file);
  expect(spec.tasks[0].agent).toMatchObject({ timeoutMs: 30_000, retries: 0, env: ['API_KEY'] });
  expect(spec.tasks[1].agent).toMatchObject({ timeoutMs: 300_000, retries: 3 });
  expect(spec.tasks[1].prompt).toBe('prompt from file');
  expect(waves).toEqual([['a'], ['b']]);
});

test('--id overrides the file and is validated', async () => {
  const file = missionFile(minimal);
  expect((await loadMission(file, { idOverride: 'other' })).spec.id).toBe('other');
  await expect(loadMission(file, { idOverride: 'Bad_Id' })).rejects.toThrow(/--id: "Bad_Id" is not a valid mission id/);
});

test.each([
  ['an unknown field', `${minimal}colour: blue\n`, 'colour', /unknown field: colour/],
  [
    'an unknown task field',
    minimal.replace('prompt: do a', 'prompt: do a\n    depends: [b]'),
    'tasks[0].depends',
    /unknown field: depends/,
  ],
  ['a bad id', minimal.replace('id: demo', 'id: Demo!'), 'id', /must be an id/],
  [
    'a bad runtime',
    minimal.replace('runtime: command', 'runtime: gpt'),
    'agent.runtime',
    /must be one of: claude, codex, command/,
  ],
  [
    'a bad duration',
    minimal.replace('prompt: do a', 'prompt: do a\n    agent: { timeout: soon }'),
    'tasks[0].agent.timeout',
    /must be a duration/,
  ],
  [
    'a bad policy',
    `${minimal}policy: { onTaskFailure: ignore }\n`,
    'policy.onTaskFailure',
    /must be one of: skip-dependents, stop-wave, stop-all/,
  ],
  ['no tasks', 'id: demo\ntasks: []\n', 'tasks', /at least one task/],
  [
    'a missing prompt',
    'id: demo\nagent: { runtime: command, command: [x] }\ntasks:\n  - id: a\n',
    'tasks[0].prompt',
    /is required/,
  ],
  [
    'a command runtime without command',
    'id: demo\nagent: { runtime: command }\ntasks:\n  - id: a\n    prompt: p\n',
    'agent.command',
    /needs a command/,
  ],
  [
    'a copy path outside the repository',
    `${minimal}copy: [../secrets.env]\n`,
    'copy[0]',
    /not a path inside the repository/,
  ],
  [
    'a promptFile that is a directory',
    minimal.replace('prompt: do a', 'promptFile: .git'),
    'tasks[0].promptFile',
    /not a file/,
  ],
  [
    'a prompt over 64 KiB',
    minimal.replace('prompt: do a', `prompt: ${'x'.repeat(70_000)}`),
    'tasks[0].prompt',
    /at most 64 KiB/,
  ],
  [
    'an env value instead of a name',
    minimal.replace('runtime: command,', 'runtime: command, env: ["KEY=secret"],'),
    'agent.env[0]',
    /NAME of an environment variable/,
  ],
])('rejects %s', async (_what, body, field, reason) => {
  const found = await problems(missionFile(body));
  expect(found.map((p) => p.path)).toContain(field);
  expect(found.find((p) => p.path === field)!.reason).toMatch(reason);
});

test('rejects duplicate ids, unknown dependencies and self-dependencies together', async () => {
  const body = `id: demo
agent: { runtime: command, command: [x] }
tasks:
  - { id: a, prompt: p, dependsOn: [ghost] }
  - { id: a, prompt: p }
  - { id: c, prompt: p, dependsOn: [c] }
`;
  const found = await problems(missionFile(body));
  expect(found).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ path: 'tasks[0].dependsOn[0]', reason: 'unknown task "ghost"' }),
      expect.objectContaining({ path: 'tasks[1].id', reason: 'duplicate task id "a" (also tasks[0].id)' }),
      expect.objectContaining({ path: 'tasks[2].dependsOn[0]', reason: 'task "c" depends on itself' }),
    ]),
  );
});

test('names a dependency cycle', async () => {
  const body = `id: demo
agent: { runtime: command, command: [x] }
tasks:
  - { id: a, prompt: p, dependsOn: [c] }
  - { id: b, prompt: p, dependsOn: [a] }
  - { id: c, prompt: p, dependsOn: [b] }
`;
  const found = await problems(missionFile(body));
  expect(found).toEqual([
    expect.objectContaining({ path: 'tasks[0].dependsOn', reason: 'dependency cycle: a -> c -> b -> a' }),
  ]);
});

test('YAML syntax errors give the line', async () => {
  const found = await problems(missionFile('id: demo\ntasks:\n  - id: a\n   prompt: [unclosed\n'));
  expect(found[0].reason).toMatch(/not valid YAML: .*line/);
});

test('a missing file, a repo that is not a git repository, an unknown base branch', async () => {
  await expect(loadMission('/nonexistent/mission.yaml')).rejects.toThrow(/file not found/);
  const plain = tempDir();
  expect((await problems(missionFile(minimal, 'mission.yaml', plain)))[0]).toMatchObject({
    path: 'repo',
    reason: `not a git repository: ${plain}`,
  });
  expect((await problems(missionFile(`${minimal}base: nope\n`)))[0]).toMatchObject({
    path: 'base',
    reason: expect.stringMatching(/unknown branch "nope"/),
  });
  const repoDir = makeRepo();
  git(repoDir, 'checkout', '--quiet', '--detach');
  expect((await problems(missionFile(minimal, 'mission.yaml', repoDir)))[0]).toMatchObject({
    path: 'base',
    reason: expect.stringMatching(/detached HEAD/),
  });
});

test('repo is relative to the mission file and resolves to the repository top level', async () => {
  const repo = makeRepo();
  mkdirSync(path.join(repo, 'sub'));
  const elsewhere = tempDir();
  const file = path.join(elsewhere, 'm.yaml');
  writeFileSync(file, `${minimal}repo: ${path.relative(elsewhere, path.join(repo, 'sub'))}\n`);
  expect((await loadMission(file)).spec.repo).toBe(repo);
});

test("resolver, land and keepWorktrees load; the resolver takes the mission agent's fields it does not set", async () => {
  const { spec } = await loadMission(
    missionFile(
      `${minimal}policy: { onMergeConflict: resolve, onVerifyFailure: revert }\nresolver: { runtime: command, command: [sh, -c, "true"], timeout: 5m }\nland: ff\nkeepWorktrees: true\n`,
    ),
  );
  expect(spec.policy).toMatchObject({ onMergeConflict: 'resolve', onVerifyFailure: 'revert' });
  expect(spec.resolver).toMatchObject({
    runtime: 'command',
    command: ['sh', '-c', 'true'],
    timeoutMs: 300_000,
    retries: 3,
  });
  expect(spec).toMatchObject({ land: 'ff', keepWorktrees: true });
  const bad = await problems(missionFile(`${minimal}land: yes\npolicy: { onVerifyFailure: retry }\n`));
  expect(bad).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ path: 'land', reason: expect.stringContaining('ff, push, pr, none') }),
      expect.objectContaining({ path: 'policy.onVerifyFailure', reason: expect.stringContaining('fix, revert') }),
    ]),
  );
});

test('touches: the later of two overlapping tasks is serialized after the earlier one, unless dependsOn already orders them', async () => {
  const loaded = await loadMission(
    missionFile(`id: t
agent: { runtime: command, command: [bash, -c, "true"] }
tasks:
  - { id: a, prompt: a, touches: ["src/greet/**"] }
  - { id: b, prompt: b, touches: ["src/greet/hello.ts"] }
  - { id: c, prompt: c, touches: ["docs/**"] }
  - { id: d, prompt: d, touches: ["src/**"], dependsOn: [a] }
  - { id: e, prompt: e }
`),
  );
  const after = Object.fromEntries(loaded.spec.tasks.map((t) => [t.id, t.after]));
  expect(after).toEqual({ a: [], b: ['a'], c: [], d: ['b'], e: [] });
  // The plan shows the serialization as an ordering.
  expect(loaded.waves).toEqual([['a', 'c', 'e'], ['b'], ['d']]);
  const bad = await problems(missionFile(`${minimal.replace('prompt: do a', 'prompt: do a\n    touches: "src"')}`));
  expect(bad).toEqual([expect.objectContaining({ path: 'tasks[0].touches' })]);
});

test('origin: a path relative to the mission file, its default branch as base; URLs stay as written', async () => {
  const src = makeRepo();
  const dir = tempDir();
  git(dir, 'clone', '--quiet', '--bare', src, path.join(dir, 'origin.git'));
  const { spec } = await loadMission(missionFile(`origin: ./origin.git\n${minimal}`, 'mission.yaml', dir));
  expect(spec).toMatchObject({
    origin: path.join(dir, 'origin.git'),
    repo: path.join(dir, 'origin.git'),
    base: 'main',
  });
  expect(originLocation('git@example.com:team/app.git', dir)).toBe('git@example.com:team/app.git');
  expect(originLocation('https://example.com/app.git', dir)).toBe('https://example.com/app.git');
  expect(originLocation('../shared/app.git', dir)).toBe(path.resolve(dir, '../shared/app.git'));
});

test('an origin URL with credentials is refused, and the refusal does not repeat them', async () => {
  for (const origin of [
    'https://someone:s3cr3t-t0ken@example.com/team/app.git',
    'https://s3cr3t-t0ken@example.com/team/app.git',
    'ssh://someone:s3cr3t-t0ken@example.com/team/app.git',
  ]) {
    const found = await problems(missionFile(`origin: ${origin}\n${minimal}`, 'mission.yaml', tempDir()));
    const message = JSON.stringify(found);
    expect(found).toEqual([
      expect.objectContaining({
        path: 'origin',
        reason: expect.stringMatching(/credentials/),
        fix: expect.stringMatching(/credential helper.*SSH key|SSH key.*credential helper/s),
      }),
    ]);
    expect(found[0].fix).toMatch(/GIT_ASKPASS/);
    expect(message).not.toContain('s3cr3t-t0ken');
  }
});

test('origin: unreachable, an unknown base, combined with repo, scaffold or land: ff, or a too short hostLostAfter is refused', async () => {
  const dir = tempDir();
  const gone = await problems(missionFile(`origin: ./nowhere.git\n${minimal}`, 'mission.yaml', dir));
  expect(gone).toEqual([expect.objectContaining({ path: 'origin', reason: expect.stringMatching(/git cannot read/) })]);

  git(dir, 'clone', '--quiet', '--bare', makeRepo(), path.join(dir, 'origin.git'));
  const base = await problems(missionFile(`origin: ./origin.git\nbase: nope\n${minimal}`, 'm2.yaml', dir));
  expect(base).toEqual([
    expect.objectContaining({
      path: 'base',
      reason: expect.stringContaining('unknown branch "nope"'),
      fix: expect.stringContaining('main'),
    }),
  ]);

  const mixed = await problems(missionFile(`origin: ./origin.git\nrepo: .\nland: ff\n${minimal}`, 'm3.yaml', dir));
  expect(mixed.map((p) => p.path)).toEqual(['repo', 'land']);
  expect(mixed[1].fix).toMatch(/land: push/);

  const short = await problems(missionFile(`origin: ./origin.git\nhostLostAfter: 1s\n${minimal}`, 'm4.yaml', dir));
  expect(short).toEqual([
    expect.objectContaining({ path: 'hostLostAfter', reason: expect.stringMatching(/too short/) }),
  ]);
  const alone = await problems(missionFile(`hostLostAfter: 30s\n${minimal}`, 'm5.yaml', makeRepo()));
  expect(alone).toEqual([expect.objectContaining({ path: 'hostLostAfter', fix: expect.stringMatching(/origin/) })]);
  const { spec } = await loadMission(
    missionFile(`origin: ./origin.git\nhostLostAfter: 45s\n${minimal}`, 'm6.yaml', dir),
  );
  expect(spec.hostLostAfterMs).toBe(45_000);
});
