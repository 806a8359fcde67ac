/**
 * Which tasks a merge conflict is with, on real repositories: the tasks merged since the
 * conflicting task's base whose lines clash with its own in the conflicting hunks (added,
 * changed or removed), not every task that touched the file; the whole file only where lines
 * cannot tell (a file both sides added). `queueMerge` reports them with every conflict (what
 * `onMergeConflict: pause` blocks on, and `status` shows), with the worktree that has the task's
 * branch checked out; `prepareConflict` hands the same tasks to the resolver.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createActivities } from '../../src/activities';
import { conflictingTasks } from '../../src/git/conflict-tasks';
import type { PrepareConflictResult, QueueMergeResult } from '../../src/git/merge-queue-types';
import { names } from '../../src/mission/types';
import { git, makeRepo, tempDir } from '../helpers/git';

const home = tempDir('flotilla-conflict-tasks-home-');
const acts = createActivities({ home, hostQueue: 'q@test' });
const LINES = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`);
const text = (lines: string[]): string => lines.join('\n') + '\n';
/** The 20 lines with some replaced (1-based line number -> new text, null to remove it). */
const edit = (changes: Record<number, string | null>): string =>
  text(LINES.flatMap((l, i) => (i + 1 in changes ? (changes[i + 1] === null ? [] : [changes[i + 1]!]) : [l])));

/** Commits `files` on a new branch `branch` from `from` (in a throwaway worktree). @returns its tip */
function branchWith(repo: string, branch: string, from: string, files: Record<string, string>): string {
  const side = tempDir('side-');
  git(repo, 'worktree', 'add', '--quiet', '-b', branch, side, from);
  for (const [rel, content] of Object.entries(files)) writeFileSync(path.join(side, rel), content);
  git(side, 'add', '--all');
  git(side, 'commit', '--quiet', '-m', `work on ${branch}`);
  const tip = git(side, 'rev-parse', 'HEAD');
  git(repo, 'worktree', 'remove', '--force', side);
  return tip;
}

/**
 * A repository whose integration branch merged, in order, `top` (line 2), `bottom` (line 19),
 * `gone` (removes lines 9 and 10) and `adder` (adds new.txt), each with `flotilla: merge <id>:`,
 * all branched from `base`; plus a commit made by hand there (line 5) that names no task.
 */
function integrated() {
  const repo = makeRepo({ 'f.txt': text(LINES) });
  const base = git(repo, 'rev-parse', 'main');
  const integration = names.integrationBranch('m');
  git(repo, 'branch', integration, base);
  const work: Record<string, Record<string, string>> = {
    top: { 'f.txt': edit({ 2: 'line 2 by top' }) },
    bottom: { 'f.txt': edit({ 19: 'line 19 by bottom' }) },
    gone: { 'f.txt': edit({ 9: null, 10: null }) },
    adder: { 'new.txt': 'added by adder\n' },
  };
  const side = tempDir('integration-');
  git(repo, 'worktree', 'add', '--quiet', side, integration);
  for (const [id, files] of Object.entries(work)) {
    branchWith(repo, names.taskBranch('m', id), base, files);
    git(side, 'merge', '--quiet', '--no-ff', '-m', `flotilla: merge ${id}: ${id}`, names.taskBranch('m', id));
  }
  writeFileSync(path.join(side, 'f.txt'), git(side, 'show', 'HEAD:f.txt').replace('line 5', 'line 5 by hand') + '\n');
  git(side, 'commit', '--quiet', '-am', 'by hand');
  git(repo, 'worktree', 'remove', '--force', side);
  return { repo, base, onto: git(repo, 'rev-parse', integration) };
}

test('the tasks a conflict is with: those whose lines clash in the conflicting hunks, not all that touched the file', async () => {
  const { repo, base, onto } = integrated();
  const tasks = (changes: Record<string, string>) =>
    conflictingTasks(
      repo,
      base,
      onto,
      branchWith(repo, `t-${Object.keys(changes).length}-${Math.random()}`, base, changes),
      [...Object.keys(changes)],
    );
  // Line 2 was changed by top only (bottom and the others changed the file elsewhere).
  expect(await tasks({ 'f.txt': edit({ 2: 'line 2 by late' }) })).toEqual(['top']);
  // Line 9, which gone removed.
  expect(await tasks({ 'f.txt': edit({ 9: 'line 9 by late' }) })).toEqual(['gone']);
  // Lines 2 and 19: both, oldest merge first.
  expect(await tasks({ 'f.txt': edit({ 19: 'line 19 by late', 2: 'line 2 by late' }) })).toEqual(['top', 'bottom']);
  // Line 5 was changed by hand on the integration branch: a conflict with no task.
  expect(await tasks({ 'f.txt': edit({ 5: 'line 5 by late' }) })).toEqual([]);
  // A file both sides added has no lines in common to compare: whoever added it.
  expect(await tasks({ 'new.txt': 'added by late\n' })).toEqual(['adder']);
});

test('queueMerge names the tasks a conflict is with and the worktree that has the branch checked out', async () => {
  const { repo, base, onto } = integrated();
  const branch = names.taskBranch('m', 'late');
  branchWith(repo, branch, base, { 'f.txt': edit({ 2: 'line 2 by late' }) });
  const worktree = path.join(tempDir('worktrees-'), 'late');
  git(repo, 'worktree', 'add', '--quiet', worktree, branch);
  const ref = 'refs/flotilla/candidates/m';
  git(repo, 'update-ref', ref, onto);
  const input = {
    repo,
    onto,
    branch,
    taskId: 'late',
    title: 'late',
    ref,
    expected: onto,
    date: '2030-01-01T00:00:00Z',
  };
  const r = (await new MockActivityEnvironment().run(acts.queueMerge, input)) as QueueMergeResult;
  expect(r).toEqual({
    status: 'conflict',
    files: ['f.txt'],
    message: 'merge conflict in f.txt',
    withTasks: ['top'],
    worktree,
  });
  // The resolver is told the same.
  const prep = (await new MockActivityEnvironment().run(acts.prepareConflict, {
    missionId: 'm',
    runId: '0190aaaa-bbbb-7ccc-8ddd-eeeeeeeeeeee',
    repo,
    taskId: 'late',
    onto,
    branch,
    setup: [],
    copy: [],
    setupTimeoutMs: 60_000,
  })) as PrepareConflictResult;
  expect(prep.otherTasks).toEqual(['top']);
  await new MockActivityEnvironment().run(acts.dropConflict, { repo, worktree: prep.worktree });

  // Without a worktree holding the branch (removed by hand), none is named.
  git(repo, 'worktree', 'remove', '--force', worktree);
  const again = (await new MockActivityEnvironment().run(acts.queueMerge, input)) as QueueMergeResult;
  expect(again).toMatchObject({ status: 'conflict', withTasks: ['top'], worktree: null });
});

test('a clean merge reports the branch tip it merged (what the task branch held when the queue read it)', async () => {
  const { repo, base, onto } = integrated();
  const branch = names.taskBranch('m', 'clean');
  const tip = branchWith(repo, branch, base, { 'g.txt': 'new file\n' });
  const ref = 'refs/flotilla/candidates/m';
  const r = (await new MockActivityEnvironment().run(acts.queueMerge, {
    repo,
    onto,
    branch,
    taskId: 'clean',
    title: 'clean',
    ref,
    expected: null,
    date: '2030-01-01T00:00:00Z',
  })) as QueueMergeResult;
  expect(r).toMatchObject({ status: 'merged', alreadyMerged: false, tip });
});
