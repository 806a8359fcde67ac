/**
 * The report page's own script (plain ES2017, run by the browser): reads the JSON the page embeds
 * and draws the header, the four charts (page-charts.ts) and the two tables. It puts text into
 * the document with `textContent` only. Kept free of template-literal placeholders on purpose:
 * it is embedded in the page's TypeScript template (html.ts).
 */
import { COST_CHARTS, GRAPH_CHART, TIMELINE_CHART } from './page-charts';

/** The script's start: the data, the colours and kinds, the helpers, and the page's header. */
const PRELUDE = String.raw`
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
`;

/** The failures and tasks tables, and the mark the page is drawn (`data-rendered`); the script's end. */
const TABLES = String.raw`
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

/** The whole script, in drawing order. */
export const PAGE_SCRIPT = PRELUDE + TIMELINE_CHART + GRAPH_CHART + COST_CHARTS + TABLES;
