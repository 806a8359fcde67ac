/**
 * The report page's charts, as parts of its script (see page-script.ts, which joins them): the
 * timeline, the dependency graph, and cost and tokens per task and per runtime, drawn with Apache
 * ECharts. Plain ES2017 run by the browser, in the page script's scope (`data`, `m`, `el`, `esc`,
 * `dur`, `clock`, `usd`, `chart`, the colours); free of template-literal placeholders on purpose.
 * Every user string that goes into a tooltip (which ECharts renders as HTML) goes through `esc`.
 */

/** The timeline: one row per task under the mission's rows, one custom series per kind of span. */
export const TIMELINE_CHART = String.raw`
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
`;

/** The dependency graph: tasks by wave, coloured by status; `dependsOn` arrows solid, `touches` dashed. */
export const GRAPH_CHART = String.raw`
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
`;

/** Cost and tokens per task (when any agent reported them) and per runtime. */
export const COST_CHARTS = String.raw`
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
`;
