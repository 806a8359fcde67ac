/**
 * The mission's `setup` as a user meets it with a real project (minimist from npm, `setup: ['npm
 * install']`), through the real CLI on a real dev server:
 *  - `run` exits (the mission blocks: exit 3) while a task's setup runs: the setup's processes
 *    are gone, `status` shows the task `pending` with why (never a ghost `running`), and a later
 *    worker runs its setup again from a clean state and finishes the mission;
 *  - what setup creates (a lock file) is not the agent's work: neither the task's commit nor the
 *    landed result holds it.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MissionProgress } from '../../src/mission/progress';
import { names } from '../../src/mission/types';
import { cliSuite } from '../helpers/cli-suite';
import { git, makeRepo } from '../helpers/git';
import { slowInstallSetup } from '../helpers/missions';
import { until } from '../helpers/poll';

const suite = cliSuite('setup');
const { dir, flotilla, spawnFlotilla } = suite;

/** True while a process of group `pgid` is alive (`kill(-pgid, 0)`). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A `command` agent's argv (a bash script: test code). */
const agent = (script: string) => ({ command: ['bash', '-c', script] });

test('run exits while a task runs its setup: setup killed, status says pending (not running), a later worker reruns setup from a clean state and finishes', async () => {
  const id = 'ghost';
  const repo = makeRepo({ 'README.md': '# app\n', 'shared.txt': 'base\n', '.gitignore': 'node_modules/\n' });
  const pidFile = path.join(dir, 'setup.pid');
  const go = path.join(dir, 'setup.go');
  // Like `npm install`: slow, writing into node_modules as it goes; like a package manager that a
  // half-done install breaks, it refuses to start over one. Only task `slow` has a slow setup.
  const setup = slowInstallSetup(pidFile, go, 'slow');
  const file = path.join(dir, `${id}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      id,
      repo,
      concurrency: 3,
      setup: [setup],
      agent: { runtime: 'command', retries: 1 },
      policy: { onMergeConflict: 'pause' },
      tasks: [
        { id: 'one', prompt: 'one', agent: agent('echo one > shared.txt') },
        { id: 'two', prompt: 'two', agent: agent('echo two > shared.txt') },
        { id: 'slow', prompt: 'slow', agent: agent('test -e node_modules/installed && echo slow > slow.txt') },
      ],
    }),
  );

  const run = spawnFlotilla(['run', file]);
  const r = await run.result;
  // The conflict between one and two blocks the mission while slow's setup still runs.
  expect({ code: r.code, out: r.stdout }).toEqual({ code: 3, out: expect.stringMatching(/waits for you/) });
  const pgid = Number(readFileSync(pidFile, 'utf8'));
  await until('the setup to be gone with its worker', () => !groupAlive(pgid), 5_000);

  // No worker runs now: slow is not running, whatever Temporal does with its attempt.
  const json = await flotilla(['status', id, '--json']);
  expect(json.code).toBe(0);
  const slow = (JSON.parse(json.stdout) as MissionProgress).tasks.find((t) => t.id === 'slow')!;
  expect(slow.status).toBe('pending');
  // Its setup's attempt waits (or no heartbeat), or, before the workflow scheduled the next
  // attempt (a worker shutdown is not an attempt: the workflow calls setup again), its next step.
  expect(slow.error).toMatch(
    /(setup|worktree).*(no heartbeat since \d\d:\d\d:\d\d UTC|waiting to start|its worker \S+ has exited)|next step waits to start: no live worker polls/,
  );
  const text = await flotilla(['status', id]);
  expect(text.stdout).toMatch(/slow\s+pending/);
  expect(text.stdout).not.toMatch(/slow\s+running/);

  // A worker comes back: setup starts over from a clean worktree and the mission ends.
  writeFileSync(go, '');
  const conflicted = (JSON.parse(json.stdout) as MissionProgress).tasks.find((t) => t.status === 'conflict')!;
  expect((await flotilla(['skip', id, conflicted.id])).code).toBe(0);
  const watch = await flotilla(['watch', id]);
  expect(watch.stdout).toMatch(/✔ slow merged \(1 files, \+1\/-0\)/);
  // It ends as the user's skip says: every task but the skipped one merged.
  expect(watch.stdout).toMatch(new RegExp(`mission failed: not every task merged: ${conflicted.id} skipped`));
  expect(git(repo, 'show', `${names.integrationBranch(id)}:slow.txt`)).toBe('slow');
  expect(existsSync(pidFile) && groupAlive(Number(readFileSync(pidFile, 'utf8')))).toBe(false);
});

test('what setup creates is not committed: the task and the landed result hold only the agent’s file', async () => {
  const id = 'lockfile';
  const repo = makeRepo({ 'README.md': '# app\n', 'package.json': '{"name":"app"}\n' });
  const base = git(repo, 'rev-parse', 'main');
  const file = path.join(dir, `${id}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      id,
      repo,
      land: 'ff',
      // Like `npm install`: writes a lock file nobody asked the agent for.
      setup: [
        `node -e "require('fs').writeFileSync('lock.json', JSON.stringify({ lockfileVersion: 3, packages: {} }, null, 2))"`,
      ],
      agent: { runtime: 'command', retries: 0 },
      tasks: [{ id: 'add-test', prompt: 'add a test', agent: agent('echo "test(1)" > test.js') }],
    }),
  );
  const r = await flotilla(['run', file]);
  expect(r.stdout).toMatch(/mission lockfile completed/);
  expect(r.code).toBe(0);
  const p = JSON.parse((await flotilla(['status', id, '--json'])).stdout) as MissionProgress;
  expect(p.tasks[0].diffstat).toEqual({ files: 1, insertions: 1, deletions: 0 });
  const branch = names.taskBranch(id, 'add-test');
  expect(git(repo, 'diff', '--name-only', `${base}...${branch}`)).toBe('test.js');
  // Landed on main: the agent's file only.
  expect(git(repo, 'diff', '--name-only', base, 'main')).toBe('test.js');
  expect(git(repo, 'ls-tree', '-r', '--name-only', 'main').split('\n')).not.toContain('lock.json');
});
