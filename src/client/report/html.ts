/**
 * The report page: one self-contained HTML file (`flotilla report`) that draws {@link ReportData}
 * with Apache ECharts, inlined from its minified build, so the file opens offline and makes no
 * request at view time (its Content-Security-Policy forbids any).
 *
 * No user string is written into the markup: the data travels as JSON in a
 * `<script type="application/json">` (every `<` escaped, so no `</script>` can close it), and the
 * page's script puts text into the document with `textContent` and escapes what goes into chart
 * tooltips (which ECharts renders as HTML).
 */
import { readFileSync } from 'node:fs';
import type { ReportData } from './build';

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

/**
 * The page's own script (plain ES2017, run by the browser): reads the JSON and draws the header,
 * the four charts and the two tables. Kept free of template-literal placeholders on purpose: it is
 * embedded in the TypeScript template above.
 */
const PAGE_SCRIPT = String.raw`
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var m = data.mission;

  var STATUS_COLORS = { pending: '#9aa5b1', running: '#1e88e5', succeeded: '#7cb342', merged: '#2e7d32',
    failed: '#e53935', skipped: '#bcaaa4', conflict: '#fb8c00', cancelled: '#616161' };
  var PHASE_COLORS = { planning: '#9aa5b1', running: '#1e88e5', paused: '#f9a825', merging: '#1e88e5',
    blocked: '#fb8c00', completed: '#2e7d32', failed: '#e53935', cancelled: '#616161' };
  // Timeline kinds, in drawing order: [kind, legend name, colour, bar height (share of a row)].
  var KINDS = [
    ['run', 'mission run', '#cfd8dc', 0.3], ['waiting', 'waiting for dependencies', '#e4e7eb', 0.5],
    ['queued', 'queued', '#9aa5b1', 0.5], ['not-started', 'never started', '#d7ccc8', 0.5],
    ['setup', 'worktree / setup', '#90caf9', 0.7], ['retried', 'retried attempts', '#ef9a9a', 0.7],
    ['agent', 'agent attempt', '#1e88e5', 0.7], ['rate-limit', 'rate-limit wait', '#ffb300', 0.7],
    ['wait', 'timer', '#ffe082', 0.7], ['commit', 'commit / checkpoint', '#4db6ac', 0.7],
    ['gate', 'gate (task verify)', '#8e24aa', 0.7], ['merge', 'merge', '#43a047', 0.7],
    ['resolve', 'conflict resolution', '#ce93d8', 0.7], ['resolver', 'resolver agent', '#d81b60', 0.7],
    ['verify', 'mission verify', '#00897b', 0.7], ['land', 'land', '#6d4c41', 0.7], ['merged', 'merged', '#1b5e20', 0.9]
  ];
  var FAILED = '#e53935';

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') e.textContent = attrs[k];
      else if (k === 'style') e.style.cssText = attrs[k];
      else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return e;
  }
  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function dur(ms) {
    if (ms < 1000) return Math.round(ms) + 'ms';
    var s = Math.round(ms / 1000);
    if (s < 60) return s + 's';
    var mi = Math.floor(s / 60);
    if (mi < 60) return mi + 'm ' + (s % 60) + 's';
    return Math.floor(mi / 60) + 'h ' + (mi % 60) + 'm';
  }
  function time(ms) { return ms == null ? '-' : new Date(ms).toLocaleString(); }
  function clock(ms) { return new Date(ms).toLocaleTimeString(); }
  function usd(x) { return '$' + (x || 0).toFixed(x >= 1 ? 2 : 4); }
  function num(x) { return (x || 0).toLocaleString(); }
  function chart(id, height) {
    var node = document.getElementById(id);
    node.style.height = height + 'px';
    var c = echarts.init(node, null, { renderer: 'svg' });
    window.addEventListener('resize', function () { c.resize(); });
    return c;
  }

  // Header
  document.title = 'mission ' + m.id + ' · ' + m.phase + ' · Flotilla report';
  var c = m.counts;
  var header = document.getElementById('header');
  header.appendChild(el('h1', {}, ['mission ' + m.id,
    el('span', { class: 'badge', text: m.phase, style: 'background:' + (PHASE_COLORS[m.phase] || '#616161') })]));
  if (m.reason && m.phase !== 'completed') header.appendChild(el('div', { class: 'reason', text: m.reason }));
  var stats = [
    [c.merged + ' / ' + c.total, 'tasks merged (' + m.percent + '% finished)'],
    [String(c.failed + c.conflict), 'failed or in conflict'],
    [String(c.skipped + c.cancelled), 'skipped or cancelled'],
    [String(c.running + c.pending + c.succeeded), 'running, pending or waiting to merge'],
    [usd(m.costUsd) + (m.budgetUsd ? ' of ' + usd(m.budgetUsd) : ''), 'cost'],
    [num(m.inputTokens) + ' / ' + num(m.outputTokens), 'input / output tokens'],
    [dur(m.durationMs), m.endedAt ? 'from start to end' : 'so far (running)'],
    [String(data.failures.length), 'failures and conflicts listed below']
  ];
  var grid = el('div', { class: 'stats' });
  stats.forEach(function (s) { grid.appendChild(el('div', { class: 'stat' }, [el('b', { text: s[0] }), el('span', { text: s[1] })])); });
  header.appendChild(grid);
  header.appendChild(el('div', { class: 'meta', text: 'repository ' + m.repo + ' · base ' + m.baseBranch + ' → ' +
    m.integrationBranch + (m.integrationSha ? ' @ ' + m.integrationSha.slice(0, 12) : '') }));
  header.appendChild(el('div', { class: 'meta', text: 'started ' + time(m.startedAt) + (m.endedAt ? ' · ended ' + time(m.endedAt) : '') +
    ' · ' + m.runs + ' workflow run' + (m.runs === 1 ? '' : 's') + (m.concurrency ? ' · concurrency ' + m.concurrency : '') }));
  if (m.uiUrl && /^https?:\/\//.test(m.uiUrl))
    header.appendChild(el('div', { class: 'meta' }, ['Temporal Web UI: ', el('a', { href: m.uiUrl, text: m.uiUrl })]));
  document.getElementById('footer').textContent = 'Generated by flotilla report at ' + time(data.generatedAt) +
    ' from the workflow histories of ' + m.workflowId + ' and its tasks.';

  // Timeline: one custom series per kind, so the legend names and toggles them.
  var rows = data.rows;
  var rowIndex = {};
  rows.forEach(function (r, i) { rowIndex[r.id] = i; });
  var kindInfo = {};
  KINDS.forEach(function (k) { kindInfo[k[0]] = k; });
  var visibleRows = Math.min(rows.length, 28);
  var tl = chart('timeline', visibleRows * 26 + 160);
  function renderItem(params, api) {
    var k = kindInfo[params.seriesId];
    var row = api.value(0);
    var from = api.coord([api.value(1), row]);
    var to = api.coord([api.value(2), row]);
    var h = api.size([0, 1])[1] * k[3];
    var w = Math.max(to[0] - from[0], k[0] === 'merged' ? 3 : 2);
    var x = k[0] === 'merged' ? from[0] - 1.5 : from[0];
    var cs = params.coordSys;
    var rect = echarts.graphic.clipRectByRect({ x: x, y: from[1] - h / 2, width: w, height: h },
      { x: cs.x, y: cs.y, width: cs.width, height: cs.height });
    return rect && { type: 'rect', shape: rect, style: api.style() };
  }
  function itemStyle(seg, k) {
    var s = { color: k[2] };
    // A failed mission run is drawn lighter: a thin line under the whole mission, not an alarm.
    if (seg.outcome === 'failed' && k[0] === 'run') s.color = '#ef9a9a';
    else if (seg.outcome === 'failed' && k[0] !== 'retried') { s.color = FAILED; s.borderColor = '#8e0000'; s.borderWidth = 1; }
    if (seg.outcome === 'cancelled' && k[0] !== 'not-started') { s.color = '#bdbdbd'; s.borderColor = '#616161'; s.borderWidth = 1; s.borderType = 'dashed'; }
    if (seg.outcome === 'running') { s.opacity = 0.65; s.borderColor = k[2]; s.borderWidth = 1; s.borderType = 'dashed'; }
    return s;
  }
  var series = KINDS.filter(function (k) {
    return data.segments.some(function (s) { return s.kind === k[0]; });
  }).map(function (k) {
    return {
      type: 'custom', id: k[0], name: k[1], renderItem: renderItem, color: k[2],
      encode: { x: [1, 2], y: 0 }, clip: true,
      data: data.segments.map(function (s, i) { return [s, i]; }).filter(function (p) {
        return p[0].kind === k[0] && rowIndex[p[0].row] !== undefined;
      }).map(function (p) {
        return { value: [rowIndex[p[0].row], p[0].start, p[0].end, p[1]], itemStyle: itemStyle(p[0], k) };
      })
    };
  });
  // The legend wraps (about eight entries a line): the plot starts below it.
  var legendLines = Math.ceil(series.length / 8);
  var t0 = m.startedAt;
  var t1 = Math.max(m.endedAt || data.generatedAt, t0 + 1000);
  tl.setOption({
    animation: false,
    legend: { top: 0 },
    tooltip: {
      trigger: 'item', confine: true, extraCssText: 'max-width:560px;white-space:normal;',
      formatter: function (p) {
        var s = data.segments[p.value[3]];
        var row = rows[p.value[0]];
        var html = '<b>' + esc(row.label) + '</b> · ' + esc(kindInfo[s.kind][1]) + (s.outcome !== 'ok' ? ' · <b>' + esc(s.outcome) + '</b>' : '') +
          '<br>' + esc(s.label) + '<br>' + esc(clock(s.start)) + (s.end > s.start ? ' → ' + esc(clock(s.end)) + ' (' + esc(dur(s.end - s.start)) + ')' : '');
        if (s.summary) html += '<br><i>' + esc(s.summary) + '</i>';
        if (s.detail) html += '<pre>' + esc(s.detail.length > 1500 ? s.detail.slice(0, 1500) + '…' : s.detail) + '</pre>';
        return html;
      }
    },
    grid: { top: 36 + 24 * legendLines, left: 150, right: rows.length > visibleRows ? 50 : 24, bottom: 60 },
    xAxis: { type: 'time', min: t0, max: t1, position: 'top', axisLabel: { hideOverlap: true }, splitLine: { show: true, lineStyle: { color: '#eef0f3' } } },
    yAxis: { type: 'category', inverse: true, data: rows.map(function (r) { return r.label; }),
      axisLabel: { interval: 0, width: 135, overflow: 'truncate', fontWeight: 'normal' },
      axisTick: { show: false }, splitLine: { show: true, lineStyle: { color: '#f3f4f6' } } },
    dataZoom: [
      { type: 'slider', xAxisIndex: 0, filterMode: 'weakFilter', height: 22, bottom: 12, labelFormatter: function (v) { return clock(v); } },
      { type: 'inside', xAxisIndex: 0, filterMode: 'weakFilter', zoomOnMouseWheel: 'ctrl', moveOnMouseWheel: false, moveOnMouseMove: true },
    ].concat(rows.length > visibleRows ? [
      { type: 'slider', yAxisIndex: 0, right: 8, width: 18, startValue: 0, endValue: visibleRows - 1, zoomLock: true, showDetail: false, filterMode: 'weakFilter' },
      { type: 'inside', yAxisIndex: 0, startValue: 0, endValue: visibleRows - 1, zoomOnMouseWheel: false, moveOnMouseWheel: true, moveOnMouseMove: false, filterMode: 'weakFilter' }
    ] : []),
    series: series
  });

  // Dependency graph: waves left to right, on hidden value axes (a cartesian graph, so every
  // node keeps its size whatever the shape of the plan).
  var statuses = Object.keys(STATUS_COLORS);
  var perWave = {};
  var nodes = data.tasks.map(function (t) {
    var i = perWave[t.wave] = (perWave[t.wave] || 0) + 1;
    return { id: t.id, name: t.id, value: [t.wave, i - 1], category: statuses.indexOf(t.status), task: t };
  });
  var waves = data.tasks.reduce(function (a, t) { return Math.max(a, t.wave + 1); }, 1);
  var tallest = Object.keys(perWave).reduce(function (a, w) { return Math.max(a, perWave[w]); }, 1);
  var shownNodes = Math.min(tallest, 14);
  var links = [];
  data.tasks.forEach(function (t) {
    t.dependsOn.forEach(function (d) { links.push({ source: d, target: t.id, kind: 'dependsOn' }); });
    t.after.forEach(function (d) {
      links.push({ source: d, target: t.id, kind: 'touches', lineStyle: { type: 'dashed', color: '#9aa5b1' } });
    });
  });
  var g = chart('graph', shownNodes * 46 + 110);
  g.setOption({
    animation: false,
    legend: { top: 0, data: statuses },
    grid: { top: 60, bottom: 16, left: 40, right: 160 },
    xAxis: { type: 'category', position: 'top', data: Array.from({ length: waves }, function (_, i) { return 'wave ' + i; }),
      axisLine: { show: false }, axisTick: { show: false }, splitLine: { show: true, lineStyle: { color: '#f3f4f6' } } },
    yAxis: { type: 'value', inverse: true, min: -0.5, max: tallest - 0.5, show: false },
    dataZoom: tallest > shownNodes ? [
      { type: 'inside', yAxisIndex: 0, startValue: -0.5, endValue: shownNodes - 0.5, zoomOnMouseWheel: false, moveOnMouseWheel: true, filterMode: 'none' },
      { type: 'slider', yAxisIndex: 0, right: 8, width: 16, startValue: -0.5, endValue: shownNodes - 0.5, zoomLock: true, showDetail: false, filterMode: 'none' }
    ] : [],
    tooltip: {
      confine: true, extraCssText: 'max-width:520px;white-space:normal;',
      formatter: function (p) {
        if (p.dataType === 'edge')
          return esc(p.data.source) + ' → ' + esc(p.data.target) + (p.data.kind === 'touches' ? ' (touches overlap: serialized)' : ' (depends on)');
        var t = p.data.task;
        return '<b>' + esc(t.id) + '</b> · ' + esc(t.status) + '<br>' + esc(t.title) + '<br>wave ' + t.wave + ' · ' + esc(t.runtime) +
          (t.model ? ' · ' + esc(t.model) : '') + ' · attempts ' + t.attempts + ' · ' + esc(usd(t.costUsd)) +
          (t.error ? '<pre>' + esc(t.error.slice(0, 800)) + '</pre>' : '');
      }
    },
    series: [{
      type: 'graph', coordinateSystem: 'cartesian2d', symbolSize: 18, edgeSymbol: ['none', 'arrow'], edgeSymbolSize: 8,
      label: { show: true, position: 'right', formatter: '{b}' },
      lineStyle: { color: '#52606d', width: 1.2, curveness: 0.15, opacity: 0.9 },
      categories: statuses.map(function (s) { return { name: s, itemStyle: { color: STATUS_COLORS[s] } }; }),
      data: nodes, links: links
    }]
  });

  // Cost and tokens.
  var ids = data.tasks.map(function (t) { return t.id; });
  var many = ids.length > 30;
  var zoom = many ? [{ type: 'slider', height: 16, bottom: 6, endValue: 29 }, { type: 'inside' }] : [];
  var anyCost = data.tasks.some(function (t) { return t.costUsd > 0; }) || data.costByRuntime.some(function (r) { return r.costUsd > 0; });
  var anyTokens = data.tasks.some(function (t) { return t.inputTokens + t.outputTokens > 0; });
  document.getElementById('cost-note').textContent = (anyCost || anyTokens) ?
    'As the agents reported them (Claude reports cost and tokens; Codex tokens; command agents nothing). Resolver agents count apart.' :
    'No agent of this mission reported cost or tokens (command agents report none).';
  var usdAxis = { type: 'value', name: 'USD', axisLabel: { formatter: function (v) { return '$' + v; } } };
  if (!anyCost && !anyTokens) document.getElementById('per-task').style.display = 'none';
  else chart('cost-task', 300).setOption({
    title: { text: 'cost per task', textStyle: { fontSize: 13 } }, tooltip: { trigger: 'axis', valueFormatter: function (v) { return usd(v); } },
    grid: { top: 40, left: 60, right: 16, bottom: many ? 80 : 60 }, dataZoom: zoom,
    xAxis: { type: 'category', data: ids, axisLabel: { rotate: 40, interval: 0 } }, yAxis: usdAxis,
    series: [{ type: 'bar', name: 'cost', barMaxWidth: 48, data: data.tasks.map(function (t) { return { value: t.costUsd, itemStyle: { color: STATUS_COLORS[t.status] } }; }) }]
  });
  if (anyCost || anyTokens) chart('tokens-task', 300).setOption({
    title: { text: 'tokens per task', textStyle: { fontSize: 13 } }, tooltip: { trigger: 'axis' }, legend: { right: 0 },
    grid: { top: 40, left: 70, right: 16, bottom: many ? 80 : 60 }, dataZoom: zoom,
    xAxis: { type: 'category', data: ids, axisLabel: { rotate: 40, interval: 0 } }, yAxis: { type: 'value' },
    series: [
      { type: 'bar', name: 'input', stack: 't', barMaxWidth: 48, color: '#5c6bc0', data: data.tasks.map(function (t) { return t.inputTokens; }) },
      { type: 'bar', name: 'output', stack: 't', color: '#26a69a', data: data.tasks.map(function (t) { return t.outputTokens; }) }
    ]
  });
  var rt = data.costByRuntime;
  chart('cost-runtime', anyCost || anyTokens ? 280 : 200).setOption({
    title: { text: 'per runtime', textStyle: { fontSize: 13 } }, tooltip: { trigger: 'axis' }, legend: { right: 0, top: 0 },
    grid: { top: 56, left: 60, right: 70, bottom: 30 },
    xAxis: { type: 'category', data: rt.map(function (r) { return r.label + (r.tasks ? ' (' + r.tasks + ' task' + (r.tasks === 1 ? '' : 's') + ')' : ''); }) },
    yAxis: [usdAxis, { type: 'value', name: 'tokens' }],
    series: [
      { type: 'bar', name: 'cost', color: '#ef6c00', barMaxWidth: 64, data: rt.map(function (r) { return r.costUsd; }), tooltip: { valueFormatter: function (v) { return usd(v); } } },
      { type: 'bar', name: 'input tokens', stack: 't', yAxisIndex: 1, barMaxWidth: 64, color: '#5c6bc0', data: rt.map(function (r) { return r.inputTokens; }) },
      { type: 'bar', name: 'output tokens', stack: 't', yAxisIndex: 1, color: '#26a69a', data: rt.map(function (r) { return r.outputTokens; }) }
    ]
  });

  // Failures.
  var KIND_COLORS = { mission: '#b71c1c', task: FAILED, attempt: '#ef6c00', gate: '#8e24aa', verify: '#00897b', conflict: '#fb8c00' };
  var fl = document.getElementById('failures');
  if (data.failures.length === 0) fl.appendChild(el('p', { class: 'empty', text: 'Nothing failed.' }));
  else {
    var tb = el('tbody');
    data.failures.forEach(function (f) {
      tb.appendChild(el('tr', {}, [
        el('td', { class: 'num', text: f.at ? clock(f.at) : '' }),
        el('td', {}, [el('span', { class: 'kind', text: f.kind, style: 'background:' + (KIND_COLORS[f.kind] || '#616161') })]),
        el('td', { text: f.taskId || '' }),
        el('td', {}, [f.message, f.detail ? el('details', {}, [el('summary', { text: 'more' }), el('pre', { text: f.detail })]) : null])
      ]));
    });
    fl.appendChild(el('div', { class: 'scroll' }, [el('table', {}, [el('thead', {}, [el('tr', {}, ['when', 'kind', 'task', 'what'].map(function (h) {
      return el('th', { text: h });
    }))]), tb])]));
  }

  // Tasks.
  var body = el('tbody');
  data.tasks.forEach(function (t) {
    body.appendChild(el('tr', {}, [
      el('td', { text: t.id }), el('td', { text: t.title }), el('td', { class: 'num', text: String(t.wave) }),
      el('td', {}, [el('span', { class: 'kind', text: t.status, style: 'background:' + STATUS_COLORS[t.status] })]),
      el('td', { text: t.runtime + (t.model ? ' · ' + t.model : '') }),
      el('td', { class: 'num', text: String(t.attempts) }), el('td', { class: 'num', text: String(t.iterations) }),
      el('td', { class: 'num', text: usd(t.costUsd) }), el('td', { class: 'num', text: num(t.inputTokens) + ' / ' + num(t.outputTokens) }),
      el('td', { class: 'num', text: t.durationMs === null ? '' : dur(t.durationMs) }),
      el('td', { text: t.error ? t.error.split('\n')[0].slice(0, 200) : '' })
    ]));
  });
  document.getElementById('tasks').appendChild(el('div', { class: 'scroll' }, [el('table', {}, [el('thead', {}, [el('tr', {},
    ['task', 'title', 'wave', 'status', 'runtime', 'attempts', 'iterations', 'cost', 'tokens in / out', 'took', 'error'].map(function (h) {
      return el('th', { text: h });
    }))]), body])]));
  document.body.setAttribute('data-rendered', 'true');
})();
`;
