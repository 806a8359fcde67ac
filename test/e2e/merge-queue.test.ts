/**
 * examples/merge-queue run as a new user runs it, with the real CLI (its own in-process worker)
 * on a real dev server: a conflict resolved by the resolver agent with both sides kept, a culprit
 * found by bisection and fixed by its agent, `touches` serializing two tasks, a dependent starting
 * before its dependency's wave-mates end; then `logs --resolver`, `land` and `clean --yes`. The
 * report `run` writes at the end opens in a real browser; its screenshot is the README's picture.
 */
import path from 'node:path';
import type { MissionProgress } from '../../src/mission/progress';
import { renderReport } from '../helpers/browser';
import { cliSuite } from '../helpers/cli-suite';
import { git } from '../helpers/git';

const suite = cliSuite('mq', { timeoutMs: 240_000 });
const { home, flotilla } = suite;

test('the merge-queue example: resolved, bisected, fixed, serialized; landed and cleaned', async () => {
  const run = await flotilla(['run', 'examples/merge-queue/mission.yaml']);
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  expect(run.stdout).toMatch(/mission merge-queue completed in .*: 6\/6 tasks merged/);
  expect(run.stdout).toContain(`  report: file://${path.join(home, 'runs', 'merge-queue', 'report.html')}`);
  const p = JSON.parse((await flotilla(['status', 'merge-queue', '--json'])).stdout) as MissionProgress;
  const t = (id: string) => p.tasks.find((x) => x.id === id)!;
  const repo = path.join(home, 'repos', 'merge-queue');
  const integration = p.integrationBranch;

  // Both greetings kept, each side's line outside the conflict too; no markers.
  const greet = git(repo, 'show', `${integration}:greet.txt`);
  for (const line of ['Greeting: Hello', 'Greeting: Bonjour', '# salutations', 'signed: en'])
    expect(greet).toContain(line);
  expect(greet).not.toMatch(/^(<<<<<<<|>>>>>>>|=======)/m);
  const resolved = p.mergeQueue!.conflicts.filter((c) => c.state === 'resolved');
  expect(resolved.map((c) => c.files)).toContainEqual(['greet.txt']);
  const first = resolved[0].taskId;
  const log = await flotilla(['logs', 'merge-queue', first, '--resolver']);
  expect(log.stdout).toContain('kept both sides of greet.txt (union merge)');

  // shout broke the verify: bisected out of its batch, sent back once, fixed, merged.
  expect(t('shout').attempts).toBe(2);
  expect(git(repo, 'show', `${integration}:notes.txt`)).toBe('a fixed note');
  const runs = p.mergeQueue!.verifyRuns;
  expect(runs.some((r) => r.kind === 'rerun' && !r.ok && r.taskIds.includes('shout'))).toBe(true);
  // Every commit on the integration branch's first-parent chain passes the verify.
  for (const sha of git(repo, 'rev-list', '--first-parent', integration).split('\n')) {
    expect(() => git(repo, 'grep', '-q', 'BROKEN', sha, '--', 'notes.txt')).toThrow();
  }

  // touches: docs-b started after docs-a was merged; polish started as soon as hello was merged,
  // before shout (a wave-0 task) was merged.
  expect(t('docs-b').startedAt! >= t('docs-a').mergedAt!).toBe(true);
  expect(t('polish').startedAt! >= t('hello').mergedAt!).toBe(true);
  expect(t('polish').startedAt! < t('shout').mergedAt!).toBe(true);
  // Merged worktrees were removed as they merged: only the integration worktree is left.
  const worktrees = git(repo, 'worktree', 'list', '--porcelain')
    .split('\n')
    .filter((l) => l.startsWith('worktree ') && l.includes(`${path.sep}worktrees${path.sep}`));
  expect(worktrees.map((l) => path.basename(l))).toEqual(['integration']);

  // The Web UI's list line and page for the mission, set by the CLI when it started it.
  const described = await suite.env.client.workflow.getHandle('mission-merge-queue').describe();
  expect(await described.staticSummary()).toBe('mission merge-queue · merge-queue · 6 tasks');
  expect(await described.staticDetails()).toContain('| 1 | `docs-b` | Document notes | docs-a (touches) | command |');

  // The report: every task on the timeline and in the graph, the verify runs, the conflicts.
  const page = await renderReport(path.join(home, 'runs', 'merge-queue', 'report.html'), 'report-merge-queue.png');
  if (page) {
    expect({ errors: page.errors, requests: page.requests }).toEqual({ errors: [], requests: [] });
    for (const id of p.tasks.map((x) => x.id)) {
      expect(page.timeline).toContain(id);
      expect(page.graph).toContain(id);
    }
    expect(page.timeline).toContain('mission verify');
    expect(page.failures).toMatch(/: merge conflict with [a-z, -]+ in greet.txt: resolved/);
    // The batch's tasks are listed in the order they reached the merge queue, which is the
    // machine's: shout may come first ("shout, polish"; seen once under load) or last.
    expect(page.failures).toMatch(/mission verify \(batch \d+ · rerun · [^)]*\bshout\b[^)]*\)/);
  }

  // Land on main (checked out in the scaffolded repository, clean), then clean up.
  const land = await flotilla(['land', 'merge-queue']);
  expect(land.code).toBe(0);
  expect(git(repo, 'rev-parse', 'main')).toBe(p.integrationSha);
  const clean = await flotilla(['clean', 'merge-queue', '--yes']);
  expect(clean.code).toBe(0);
  expect(git(repo, 'branch', '--list', 'flotilla/*')).toBe('');
  expect(git(repo, 'for-each-ref', '--format=%(refname)', 'refs/flotilla/archive/merge-queue/shout')).toBe(
    'refs/flotilla/archive/merge-queue/shout',
  );
}, 300_000);
