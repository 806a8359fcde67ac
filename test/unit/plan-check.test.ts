/**
 * The pure parts of `flotilla plan`: the gate-command check (gate-commands.ts), the template
 * loader (plan-template.ts), one round's check of a plan file (plan-check.ts) and the planner's
 * read-only sandbox (sandbox.ts with `readOnly`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sandboxMounts, type SandboxFacts } from '../../src/agents/sandbox';
import { MissionFileError } from '../../src/mission-file/errors';
import { commandProblem, gateCommandProblems } from '../../src/mission-file/gate-commands';
import { checkPlanFile } from '../../src/mission-file/plan-check';
import { loadTemplate } from '../../src/mission-file/plan-template';
import { makeRepo, tempDir } from '../helpers/git';

const repo = makeRepo({
  'package.json': JSON.stringify({ scripts: { test: 'node --test', build: 'tsc' } }),
  Makefile: 'check:\n\ttrue\n',
  'scripts/lint.sh': '#!/bin/sh\n',
});

describe('commandProblem', () => {
  test.each([
    ['npm test', null],
    ['npm run build', null],
    [['npm', 'run', 'build'], null],
    ['CI=1 npm test -- --coverage', null],
    ['make check', null],
    ['cd sub && make', null],
    ['node --test test/a.test.js', null],
    ['npm run lint', 'package.json has no "lint" script (it has: test, build)'],
    ['npm run-script lint', /no "lint" script/],
    ['make lint', 'Makefile has no target "lint"'],
    ['./scripts/missing.sh', './scripts/missing.sh does not exist in the repository (or is not executable)'],
    ['no-such-tool-xyz --check', 'no-such-tool-xyz is not installed on this host (not on PATH)'],
  ] as Array<[string | string[], string | RegExp | null]>)('%j', (command, expected) => {
    const why = commandProblem(command, repo);
    if (expected instanceof RegExp) expect(why).toMatch(expected);
    else expect(why).toBe(expected);
  });

  test('gateCommandProblems names each field, in a raw mission file too', () => {
    const problems = gateCommandProblems(
      {
        setup: ['npm ci'],
        verify: ['npm run e2e'],
        tasks: [{ verify: ['npm test'] }, { verify: ['make lint'] }, null],
      },
      repo,
    );
    expect(problems.map((p) => p.path)).toEqual(['tasks[1].verify[0]', 'verify[0]']);
  });
});

describe('loadTemplate', () => {
  const dir = tempDir('flotilla-template-');
  const write = (text: string): string => {
    const file = path.join(dir, `t${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, text);
    return file;
  };

  test('the planner block apart, the rest as defaults', () => {
    const t = loadTemplate(write('planner: { runtime: codex, model: m }\nconcurrency: 2\nverify: [npm test]\n'));
    expect(t.planner).toEqual({ runtime: 'codex', model: 'm' });
    expect(t.defaults).toEqual({ concurrency: 2, verify: ['npm test'] });
  });

  test.each([
    ['tasks', 'tasks:\n  - { id: a, prompt: p }\n', /tasks: a template has no tasks/],
    ['an unknown field', 'concurency: 2\n', /concurency/],
    ['a bad planner field', 'planner: { runtime: gpt }\n', /planner\.runtime: must be one of: claude, codex, command/],
    ['a list', '- a\n', /must be a mapping/],
  ])('refuses %s', (_name, text, message) => {
    const file = write(text);
    expect(() => loadTemplate(file)).toThrow(MissionFileError);
    expect(() => loadTemplate(file)).toThrow(message);
  });
});

describe('checkPlanFile', () => {
  const round = (plan: string | null) => {
    const dir = tempDir('flotilla-plan-round-');
    const planFile = path.join(dir, 'out', 'plan.yaml');
    mkdirSync(path.dirname(planFile));
    if (plan !== null) writeFileSync(planFile, plan);
    const missionFile = path.join(dir, 'mission.yaml');
    return checkPlanFile({
      planFile,
      missionFile,
      repo,
      base: 'main',
      id: 'p1',
      defaults: { concurrency: 2, agent: { runtime: 'command', command: ['true'] } },
      worktree: repo,
    });
  };

  test('no plan file: the planner is told where to write', async () => {
    expect(await round(null)).toEqual({ yaml: null, problems: [expect.stringMatching(/no plan was written/)] });
  });

  test('the loader and the gate commands are both reported in one round', async () => {
    const r = await round(
      'tasks:\n  - { id: a, prompt: p, dependsOn: [b], verify: [npm run lint] }\n  - { id: b, prompt: p, dependsOn: [a] }\n',
    );
    expect(r.problems).toEqual([
      expect.stringMatching(/dependency cycle/),
      expect.stringMatching(/^tasks\[0\]\.verify\[0\]: npm run lint: package\.json has no "lint" script/),
    ]);
    expect(r.yaml).toContain('repo: ');
  });

  test("a valid plan: the template's fields win, and where it runs is Flotilla's", async () => {
    const r = await round(
      'id: mine\nrepo: /elsewhere\nconcurrency: 9\ntasks:\n  - { id: a, prompt: p, verify: [npm test] }\n',
    );
    expect(r.problems).toEqual([]);
    expect(r.waves).toEqual([['a']]);
    expect(r.yaml).toContain(`repo: ${repo}`);
    expect(r.yaml).toContain('concurrency: 2');
    expect(r.yaml).not.toContain('/elsewhere');
    expect(r.yaml).toMatch(/^id: p1\n/);
  });
});

test('the planner sandbox: the worktree and its git dirs read-only, only the plan folder writable', () => {
  const facts: SandboxFacts = {
    bwrap: '/usr/bin/bwrap',
    worktree: '/home/u/.flotilla/worktrees/plan-p/base',
    git: { gitDir: '/work/app/.git/worktrees/base', commonDir: '/work/app/.git' },
    hide: ['/home/u'],
    seal: ['/home/u/.flotilla'],
    programs: [],
    state: ['/home/u/.claude'],
    setenv: {},
    readOnly: true,
    writable: ['/home/u/.flotilla/runs/plan-p/planner/out'],
  };
  const mounts = sandboxMounts(facts, () => true);
  const rw = mounts.filter((m) => m.kind === 'rw').map((m) => m.path);
  expect(rw.sort()).toEqual(['/home/u/.claude', '/home/u/.flotilla/runs/plan-p/planner/out']);
  expect(mounts).toEqual(
    expect.arrayContaining([
      { kind: 'ro', path: '/work/app/.git' },
      { kind: 'ro', path: '/work/app/.git/worktrees/base' },
      { kind: 'ro', path: facts.worktree },
    ]),
  );
});
