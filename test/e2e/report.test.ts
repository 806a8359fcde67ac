/**
 * `flotilla report` as a user meets it: `run` of a mission with a failed task (and its skipped
 * dependent), a task whose agent failed once and was retried, and a task that passed its gate on
 * the second iteration, which ends by writing the report and printing its link; `report --json`
 * and `report --out`; an unknown mission exits 4 with `status`'s message; the report opened in a real
 * headless Chromium: timeline and graph drawn, every task named, the failures and their causes
 * listed (user text shown as text), no console error and no request at all (it works offline).
 *
 * FLOTILLA_RECORD_HISTORIES=1 also writes the mission's histories to test/fixtures/report/, which
 * test/unit/report-data.test.ts reads.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { childRuns } from '../../src/client/report/history';
import type { ReportData } from '../../src/client/report/model';
import { renderReport } from '../helpers/browser';
import { cliSuite } from '../helpers/cli-suite';
import { makeRepo, tempDir } from '../helpers/git';

const suite = cliSuite('report', { timeoutMs: 120_000 });
const { home, flotilla } = suite;

// Scripted agents (test code): flaky fails its first attempt (a marker in its worktree) and is
// retried by Temporal; broken always fails, with markup in its message; gated passes its gate on
// the second iteration.
const MISSION = `id: report-failures
concurrency: 4
agent: { runtime: command, retries: 0, command: [bash, -c, 'exit 1'] }
tasks:
  - id: flaky
    title: Fails its first attempt
    prompt: p
    agent:
      retries: 1
      command: [bash, -c, 'if [ -e .tried ]; then rm .tried; echo ok > flaky.txt; else touch .tried; echo "first attempt fails" >&2; exit 1; fi']
  - id: broken
    title: Always fails
    prompt: p
    agent: { command: [bash, -c, 'echo "cannot </script><b>do</b> it" >&2; exit 3'] }
  - id: after-broken
    title: Depends on broken
    prompt: p
    dependsOn: [broken]
    agent: { command: [bash, -c, 'echo x > x.txt'] }
  - id: gated
    title: Passes its gate on the second iteration
    prompt: p
    verify: ['grep -q two gated.txt']
    maxIterations: 2
    agent: { command: [bash, -c, 'if [ -f gated.txt ]; then echo two > gated.txt; else echo one > gated.txt; fi'] }
`;
const TASKS = ['flaky', 'broken', 'after-broken', 'gated'];

test('run ends with the report of a failed, a retried and a gated task; it opens offline in Chromium', async () => {
  const repo = makeRepo();
  const file = path.join(repo, 'mission.yaml');
  writeFileSync(file, MISSION);
  const run = await flotilla(['run', file]);
  expect(run.code).toBe(1);
  const written = path.join(home, 'runs', 'report-failures', 'report.html');
  expect(run.stdout).toContain(`  report: file://${written}`);
  expect(existsSync(written)).toBe(true);

  // --json, --out, and an unknown mission (which exits as status does), at once.
  const out = path.join(tempDir('flotilla-report-out-'), 'nested', 'r.html');
  const [json, written2, unknown] = await Promise.all([
    flotilla(['report', 'report-failures', '--json']),
    flotilla(['report', 'report-failures', '--out', out]),
    flotilla(['report', 'nope']),
  ]);
  expect({ code: written2.code, stdout: written2.stdout.trim() }).toEqual({ code: 0, stdout: `file://${out}` });
  expect({ code: unknown.code, stderr: unknown.stderr }).toEqual({
    code: 4,
    stderr: 'flotilla: no mission "nope" in namespace default (see `flotilla list`)\n',
  });

  // The data: the retried attempt, the failed one, the gate's first iteration, the skipped dependent.
  expect(json.code).toBe(0);
  const data = JSON.parse(json.stdout) as ReportData;
  const spans = (row: string, kind: string) => data.segments.filter((s) => s.row === row && s.kind === kind);
  expect(spans('flaky', 'retried')).toHaveLength(1);
  expect(spans('flaky', 'retried')[0].detail).toMatch(/last failure: agent exited with code 1: first attempt fails/);
  expect(spans('flaky', 'agent').map((s) => [s.outcome, s.label.split(' · ')[0]])).toEqual([['ok', 'agent attempt 2']]);
  expect(spans('broken', 'agent').map((s) => s.outcome)).toEqual(['failed']);
  expect(spans('gated', 'gate').map((s) => s.outcome)).toEqual(['failed', 'ok']);
  expect(spans('after-broken', 'not-started')).toHaveLength(1);
  expect(data.failures.map((f) => [f.kind, f.taskId])).toEqual(
    expect.arrayContaining([
      ['attempt', 'flaky'],
      ['attempt', 'broken'],
      ['task', 'broken'],
      ['gate', 'gated'],
      ['task', 'after-broken'],
      ['mission', null],
    ]),
  );

  const page = await renderReport(written, 'report.png');
  if (page) {
    expect({ errors: page.errors, requests: page.requests }).toEqual({ errors: [], requests: [] });
    expect(page.title).toBe('mission report-failures · failed · Flotilla report');
    expect(page.timelineShapes).toBeGreaterThan(20);
    for (const id of TASKS) {
      expect(page.timeline).toContain(id);
      expect(page.graph).toContain(id);
      expect(page.tasks).toContain(id);
    }
    expect(page.header).toMatch(/not every task merged: broken failed, after-broken skipped/);
    // The agent's own words, markup and all, shown as text.
    expect(page.failures).toContain('agent exited with code 3: cannot </script><b>do</b> it');
    expect(page.failures).toMatch(/flaky: agent attempt 1 failed \(retried as attempt 2\)/);
    expect(page.failures).toMatch(/gated: gate iteration 1: `grep -q two gated.txt` failed \(exit 1\)/);
    expect(page.costRuntime).toContain('command (4 tasks)');
  }

  if (process.env.FLOTILLA_RECORD_HISTORIES) {
    const { historyToJSON } = await import('@temporalio/common/lib/proto-utils');
    const dir = path.join(__dirname, '..', 'fixtures', 'report');
    mkdirSync(dir, { recursive: true });
    const mission = await suite.env.client.workflow.getHandle('mission-report-failures').fetchHistory();
    writeFileSync(path.join(dir, 'mission-report-failures.json'), historyToJSON(mission));
    for (const c of childRuns(mission)) {
      const h = await suite.env.client.workflow.getHandle(c.workflowId, c.runId).fetchHistory();
      writeFileSync(path.join(dir, `${c.workflowId.replace(/[/]/g, '__')}.json`), historyToJSON(h));
    }
  }
  // The recorded report is plain text: the page's script, the data, ECharts.
  expect(readFileSync(written, 'utf8')).not.toMatch(/<\/script><b>/);
}, 120_000);
