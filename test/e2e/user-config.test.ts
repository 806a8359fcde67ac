/**
 * Nothing of the user's touched: the repository's `.git/config` is byte-identical after a whole
 * mission (with a merge conflict a resolver agent resolves), `flotilla land` and `flotilla clean
 * --yes`, and after a mission that failed and was never cleaned. Branch owners, rerere and the
 * merged checks of `clean` all live outside it (branch-owner.ts, conflict-git.ts,
 * clean-execute.ts). The real CLI with its in-process worker, `command` agents.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MissionProgress } from '../../src/mission/progress';
import { unionResolverLines } from '../faults/harness';
import { cliSuite } from '../helpers/cli-suite';
import { git, makeRepo } from '../helpers/git';

const suite = cliSuite('config', { timeoutMs: 240_000 });
const { dir, flotilla } = suite;

/**
 * A repository with a config of the user's own (a remote, a branch's upstream, an alias), and
 * its config's bytes (as latin1 text: one character per byte, so a failure shows the lines).
 */
function userRepo(): { repo: string; config: () => string } {
  const repo = makeRepo({ 'README.md': '# test\n', 'shared.txt': 'top\nline\nbottom\n' });
  git(repo, 'config', 'alias.st', 'status --short');
  git(repo, 'remote', 'add', 'upstream', 'https://example.com/some/repo.git');
  git(repo, 'config', 'branch.main.remote', 'upstream');
  git(repo, 'config', 'branch.main.merge', 'refs/heads/main');
  return { repo, config: () => readFileSync(path.join(repo, '.git', 'config'), 'latin1') };
}

function missionFile(id: string, repo: string, tasks: unknown[], extra: Record<string, unknown> = {}): string {
  const file = path.join(dir, `${id}.json`);
  writeFileSync(file, JSON.stringify({ id, repo, agent: { runtime: 'command', retries: 0 }, tasks, ...extra }));
  return file;
}

const status = async (id: string): Promise<MissionProgress> =>
  JSON.parse((await flotilla(['status', id, '--json'])).stdout) as MissionProgress;

test("a mission with a resolved conflict, then land and clean: the repository's .git/config is byte-identical", async () => {
  const { repo, config } = userRepo();
  const before = config();
  const sets = (who: string) => ({ command: ['bash', '-c', `sed -i 's/^line$/${who} was here/' shared.txt`] });
  const file = missionFile(
    'config-whole',
    repo,
    ['a', 'b', 'c'].map((t) => ({
      id: t,
      title: `Task ${t}`,
      prompt: t,
      agent: t === 'c' ? { command: ['bash', '-c', 'echo c > c.txt'] } : sets(t),
    })),
    {
      policy: { onMergeConflict: 'resolve', onVerifyFailure: 'fail' },
      resolver: { runtime: 'command', command: ['bash', '-c', unionResolverLines('shared.txt').join('\n')] },
    },
  );
  const run = await flotilla(['run', file]);
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
  const p = await status('config-whole');
  expect(p.phase).toBe('completed');
  expect(p.mergeQueue?.conflicts.map((c) => c.state)).toEqual(['resolved']);
  expect(config()).toEqual(before);

  expect((await flotilla(['land', 'config-whole'])).code).toBe(0);
  expect(config()).toEqual(before);
  const clean = await flotilla(['clean', 'config-whole', '--yes']);
  expect({ code: clean.code, stderr: clean.stderr }).toEqual({ code: 0, stderr: '' });
  expect(config()).toEqual(before);
  // What clean leaves is only the archives: the owner records went with their branches.
  const left = git(repo, 'for-each-ref', '--format=%(refname)', 'refs/flotilla', 'refs/heads/flotilla').split('\n');
  expect(left.filter((r) => !r.startsWith('refs/flotilla/archive/config-whole/'))).toEqual([]);
  expect(git(repo, 'show', 'main:shared.txt').split('\n')).toEqual(
    expect.arrayContaining(['a was here', 'b was here']),
  );
}, 300_000);

test('a mission that fails, never cleaned: the .git/config is byte-identical', async () => {
  const { repo, config } = userRepo();
  const before = config();
  const file = missionFile('config-failed', repo, [
    { id: 'ok', title: 'OK', prompt: 'ok', agent: { command: ['bash', '-c', 'echo ok > ok.txt'] } },
    { id: 'bad', title: 'Bad', prompt: 'bad', agent: { command: ['bash', '-c', 'echo half > half.txt; exit 1'] } },
  ]);
  const run = await flotilla(['run', file]);
  expect(run.code).not.toBe(0);
  expect((await status('config-failed')).phase).toBe('failed');
  expect(config()).toEqual(before);
  // The branches' owners are recorded in Flotilla's own refs instead.
  expect(git(repo, 'for-each-ref', '--format=%(refname)', 'refs/flotilla/owners/').split('\n').sort()).toEqual([
    'refs/flotilla/owners/flotilla/config-failed/integration',
    'refs/flotilla/owners/flotilla/config-failed/tasks/bad',
    'refs/flotilla/owners/flotilla/config-failed/tasks/ok',
  ]);
}, 300_000);
