/**
 * The report page's template: self-contained (ECharts inlined, a policy that forbids any
 * request), and safe with any user text: the data goes in as JSON that no `</script>` can close,
 * and no user string is written into the markup. (The page drawn in a real browser:
 * test/e2e/report.test.ts.)
 */
import { echartsSource, renderReportHtml, scriptJson } from '../../src/client/report/html';
import type { ReportData } from '../../src/client/report/model';

const HOSTILE = '</script><script>alert(1)</script><!-- <img src=x onerror=alert(2)> \u2028\u2029';

function data(): ReportData {
  return {
    generatedAt: 2000,
    mission: {
      id: 'm',
      workflowId: 'mission-m',
      phase: 'failed',
      reason: HOSTILE,
      repo: '/r',
      baseBranch: 'main',
      integrationBranch: 'flotilla/m/integration',
      integrationSha: null,
      startedAt: 1000,
      endedAt: 2000,
      durationMs: 1000,
      percent: 100,
      counts: {
        total: 1,
        pending: 0,
        running: 0,
        succeeded: 0,
        merged: 0,
        failed: 1,
        skipped: 0,
        conflict: 0,
        cancelled: 0,
      },
      costUsd: 0,
      inputTokens: 0,
      outputTokens: 0,
      budgetUsd: null,
      concurrency: 1,
      runs: 1,
      uiUrl: 'javascript:alert(3)',
    },
    tasks: [
      {
        id: 'a',
        title: HOSTILE,
        wave: 0,
        status: 'failed',
        runtime: 'command',
        model: null,
        dependsOn: [],
        after: [],
        attempts: 1,
        iterations: 1,
        turns: 0,
        costUsd: 0,
        inputTokens: 0,
        outputTokens: 0,
        startedAt: null,
        endedAt: null,
        durationMs: null,
        mergedAt: null,
        error: HOSTILE,
      },
    ],
    rows: [{ id: 'a', label: 'a', kind: 'task' }],
    segments: [{ row: 'a', kind: 'agent', start: 1000, end: 2000, outcome: 'failed', label: HOSTILE, detail: HOSTILE }],
    failures: [{ kind: 'task', taskId: 'a', at: 2000, message: HOSTILE, detail: HOSTILE }],
    costByRuntime: [{ label: 'command', tasks: 1, costUsd: 0, inputTokens: 0, outputTokens: 0 }],
  };
}

test('scriptJson: no `<` and no line separator survives, and JSON.parse reads the value back', () => {
  const json = scriptJson({ text: HOSTILE });
  expect(json).not.toMatch(/[<\u2028\u2029]/);
  expect(JSON.parse(json)).toEqual({ text: HOSTILE });
});

test('the page: ECharts inlined, a policy forbidding requests, the data back intact, no user string in the markup', () => {
  const echarts = 'window.echarts = {}; /* the library */';
  const html = renderReportHtml(data(), echarts);
  expect(html).toContain(`<script>${echarts}</script>`);
  expect(html).toContain(
    `content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"`,
  );
  expect(html).not.toMatch(/<(script|link|img|iframe)[^>]+(src|href)=/i);
  // Three scripts: the data, ECharts, the page; the hostile text opened none of its own.
  expect(html.match(/<script/g)).toHaveLength(3);
  expect(html).not.toContain('<img');
  expect(html).not.toContain('alert(1)</script>');
  const embedded = /<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(html)![1];
  expect(JSON.parse(embedded)).toEqual(data());
});

test('an ECharts build that could close its script element is refused', () => {
  expect(() => renderReportHtml(data(), 'var s = "</script>";')).toThrow(/contains <\/script/);
});

test('the ECharts build comes from node_modules, whole', () => {
  const source = echartsSource();
  expect(source.length).toBeGreaterThan(500_000);
  expect(source).toMatch(/echarts/);
  expect(source).not.toMatch(/<\/script/i);
});
