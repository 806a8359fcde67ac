/**
 * The CLI as a user runs it: `./flotilla run` on a machine with no Temporal service starts the
 * embedded dev server (here on a free port), runs the quickstart, and leaves the server up for
 * `status`, `list` and the Web UI; bad input exits 2 naming the field and starts nothing.
 */
import { Connection } from '@temporalio/client';
import { EXPECTED_ATTRIBUTE_TYPES } from '../helpers/temporal';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { MissionListing } from '../../src/client/visibility';
import type { MissionProgress } from '../../src/mission/progress';
import { findTemporalCli } from '../../src/client/server';
import { git, makeRepo, tempDir } from '../helpers/git';
import { processAlive } from '../helpers/missions';
import { freePort } from '../helpers/net';
import { CliResult, ROOT, runCli } from '../helpers/cli';

const home = tempDir('flotilla-e2e-home-');
let address = '';

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

const env = (): NodeJS.ProcessEnv => ({
  TEMPORAL_ADDRESS: address,
  FLOTILLA_HOME: home,
  FLOTILLA_TASK_QUEUE: 'flotilla-e2e',
});

/** `./flotilla ARGS` as a user runs it, to its end. */
function flotilla(args: string[], cwd = ROOT): Promise<CliResult> {
  return runCli(args, { env: env(), cwd, launcher: true });
}

beforeAll(async () => {
  // A gRPC port whose +1000 (the dev server's Web UI) is free too.
  for (;;) {
    const port = await freePort();
    if (port < 64000 && (await portFree(port + 1000))) {
      address = `127.0.0.1:${port}`;
      break;
    }
  }
});

afterAll(async () => {
  const rec = path.join(home, 'server.json');
  const pid = existsSync(rec) ? (JSON.parse(readFileSync(rec, 'utf8')) as { pid: number }).pid : undefined;
  const stop = await flotilla(['server', 'stop']);
  expect(stop.stdout).toMatch(/stopped the Temporal dev server/);
  if (pid) expect(processAlive(pid)).toBe(false);
});

test('malformed mission files exit 2 with the file, the field and a fix, and start nothing', async () => {
  const dir = makeRepo();
  const cases: Array<[string, RegExp]> = [
    [
      'id: demo\ntasks:\n  - id: a\n    prompt: p\n    dependsOn: [ghost]\n    agent: { runtime: command, command: [x] }\n',
      /tasks\[0\]\.dependsOn\[0\]: unknown task "ghost"\n\s+fix: use one of the task ids: a/,
    ],
    [
      'id: demo\nconcurrency: many\ntasks: [{ id: a, prompt: p, agent: { runtime: command, command: [x] } }]\n',
      /concurrency: must be a whole number/,
    ],
    [
      'id: demo\ntasks:\n  - { id: a, prompt: p, dependsOn: [b], agent: { runtime: command, command: [x] } }\n  - { id: b, prompt: p, dependsOn: [a], agent: { runtime: command, command: [x] } }\n',
      /dependency cycle: a -> b -> a/,
    ],
    [
      'id: demo\nbase: release\ntasks: [{ id: a, prompt: p, agent: { runtime: command, command: [x] } }]\n',
      /base: unknown branch "release"/,
    ],
  ];
  for (const [body, message] of cases) {
    const file = path.join(dir, 'mission.yaml');
    writeFileSync(file, body);
    for (const cmd of ['validate', 'run']) {
      const r = await flotilla([cmd, file]);
      expect({ cmd, code: r.code }).toEqual({ cmd, code: 2 });
      expect(r.stderr).toContain(file);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace for a user mistake
    }
  }
  // Nothing was started: no dev server, no branch.
  expect(existsSync(path.join(home, 'server.json'))).toBe(false);
  expect(git(dir, 'branch', '--list', 'flotilla/*')).toBe('');
});

test('run the quickstart: embedded dev server, every task merged, status --json completed at 100%', async () => {
  const t0 = Date.now();
  const r = await flotilla(['run', 'examples/quickstart/mission.yaml']);
  const elapsed = Date.now() - t0;
  expect(r.stderr).not.toMatch(/Error/);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/starting the embedded dev server/);
  expect(r.stdout).toMatch(/wave 1 running \(index, title-case\)/);
  expect(r.stdout).toMatch(/mission quickstart completed in .*: 5\/5 tasks merged/);
  expect(r.stdout).toMatch(
    new RegExp(
      `Web UI: http://localhost:${Number(address.split(':')[1]) + 1000}/namespaces/default/workflows/mission-quickstart`,
    ),
  );
  console.log(`quickstart wall time (dev server start included): ${elapsed} ms`);

  const status = await flotilla(['status', 'quickstart', '--json']);
  expect(status.code).toBe(0);
  const p = JSON.parse(status.stdout) as MissionProgress;
  expect(p).toMatchObject({
    missionId: 'quickstart',
    phase: 'completed',
    percent: 100,
    integrationBranch: 'flotilla/quickstart/integration',
  });
  expect(p.tasks.map((t) => t.status)).toEqual(['merged', 'merged', 'merged', 'merged', 'merged']);
  expect(p.repo.startsWith(home)).toBe(true);
  // One merge per task on the integration branch, and the example's own tests pass there.
  const merges = git(p.repo, 'log', '--merges', '--format=%s', p.integrationBranch).split('\n');
  expect(merges).toHaveLength(5);
  expect(git(p.repo, 'rev-parse', p.integrationBranch)).toBe(p.integrationSha);

  // The mission and its task workflows are visible to Temporal's own CLI.
  const temporal = findTemporalCli()!;
  const listed = await new Promise<string>((resolve, reject) =>
    execFile(
      temporal,
      [
        'workflow',
        'list',
        '--address',
        address,
        '--query',
        "WorkflowId STARTS_WITH 'mission-quickstart'",
        '--output',
        'json',
      ],
      (err, out) => (err ? reject(err) : resolve(out)),
    ),
  );
  const ids = (JSON.parse(listed) as Array<{ execution: { workflowId: string } }>)
    .map((w) => w.execution.workflowId)
    .sort();
  expect(ids).toEqual([
    'mission-quickstart',
    ...['capitalize', 'index', 'slugify', 'title-case', 'truncate'].map((t) => `mission-quickstart/task-${t}`),
  ]);

  // The embedded server has every attribute with its type (`startDevArgs`).
  const connection = await Connection.connect({ address });
  try {
    const attrs = (await connection.operatorService.listSearchAttributes({ namespace: 'default' })).customAttributes;
    expect(attrs).toMatchObject(EXPECTED_ATTRIBUTE_TYPES);
  } finally {
    await connection.close();
  }

  const list = await flotilla(['list', '--json']);
  expect(JSON.parse(list.stdout)).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ missionId: 'quickstart', phase: 'completed', status: 'completed' }),
    ]),
  );

  // Running it again with the same id is refused while the first run's branches are in its
  // repository (nothing is replaced); another id gets a fresh repository of its own.
  const same = await flotilla(['run', 'examples/quickstart/mission.yaml']);
  expect(same.code).toBe(2);
  expect(same.stderr).toMatch(/ended mission "quickstart".*\n\s+fix: run with another id \(`--id quickstart-2`/);
  expect(git(p.repo, 'rev-parse', p.integrationBranch)).toBe(p.integrationSha);
  const again = await flotilla(['run', 'examples/quickstart/mission.yaml', '--id', 'quickstart-2']);
  expect(again.code).toBe(0);
  expect(again.stdout).not.toMatch(/starting the embedded dev server/);
});

test('a mission that needs a human exits 3 and says what to do; unknown missions exit 4', async () => {
  const repo = makeRepo({ 'shared.txt': 'base\n' });
  const file = path.join(repo, 'conflict.yaml');
  writeFileSync(
    file,
    `id: needs-human
agent: { runtime: command, retries: 0 }
policy: { onMergeConflict: pause }
tasks:
  - { id: one, prompt: p, agent: { command: [sh, -c, "echo one > shared.txt"] } }
  - { id: two, prompt: p, agent: { command: [sh, -c, "echo two > shared.txt"] } }
`,
  );
  const r = await flotilla(['run', file]);
  expect(r.code).toBe(3);
  // Either task may merge first (the queue merges as they finish): the other one conflicts.
  expect(r.stdout).toMatch(/the mission waits for you: task (one|two): merge conflict with (one|two) in shared\.txt/);
  const status = JSON.parse((await flotilla(['status', 'needs-human', '--json'])).stdout) as MissionProgress;
  expect(status.phase).toBe('blocked');
  // The same story as a table, ending with the command that unblocks it.
  const story = await flotilla(['status', 'needs-human']);
  expect(story.code).toBe(0);
  expect(story.stdout).toMatch(/^mission needs-human: blocked · \d/);
  expect(story.stdout).toMatch(/^⚠ (one|two) +conflict +1 /m);
  expect(story.stdout).toMatch(/\nnext:\n( {2}flotilla .*\n)* {2}flotilla resume needs-human\n/);
  // Found by its phase and by its repository (visibility catches up within moments).
  const listed = async (args: string[]): Promise<string[]> => {
    for (let i = 0; ; i++) {
      const ids = (JSON.parse((await flotilla(['list', '--json', ...args])).stdout) as MissionListing[]).map(
        (m) => m.missionId,
      );
      if (ids.length > 0 || i === 20) return ids;
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  expect(await listed(['--phase', 'blocked'])).toEqual(['needs-human']);
  expect(await listed(['--repo', repo])).toEqual(['needs-human']);
  const table = await flotilla(['list', '--phase', 'blocked']);
  expect(table.stdout).toMatch(/^needs-human +blocked +\d+% +\$0\.0000 +\S*flotilla-repo-/m);
  const cancel = await flotilla(['cancel', 'needs-human']);
  expect(cancel.code).toBe(0);
  const watch = await flotilla(['watch', 'needs-human']);
  expect(watch.code).toBe(1);
  expect(watch.stdout).toMatch(/mission needs-human cancelled/);

  for (const args of [
    ['status', 'nope'],
    ['pause', 'nope'],
    ['resume', 'nope'],
    ['cancel', 'nope'],
  ]) {
    const u = await flotilla(args);
    expect({ args, code: u.code }).toEqual({ args, code: 4 });
    expect(u.stderr).toMatch(/no mission "nope"/);
  }
});
