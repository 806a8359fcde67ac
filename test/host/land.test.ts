/**
 * The landing's pieces on real git repositories, without Temporal: which merged tasks are in the
 * integration branch (by commit, or by patch after a cherry-pick), the candidate merge without a
 * worktree, and the pull request's description.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fastForwardBase, mergeWithoutWorktree, missingTasks, prDescription } from '../../src/git/land';
import { fixAdvice } from '../../src/git/land-verify';
import { git, makeRepo, mergeOnlyWork, tempDir } from '../helpers/git';

function commit(repo: string, file: string, content: string, message: string): string {
  writeFileSync(path.join(repo, file), content);
  git(repo, 'add', file);
  git(repo, 'commit', '--quiet', '-m', message);
  return git(repo, 'rev-parse', 'HEAD');
}

test('missingTasks: a task is in by ancestry or by patch; one whose change is not there is named', async () => {
  const repo = makeRepo();
  git(repo, 'branch', 'integration');
  for (const t of ['merged', 'picked', 'lost']) {
    git(repo, 'checkout', '--quiet', '-b', `flotilla/m/tasks/${t}`, 'main');
    commit(repo, `${t}.txt`, `${t}\n`, `work of ${t}`);
  }
  git(repo, 'checkout', '--quiet', 'integration');
  git(repo, 'merge', '--quiet', '--no-ff', '-m', 'merge merged', 'flotilla/m/tasks/merged');
  git(repo, 'cherry-pick', 'flotilla/m/tasks/picked');
  const tip = git(repo, 'rev-parse', 'HEAD');
  const tasks = ['merged', 'picked', 'lost', 'gone'].map((id) => ({ id, branch: `flotilla/m/tasks/${id}` }));
  expect(await missingTasks(repo, 'm', tip, tasks)).toEqual(['lost', 'gone']);
});

test('missingTasks: work that exists only in a merge commit of the task branch is missing; a squash merge of it is not', async () => {
  const { repo, integration, branch } = mergeOnlyWork();
  expect(await missingTasks(repo, 'm', integration, [{ id: 't', branch }])).toEqual(['t']);
  // The same branch squashed onto the integration branch: all of its content is there.
  git(repo, 'checkout', '--quiet', '-b', 'squashed', integration);
  git(repo, 'merge', '--quiet', '--squash', branch);
  git(repo, 'commit', '--quiet', '-m', 'squash t');
  const squashed = git(repo, 'rev-parse', 'HEAD');
  git(repo, 'checkout', '--quiet', 'main');
  expect(await missingTasks(repo, 'm', squashed, [{ id: 't', branch }])).toEqual([]);
  // Conservative: a later edit of the task's lines on the tip means "not merged" (a conflict).
  git(repo, 'checkout', '--quiet', '-b', 'edited', squashed);
  commit(repo, 'extra.txt', 'edited later\n', 'edit extra.txt');
  const edited = git(repo, 'rev-parse', 'HEAD');
  git(repo, 'checkout', '--quiet', 'main');
  expect(await missingTasks(repo, 'm', edited, [{ id: 't', branch }])).toEqual(['t']);
});

test('mergeWithoutWorktree: a clean merge is a commit with both parents; a conflict names the files; nothing is checked out', async () => {
  const repo = makeRepo({ 'shared.txt': 'base\n', 'README.md': '# r\n' });
  git(repo, 'checkout', '--quiet', '-b', 'integration');
  const ours = commit(repo, 'ours.txt', 'ours\n', 'ours');
  git(repo, 'checkout', '--quiet', 'main');
  const theirs = commit(repo, 'theirs.txt', 'theirs\n', 'theirs');
  const m = await mergeWithoutWorktree(repo, ours, theirs, 'land it', '2026-01-02T03:04:05Z');
  expect(m.status).toBe('merged');
  const sha = (m as { sha: string }).sha;
  expect(git(repo, 'rev-parse', `${sha}^1`, `${sha}^2`).split('\n')).toEqual([ours, theirs]);
  expect(git(repo, 'ls-tree', '--name-only', sha).split('\n').sort()).toEqual([
    'README.md',
    'ours.txt',
    'shared.txt',
    'theirs.txt',
  ]);
  // The same date makes the same commit: a retried landing activity repeats itself exactly.
  expect(await mergeWithoutWorktree(repo, ours, theirs, 'land it', '2026-01-02T03:04:05Z')).toEqual(m);

  const conflicting = commit(repo, 'shared.txt', 'main\n', 'main edits shared');
  git(repo, 'checkout', '--quiet', 'integration');
  const edited = commit(repo, 'shared.txt', 'mission\n', 'mission edits shared');
  git(repo, 'checkout', '--quiet', 'main');
  expect(await mergeWithoutWorktree(repo, edited, conflicting, 'land it')).toEqual({
    status: 'conflict',
    files: ['shared.txt'],
  });
  expect(git(repo, 'status', '--porcelain')).toBe('');
});

test('prDescription: a table of the tasks, the verify commands, and the notes a workflow recorded', () => {
  const { title, body } = prDescription(
    {
      missionId: 'demo',
      baseBranch: 'main',
      baseSha: 'a'.repeat(40),
      integrationBranch: 'flotilla/demo/integration',
      tasks: [
        {
          id: 'api',
          title: 'Add the | endpoint',
          branch: 'flotilla/demo/tasks/api',
          runtime: 'claude',
          model: 'claude-sonnet-4-5',
          costUsd: 0.4213,
          diffstat: { files: 3, insertions: 40, deletions: 2 },
        },
        { id: 'docs', title: 'Docs', branch: 'flotilla/demo/tasks/docs', runtime: 'command' },
      ],
      verify: ['npm test', ['node', 'check.js', '--all']],
      notes: {
        notMerged: [{ id: 'ui', title: 'UI', status: 'failed' }],
        conflicts: [{ taskId: 'docs', files: ['README.md'], resolution: 'kept both sections' }],
        verifyRuns: [{ sha: 'b'.repeat(8), ok: true }],
      },
    },
    { landed: 'c'.repeat(40), baseMerged: true, verified: true },
  );
  expect(title).toBe('Flotilla mission demo: 2 tasks');
  expect(body).toContain('| `api` | Add the \\| endpoint | claude (claude-sonnet-4-5) | $0.42 | 3 (+40 −2) |');
  expect(body).toContain('| `docs` | Docs | command |  |  |');
  expect(body).toContain('- `ui` UI: failed');
  expect(body).toContain('- `npm test`\n- `node check.js --all`');
  expect(body).toContain(
    '`main` had moved since the mission started: cccccccc merges it, and the verify passed there.',
  );
  expect(body).toContain('- taskId: docs; files: README.md; resolution: kept both sections');
  expect(body).toContain('- sha: bbbbbbbb; ok: true');
});

describe('fastForwardBase refuses while git is in the middle of something on the base', () => {
  /** A repository with a mission commit `to` on a branch of its own, ahead of main. */
  function repoAhead() {
    const repo = makeRepo({ 'README.md': '# r\n', 'f.txt': 'one\n' });
    git(repo, 'checkout', '--quiet', '-b', 'mission');
    const to = commit(repo, 'm.txt', 'm\n', 'the mission');
    git(repo, 'checkout', '--quiet', 'main');
    return { repo, to };
  }

  test.each([
    [
      'a rebase (merge backend), main checked out in a linked worktree',
      (repo: string) => {
        const wt = `${repo}-wt`;
        git(repo, 'checkout', '--quiet', '--detach');
        git(repo, 'worktree', 'add', '--quiet', wt, 'main');
        expect(() => git(wt, 'rebase', '--quiet', '--exec', 'false', '--root')).toThrow();
        return { wt, op: /a rebase of main is in progress in .*-wt/, advice: /rebase --abort/ };
      },
    ],
    [
      'a rebase (apply backend)',
      (repo: string) => {
        git(repo, 'checkout', '--quiet', '-b', 'side', 'main~0');
        commit(repo, 'f.txt', 'side\n', 'side edits f');
        git(repo, 'checkout', '--quiet', 'main');
        commit(repo, 'f.txt', 'mine\n', 'main edits f');
        expect(() => git(repo, 'rebase', '--apply', '--quiet', 'side')).toThrow();
        return { wt: repo, op: /a rebase of main is in progress in /, advice: /rebase --continue/ };
      },
    ],
    [
      'a bisect',
      (repo: string) => {
        git(repo, 'bisect', 'start');
        return { wt: repo, op: /a bisect of main is in progress in /, advice: /bisect reset/ };
      },
    ],
    [
      'a cherry-pick that stopped at a conflict',
      (repo: string) => {
        git(repo, 'checkout', '--quiet', '-b', 'side', 'main');
        const side = commit(repo, 'f.txt', 'side\n', 'side edits f');
        git(repo, 'checkout', '--quiet', 'main');
        commit(repo, 'f.txt', 'mine\n', 'main edits f');
        expect(() => git(repo, 'cherry-pick', side)).toThrow();
        return { wt: repo, op: /a cherry-pick is in progress in /, advice: /cherry-pick --abort/ };
      },
    ],
    [
      'a revert that stopped at a conflict',
      (repo: string) => {
        const first = commit(repo, 'f.txt', 'two\n', 'f two');
        commit(repo, 'f.txt', 'three\n', 'f three');
        expect(() => git(repo, 'revert', '--no-edit', first)).toThrow();
        return { wt: repo, op: /a revert is in progress in /, advice: /revert --abort/ };
      },
    ],
    [
      'a merge with nothing to commit',
      (repo: string) => {
        const side = git(repo, 'commit-tree', '-p', 'main', '-m', 'side', 'main^{tree}');
        git(repo, 'merge', '--quiet', '--no-commit', '-s', 'ours', side);
        return { wt: repo, op: /a merge is in progress in /, advice: /merge --abort/ };
      },
    ],
  ])('%s: needs-human, the base does not move', async (_, start) => {
    const { repo, to } = repoAhead();
    const s = start(repo);
    const before = git(repo, 'rev-parse', 'main');
    const r = await fastForwardBase(repo, 'main', before, to, 'm');
    expect(r).toMatchObject({ status: 'needs-human', reason: 'operation-in-progress' });
    const message = (r as { message: string }).message;
    expect(message).toMatch(s.op);
    expect(message).toMatch(s.advice);
    expect(git(repo, 'rev-parse', 'main')).toBe(before);
  });
});

test('fixAdvice: --push merges the remote base with git pull, names are shell-quoted, and a worktree that has the branch is used as it is', async () => {
  const repo = makeRepo();
  git(repo, 'branch', 'flotilla/m/integration');
  const home = tempDir('flotilla land home ');
  const own = path.join(home, 'worktrees', 'm', '0123456789abcdef', 'integration');
  const input = {
    missionId: 'm',
    repo,
    baseBranch: 'main',
    baseSha: 'a'.repeat(40),
    integrationBranch: 'flotilla/m/integration',
    integrationSha: 'b'.repeat(40),
    tasks: [],
    verify: [],
    verifyTimeoutMs: 1000,
    integrationWorktree: own,
    mode: 'push' as const,
  };
  const fix = { kind: 'conflict' as const, files: ["it's.txt"], mergeBase: true, remote: 'origin' };
  const q = (p: string): string => `'${p}'`;
  const made = path.join(path.dirname(own), 'integration-fix');
  expect((await fixAdvice(input, fix, 'flotilla land m --push origin')).split('\n').slice(1)).toEqual([
    `    git -C ${repo} worktree add ${q(made)} flotilla/m/integration`,
    `    git -C ${q(made)} pull --no-rebase --no-edit origin main`,
    `    # your part: resolve the conflicts in it's.txt (in ${made}), then:`,
    `    git -C ${q(made)} add -- 'it'\\''s.txt'`,
    `    git -C ${q(made)} commit --no-edit`,
    '    flotilla land m --push origin',
  ]);
  const mine = path.join(tempDir('flotilla-land-'), 'my checkout');
  git(repo, 'worktree', 'add', '--quiet', mine, 'flotilla/m/integration');
  const advice = await fixAdvice(input, { ...fix, kind: 'verify', failedCommand: 'npm test' }, 'flotilla land m');
  expect(advice).toContain(`Fix it on flotilla/m/integration, in ${mine}, where it is checked out`);
  expect(advice.split('\n').slice(1)).toEqual([
    `    git -C ${q(mine)} pull --no-rebase --no-edit origin main`,
    `    # your part: make \`npm test\` pass (in ${mine}), then:`,
    `    git -C ${q(mine)} add --all`,
    `    git -C ${q(mine)} commit -m 'Fix the mission verify of m'`,
    '    flotilla land m',
  ]);
});
