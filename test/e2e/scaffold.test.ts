/**
 * `scaffold:` as a user runs it (the real CLI, a real dev server, `command` agents): a scaffold
 * repository is replaced only when nothing of a mission is left in it. A second run with another
 * `--id` on the same repository, while the first mission runs (its agent mid-way) or before it made
 * its first branch, and a rerun of an ended mission that left its branches, are refused with exit
 * 2 before anything is deleted or written; the running mission goes on to the end untouched.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cliSuite } from '../helpers/cli-suite';
import { git, tempDir } from '../helpers/git';
import { until } from '../helpers/hosts';

const suite = cliSuite('scaffold', { timeoutMs: 90_000 });
const { flotilla, spawnFlotilla } = suite;

/**
 * A mission file with `repo: ./shared` and `scaffold: ./app`, whose one task's agent writes
 * `started` into `gate` and then waits until `gate/go` exists (test code, not user input).
 */
function scaffoldMission(id: string): { file: string; repo: string; gate: string } {
  const dir = tempDir('flotilla-scaffold-');
  const gate = tempDir('flotilla-scaffold-gate-');
  mkdirSync(path.join(dir, 'app'));
  writeFileSync(path.join(dir, 'app', 'README.md'), '# app\n');
  const script = `touch ${gate}/started; while [ ! -f ${gate}/go ]; do sleep 0.2; done; echo done > done.txt`;
  const file = path.join(dir, 'mission.json');
  writeFileSync(
    file,
    JSON.stringify({
      id,
      repo: './shared',
      scaffold: './app',
      agent: { runtime: 'command', retries: 0, command: ['bash', '-c', script] },
      tasks: [{ id: 'slow', prompt: 'write done.txt' }],
    }),
  );
  return { file, repo: path.join(dir, 'shared'), gate };
}

/** Every ref of the repository with its commit: what must not change while a run is refused. */
const refsOf = (repo: string): string => git(repo, 'for-each-ref', '--format=%(objectname) %(refname)');

test('another --id on the same scaffold repository is refused while a mission runs in it, and the mission ends untouched', async () => {
  const m = scaffoldMission('first');
  const first = spawnFlotilla(['run', m.file], { timeoutMs: 150_000 });
  await until(
    "the first mission's agent to start",
    async () => existsSync(path.join(m.gate, 'started')) || null,
    60_000,
  );
  const before = refsOf(m.repo);
  expect(before).toMatch(/refs\/heads\/flotilla\/first\/tasks\/slow/);
  const mark = readFileSync(path.join(m.repo, '.git', 'flotilla-scaffold'), 'utf8');

  const second = await flotilla(['run', m.file, '--id', 'second']);
  expect(second.code).toBe(2);
  expect(second.stderr).toContain(m.file);
  expect(second.stderr).toMatch(/scaffold: .* is in use by running mission "first"/);
  expect(second.stderr).toMatch(/fix: wait for "first" to end/);
  expect(second.stderr).not.toMatch(/\n\s+at /);
  // Nothing was deleted or written, and the second mission never started.
  expect(refsOf(m.repo)).toBe(before);
  expect(readFileSync(path.join(m.repo, '.git', 'flotilla-scaffold'), 'utf8')).toBe(mark);
  expect((await flotilla(['status', 'second'])).code).toBe(4);

  // The first mission goes on: its agent finishes in its worktree and its work is merged.
  writeFileSync(path.join(m.gate, 'go'), '');
  const r = await first.result;
  expect({ code: r.code, out: r.stdout }).toEqual({ code: 0, out: expect.stringMatching(/1\/1 tasks merged/) });
  expect(git(m.repo, 'show', 'flotilla/first/integration:done.txt')).toBe('done');
}, 240_000);

test('a rerun of an ended mission whose branches are left is refused before the repository is touched', async () => {
  const m = scaffoldMission('ended');
  writeFileSync(path.join(m.gate, 'go'), '');
  const r = await flotilla(['run', m.file]);
  expect(r.code).toBe(0);
  const refs = refsOf(m.repo);
  expect(refs).toMatch(/refs\/heads\/flotilla\/ended\/integration/);
  // The check of earlier branches used to run after the repository was made afresh: it never held.
  const again = await flotilla(['run', m.file]);
  expect(again.code).toBe(2);
  expect(again.stderr).toMatch(/branches, refs or worktrees of ended mission "ended"/);
  expect(again.stderr).toMatch(/flotilla clean ended --yes.*rm -rf /s);
  expect(refsOf(m.repo)).toBe(refs);
}, 120_000);

test('a mission started on a scaffold repository is protected before it made its first branch', async () => {
  const m = scaffoldMission('early');
  // No worker polls the queue: the mission is running but has not made its integration branch yet.
  const start = await flotilla(['start', m.file]);
  expect(start.code).toBe(0);
  expect(git(m.repo, 'branch', '--list', 'flotilla/*')).toBe('');
  const head = git(m.repo, 'rev-parse', 'main');

  const other = await flotilla(['start', m.file, '--id', 'late']);
  expect(other.code).toBe(2);
  expect(other.stderr).toMatch(/is in use by running mission "early"/);
  expect(git(m.repo, 'rev-parse', 'main')).toBe(head);
  expect((await flotilla(['status', 'late'])).code).toBe(4);
  await suite.env.client.workflow.getHandle('mission-early').terminate('test over');
}, 120_000);
