/**
 * The report page: one self-contained HTML file (`flotilla report`) that draws {@link ReportData}
 * with Apache ECharts, inlined from its minified build, so the file opens offline and makes no
 * request at view time (its Content-Security-Policy forbids any).
 *
 * No user string is written into the markup: the data travels as JSON in a
 * `<script type="application/json">` (every `<` escaped, so no `</script>` can close it), and the
 * page's script (page-script.ts, its charts in page-charts.ts) puts text into the document with
 * `textContent` and escapes what goes into chart tooltips (which ECharts renders as HTML).
 */
import { readFileSync } from 'node:fs';
import type { ReportData } from './model';
import { PAGE_SCRIPT } from './page-script';

/**
 * The minified ECharts build from node_modules, read at report time.
 * @throws Error when the `echarts` package is not installed (`npm ci` installs it)
 */
export function echartsSource(): string {
  return readFileSync(require.resolve('echarts/dist/echarts.min.js'), 'utf8');
}

/**
 * JSON for a `<script type="application/json">`: `<` (so `</script>` and `<!--` cannot appear) and
 * the two line separators JavaScript once treated as newlines are written as `\u` escapes, which
 * `JSON.parse` reads back unchanged.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/**
 * The report's HTML.
 * @param echarts the ECharts build to inline (see {@link echartsSource})
 * @throws Error when `echarts` could close its own script element (it never does: a check, not a fix)
 */
export function renderReportHtml(data: ReportData, echarts: string): string {
  if (/<\/script/i.test(echarts)) throw new Error('the ECharts build contains </script and cannot be inlined');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>Flotilla mission report</title>
<style>${STYLE}</style>
</head>
<body>
<header id="header"></header>
<main>
<section><h2>Timeline</h2>
<p class="hint">One row per task, in wave order, under the mission's own work and its verify runs. Hover a span for its
details; the mouse wheel scrolls the rows, Ctrl + wheel zooms in time, dragging pans; click a legend entry to hide it.</p>
<div id="timeline" class="chart"></div></section>
<section><h2>Dependency graph</h2>
<p class="hint">Tasks by wave, coloured by status. Solid arrows: <code>dependsOn</code>; dashed: serialized because their
<code>touches</code> overlap. Hover a task for its title, cost and error.</p>
<div id="graph" class="chart"></div></section>
<section><h2>Cost and tokens</h2><p class="hint" id="cost-note"></p>
<div class="grid" id="per-task"><div id="cost-task" class="chart"></div><div id="tokens-task" class="chart"></div></div>
<div id="cost-runtime" class="chart"></div></section>
<section><h2>Failures</h2><div id="failures"></div></section>
<section><h2>Tasks</h2><div id="tasks"></div></section>
</main>
<footer id="footer"></footer>
<script type="application/json" id="report-data">${scriptJson(data)}</script>
<script>${echarts}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

const STYLE = String.raw`
:root { --fg: #1f2933; --muted: #616e7c; --line: #e4e7eb; --bg: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header, main, footer { max-width: 1500px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 20px; }
h1 { font-size: 22px; margin: 0 0 6px; }
h2 { font-size: 17px; margin: 0 0 6px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 18px; margin: 16px 0; }
.hint { color: var(--muted); margin: 0 0 10px; font-size: 13px; }
.badge { display: inline-block; padding: 1px 10px; border-radius: 10px; color: #fff; font-size: 13px; vertical-align: 3px; margin-left: 8px; }
.reason { margin: 4px 0 10px; color: #8a2c0d; }
.stats { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 8px; margin: 10px 0; }
.stat { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 8px 12px; }
.stat b { display: block; font-size: 18px; }
.stat span { color: var(--muted); font-size: 12px; }
.meta { color: var(--muted); font-size: 13px; margin: 2px 0; word-break: break-all; }
.chart { width: 100%; min-height: 240px; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
@media (max-width: 900px) { .grid { grid-template-columns: 1fr; } }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg); position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.scroll { max-height: 480px; overflow: auto; }
pre { white-space: pre-wrap; word-break: break-word; background: var(--bg); padding: 6px 8px; border-radius: 4px; margin: 4px 0 0; max-height: 260px; overflow: auto; }
.kind { display: inline-block; padding: 0 6px; border-radius: 4px; font-size: 12px; color: #fff; }
footer { color: var(--muted); font-size: 12px; padding-bottom: 24px; }
.empty { color: var(--muted); }
`;
