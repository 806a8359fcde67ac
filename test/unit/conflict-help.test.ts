/**
 * What a mission blocked on a conflict tells the person who resolves it (the block's reason), and
 * how `status` and the Web UI's details show it: the task, the tasks it conflicts with, where to
 * work (the worktree that has the branch checked out), the commands, quoted for a shell.
 */
import { conflictMessage, conflictReason, ConflictHelp } from '../../src/mission/conflict-help';
import { deriveProgress, initialState } from '../../src/mission/progress';
import { missionCurrentDetails, nextSteps } from '../../src/mission/story';
import { mission, task, wavesOf } from '../helpers/missions';

const help: ConflictHelp = {
  missionId: 'm',
  branch: 'flotilla/m/tasks/late',
  conflict: {
    taskId: 'late',
    files: ['f.txt', 'my notes.md'],
    withTasks: ['top'],
    worktree: '/home/me/.flotilla/worktrees/m/01ab/tasks/late',
  },
  repo: '/home/me/app',
  integrationBranch: 'flotilla/m/integration',
  onto: 'a'.repeat(40),
  ontoIsIntegration: true,
};

test('the reason names the task it conflicts with, the worktree to work in and the commands, then resume or skip', () => {
  expect(conflictMessage(['f.txt'], [])).toBe('merge conflict in f.txt');
  expect(conflictReason(help)).toBe(
    [
      'task late: merge conflict with top in f.txt, my notes.md',
      "flotilla/m/tasks/late is checked out in the task's worktree (a `git checkout` of it elsewhere fails): resolve it there, merging the integration branch into it:",
      '  cd /home/me/.flotilla/worktrees/m/01ab/tasks/late',
      '  git merge flotilla/m/integration',
      "  # edit f.txt, my notes.md: keep both sides' intent, remove the conflict markers",
      "  git add -- f.txt 'my notes.md'",
      '  git commit --no-edit',
      'then `flotilla resume m` (or give the task up: `flotilla skip m late`)',
    ].join('\n'),
  );
});

test('merges before it in its batch (not published yet) are merged by commit; no worktree: the branch is checked out in the repository; the resolver says why', () => {
  const r = conflictReason({
    ...help,
    conflict: { ...help.conflict, files: ['f.txt'], worktree: null },
    repo: "/home/me/it's here",
    ontoIsIntegration: false,
    resolverNote: 'resolution rejected: conflict markers left in f.txt',
  });
  expect(r.split('\n')).toEqual([
    'task late: merge conflict with top in f.txt; the resolver agent could not resolve it (resolution rejected: conflict markers left in f.txt)',
    'resolve it on flotilla/m/tasks/late, merging aaaaaaaaaaaa into it:',
    "  cd '/home/me/it'\\''s here'",
    '  git checkout flotilla/m/tasks/late',
    `  git merge ${'a'.repeat(40)}`,
    "  # edit f.txt: keep both sides' intent, remove the conflict markers",
    '  git add -- f.txt',
    '  git commit --no-edit',
    'then `flotilla resume m` (or give the task up: `flotilla skip m late`)',
  ]);
});

test('a mission with a shared origin: the fix is pushed to the origin, whose branch the merge queue takes', () => {
  const r = conflictReason({ ...help, origin: true }).split('\n');
  expect(r.slice(-3)).toEqual([
    '  git commit --no-edit',
    '  git push origin HEAD:refs/heads/flotilla/m/tasks/late',
    'then `flotilla resume m` (or give the task up: `flotilla skip m late`)',
  ]);
});

test('the Web UI details quote the reason with its commands as a code block; the next steps are resume, then skip', () => {
  const spec = mission('m', '/home/me/app', [task('late', 'x')]);
  const s = initialState(spec, wavesOf(spec), '2026-12-01T09:30:00.000Z');
  s.blocked = true;
  s.phase = 'running';
  s.reason = conflictReason(help);
  const p = deriveProgress('m', s);
  expect(nextSteps(p)).toEqual(['flotilla resume m', 'flotilla skip m late']);
  expect(missionCurrentDetails(p)).toContain(
    [
      '> **Blocked**: task late: merge conflict with top in f.txt, my notes.md',
      "> flotilla/m/tasks/late is checked out in the task's worktree (a `git checkout` of it elsewhere fails): resolve it there, merging the integration branch into it:",
      '>',
      '>     cd /home/me/.flotilla/worktrees/m/01ab/tasks/late',
      '>     git merge flotilla/m/integration',
      ">     # edit f.txt, my notes.md: keep both sides' intent, remove the conflict markers",
      ">     git add -- f.txt 'my notes.md'",
      '>     git commit --no-edit',
      '>',
      '> then `flotilla resume m` (or give the task up: `flotilla skip m late`)',
    ].join('\n'),
  );
});
