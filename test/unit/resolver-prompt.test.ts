/** The merge-conflict resolver's prompt (src/workflows/mission/resolver-prompt.ts): pure, built by workflow code. */
import type { PrepareConflictResult } from '../../src/git/merge-queue-types';
import {
  MAX_RESOLVER_PROMPT_CHARS,
  MAX_TASK_PROMPT_CHARS,
  ResolverPromptInput,
  resolverPrompt,
} from '../../src/workflows/mission/resolver-prompt';

const conflict: PrepareConflictResult = {
  worktree: '/home/f/worktrees/m/k/tasks/b.conflict',
  conflicted: ['src/app.ts', 'src/config.ts'],
  remaining: ['src/app.ts'],
  mergeBase: 'a'.repeat(40),
  branchTip: 'b'.repeat(40),
  otherTasks: ['a'],
  oursDiff: 'diff --git a/src/app.ts b/src/app.ts\n+ours line\n',
  theirsDiff: 'diff --git a/src/app.ts b/src/app.ts\n+theirs line\n',
  mergedLog: 'c0ffee1 flotilla: merge a: Task a',
};

const input = (extra: Partial<ResolverPromptInput> = {}): ResolverPromptInput => ({
  task: { id: 'b', title: 'Add metrics', prompt: 'Add a metrics endpoint.', summary: null, verify: ['npm test'] },
  others: [
    {
      id: 'a',
      title: 'Add logging',
      prompt: 'Log every request.',
      summary: 'Added a logger.',
      verify: [['node', 'check.js', '--with space']],
    },
  ],
  conflict,
  missionVerify: ['npm run lint'],
  ...extra,
});

test('states the merge, the rules, the files, both tasks, the diffs and the checks', () => {
  const p = resolverPrompt(input());
  expect(p).toContain('The branch of task "b" (Add metrics) is being merged');
  expect(p).toContain(conflict.worktree);
  expect(p).toContain('$FLOTILLA_CONFLICTS');
  expect(p).toMatch(/never drop a side silently/);
  expect(p).toMatch(/Do not commit, do not run `git merge --abort`/);
  expect(p).toContain('`git checkout --ours/--theirs`');
  expect(p).toMatch(/explain in your last message what you kept from each side/);
  // Still conflicted, and replayed by rerere, listed apart.
  expect(p).toMatch(/Still conflicted \(with markers\):\n- src\/app\.ts\n/);
  expect(p).toMatch(/replaying a resolution recorded earlier[^\n]*\n- src\/config\.ts/);
  expect(p).toContain('### Task "b": Add metrics\nIts prompt:\nAdd a metrics endpoint.');
  expect(p).toContain(
    '### Task "a": Add logging\nIts prompt:\nLog every request.\nWhat its agent said it did:\nAdded a logger.',
  );
  expect(p).toContain('+ours line');
  expect(p).toContain('+theirs line');
  expect(p).toContain('c0ffee1 flotilla: merge a: Task a');
  expect(p).toContain('- task "b": npm test');
  expect(p).toContain('- task "a": node check.js "--with space"');
  expect(p).toContain('- the mission: npm run lint');
  expect(p).not.toContain('previous resolution was rejected');
});

test("a previous rejection comes first, in the checker's words", () => {
  const p = resolverPrompt(
    input({
      feedback: [
        'src/app.ts: conflict markers are left at line 3 (<<<<<<<)',
        'new files outside the conflicted set: x',
      ],
    }),
  );
  expect(p).toContain(
    '## Your previous resolution was rejected\n- src/app.ts: conflict markers are left at line 3 (<<<<<<<)\n- new files outside the conflicted set: x',
  );
  expect(p.indexOf('rejected')).toBeLessThan(p.indexOf('### Task "b"'));
});

test('all files replayed by rerere: says none is left with markers', () => {
  const p = resolverPrompt(input({ conflict: { ...conflict, remaining: [] } }));
  expect(p).toContain('None is left with markers');
  expect(p).toMatch(/replaying[^\n]*\n- src\/app\.ts\n- src\/config\.ts/);
});

test('long prompts are cut with a note, and the whole stays under the limit', () => {
  const long = 'x'.repeat(10_000);
  const one = resolverPrompt(input({ task: { id: 'b', title: 'T', prompt: long, summary: null } }));
  expect(one).toContain('x'.repeat(MAX_TASK_PROMPT_CHARS) + '\n[… prompt cut here: 6000 more characters not shown]');
  expect(one).not.toContain('x'.repeat(MAX_TASK_PROMPT_CHARS + 1));

  // Twenty other tasks with long prompts and summaries, and the largest diffs prepareConflict sends.
  const many = resolverPrompt(
    input({
      task: { id: 'b', title: 'T', prompt: long, summary: long },
      others: Array.from({ length: 20 }, (_, i) => ({ id: `o${i}`, title: `Other ${i}`, prompt: long, summary: long })),
      conflict: {
        ...conflict,
        oursDiff: 'o'.repeat(12_000),
        theirsDiff: 't'.repeat(12_000),
        mergedLog: 'l\n'.repeat(5000),
      },
      feedback: Array.from({ length: 50 }, () => 'problem '.repeat(50)),
    }),
  );
  expect(many.length).toBeLessThanOrEqual(MAX_RESOLVER_PROMPT_CHARS);
  // What matters most survives: the rules, the files, the task, both diffs.
  expect(many).toContain('$FLOTILLA_CONFLICTS');
  expect(many).toContain('- src/app.ts');
  expect(many).toContain('o'.repeat(12_000));
  expect(many).toContain('t'.repeat(12_000));
  expect(many).toContain('### Task "o0": Other 0');
});
