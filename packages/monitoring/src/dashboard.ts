/*
 * The live dashboard: one self-contained HTML page (inline CSS, JS and SVG; no CDN, no font,
 * no image) that polls the stats endpoint and draws request rate, error rate and latency
 * percentiles. The script and the style never change, so their SHA-256 hashes are computed
 * once, here, and the Content-Security-Policy allows exactly them: no 'unsafe-inline', no
 * nonce to generate per request. The only variable, the stats URL, travels in a data-
 * attribute.
 */
import { createHash } from 'node:crypto'

const STYLE = `
:root { color-scheme: light dark; --bg: #f6f7f9; --fg: #1d2330; --muted: #667085; --card: #fff;
  --line: #e4e7ec; --rate: #2563eb; --err: #dc2626; --p50: #059669; --p95: #d97706; --p99: #7c3aed; }
@media (prefers-color-scheme: dark) { :root { --bg: #0f1218; --fg: #e6e9ef; --muted: #98a2b3;
  --card: #181c25; --line: #2a3040; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  background: var(--bg); color: var(--fg); }
header { display: flex; align-items: baseline; gap: 12px; padding: 16px 24px; flex-wrap: wrap; }
h1 { font-size: 18px; margin: 0; }
h2 { font-size: 13px; font-weight: 600; margin: 0 0 8px; color: var(--muted); text-transform: uppercase;
  letter-spacing: .04em; }
#status { font-size: 12px; padding: 2px 8px; border-radius: 999px; background: var(--line); }
#status.live { background: #dcfce7; color: #166534; }
#status.offline { background: #fee2e2; color: #991b1b; }
main { padding: 0 24px 24px; display: grid; gap: 16px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 12px; }
.card, .panel { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; }
.card b { display: block; font-size: 20px; font-variant-numeric: tabular-nums; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.card span { color: var(--muted); font-size: 12px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 16px; }
svg { width: 100%; height: 160px; display: block; }
.grid { stroke: var(--line); stroke-width: 1; }
.scale, #updated { color: var(--muted); font-size: 12px; font-weight: 400; text-transform: none; letter-spacing: 0; float: right; }
#updated { float: none; }
polyline { fill: none; stroke-width: 2; stroke-linejoin: round; stroke-linecap: round; }
.rate { stroke: var(--rate); } .err { stroke: var(--err); }
.p50 { stroke: var(--p50); } .p95 { stroke: var(--p95); } .p99 { stroke: var(--p99); }
.legend { display: flex; gap: 12px; font-size: 12px; color: var(--muted); margin-top: 6px; }
.legend i { display: inline-block; width: 10px; height: 3px; margin-right: 4px; vertical-align: middle; }
.legend .rate, .legend .err, .legend .p50, .legend .p95, .legend .p99 { background: currentColor; }
.legend .rate { color: var(--rate); } .legend .err { color: var(--err); } .legend .p50 { color: var(--p50); }
.legend .p95 { color: var(--p95); } .legend .p99 { color: var(--p99); }
footer { color: var(--muted); font-size: 12px; padding: 0 24px 24px; }
`

const SCRIPT = `
'use strict';
(function () {
  var NS = 'http://www.w3.org/2000/svg';
  var W = 600, H = 160, TOP = 14, MAX_POINTS = 120;
  var statsUrl = document.body.getAttribute('data-stats') || 'stats';
  var asked = Number(new URLSearchParams(location.search).get('interval'));
  var interval = asked >= 250 && asked <= 60000 ? asked : 1000;
  var data = { rate: [], err: [], p50: [], p95: [], p99: [] };
  var previous = null;
  var charts = {};

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    for (var k in attrs) node.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(node);
    return node;
  }

  function chart(id, keys) {
    var svg = document.getElementById(id);
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.setAttribute('preserveAspectRatio', 'none');
    for (var i = 0; i <= 4; i++) {
      var y = TOP + ((H - TOP - 1) * i) / 4;
      el('line', { x1: 0, x2: W, y1: y, y2: y, class: 'grid', 'vector-effect': 'non-scaling-stroke' }, svg);
    }
    var label = document.getElementById('scale-' + id);
    var lines = {};
    keys.forEach(function (key) {
      lines[key] = el('polyline', { class: key, points: '', 'vector-effect': 'non-scaling-stroke' }, svg);
    });
    charts[id] = { keys: keys, lines: lines, label: label };
  }

  function niceMax(v, floor) {
    var m = Math.max(v, floor);
    var p = Math.pow(10, Math.floor(Math.log10(m)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= m) return steps[i] * p;
    return 10 * p;
  }

  function draw(id, floor, unit) {
    var c = charts[id];
    var max = 0;
    c.keys.forEach(function (k) { data[k].forEach(function (v) { if (v > max) max = v; }); });
    max = niceMax(max, floor);
    c.label.textContent = 'max ' + fmt(max) + ' ' + unit;
    c.keys.forEach(function (k) {
      var values = data[k];
      var step = W / (MAX_POINTS - 1);
      var points = [];
      for (var i = 0; i < values.length; i++) {
        var x = W - (values.length - 1 - i) * step;
        var y = H - 1 - (values[i] / max) * (H - TOP - 1);
        points.push(x.toFixed(1) + ',' + y.toFixed(1));
      }
      c.lines[k].setAttribute('points', points.join(' '));
    });
  }

  function push(key, value) {
    var list = data[key];
    list.push(typeof value === 'number' && isFinite(value) ? value : 0);
    if (list.length > MAX_POINTS) list.shift();
  }

  function count(v) {
    return typeof v === 'number' && isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–';
  }

  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) return '–';
    if (v >= 100) return Math.round(v).toLocaleString('en-US');
    if (v >= 10) return v.toFixed(1);
    return v.toFixed(2);
  }

  function bytes(v) {
    var units = ['B', 'KiB', 'MiB', 'GiB'];
    var i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return fmt(v) + ' ' + units[i];
  }

  function duration(s) {
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + m + 'm ' + Math.floor(s % 60) + 's';
  }

  function set(id, text) { document.getElementById(id).textContent = text; }

  function status(kind, text) {
    var node = document.getElementById('status');
    node.className = kind;
    node.textContent = text;
  }

  function update(s) {
    var now = Date.now();
    if (previous === null) {
      push('rate', s.lastMinute.perSecond);
      push('err', s.lastMinute.errorRate * 100);
    } else {
      var seconds = (now - previous.time) / 1000;
      var requests = Math.max(0, s.requests.total - previous.total);
      var errors = Math.max(0, s.requests.errors - previous.errors);
      push('rate', seconds > 0 ? requests / seconds : 0);
      push('err', requests > 0 ? (errors / requests) * 100 : 0);
    }
    previous = { time: now, total: s.requests.total, errors: s.requests.errors };
    push('p50', s.latency.p50);
    push('p95', s.latency.p95);
    push('p99', s.latency.p99);
    draw('chart-rate', 1, 'req/s');
    draw('chart-errors', 1, '%');
    draw('chart-latency', 1, 'ms');
    set('n-total', count(s.requests.total));
    set('n-rps', fmt(s.lastMinute.perSecond));
    set('n-errors', count(s.requests.errors));
    set('n-error-rate', fmt(s.requests.errorRate * 100) + ' %');
    set('n-active', count(s.requests.active));
    set('n-aborted', count(s.requests.aborted));
    set('n-p50', fmt(s.latency.p50) + ' ms');
    set('n-p95', fmt(s.latency.p95) + ' ms');
    set('n-p99', fmt(s.latency.p99) + ' ms');
    set('n-min', fmt(s.latency.min) + ' ms');
    set('n-avg', fmt(s.latency.avg) + ' ms');
    set('n-max', fmt(s.latency.max) + ' ms');
    set('n-rss', bytes(s.memory.rss));
    set('n-heap', bytes(s.memory.heapUsed));
    set('n-cpu', fmt(s.cpu.percent) + ' %');
    set('n-uptime', duration(s.uptime));
    set('n-processes', s.processes + (s.missing ? ' (' + s.missing + ' missing)' : ''));
    set('n-series', count(s.series.count) + ' / ' + count(s.series.max));
    set('updated', 'Updated ' + new Date(s.time).toLocaleTimeString() + ', every ' + interval + ' ms');
  }

  function poll() {
    fetch(statsUrl, { headers: { accept: 'application/json' }, cache: 'no-store', credentials: 'same-origin' })
      .then(function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.json();
      })
      .then(function (s) { update(s); status('live', 'live'); })
      .catch(function (err) { status('offline', 'offline: ' + err.message); })
      .then(function () { setTimeout(poll, interval); });
  }

  chart('chart-rate', ['rate']);
  chart('chart-errors', ['err']);
  chart('chart-latency', ['p50', 'p95', 'p99']);
  poll();
})();
`

const sha256 = (text: string): string =>
  `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`

/** The Content-Security-Policy of the page: its own script and style, fetches to itself, nothing else. @internal */
export const DASHBOARD_CSP: string = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const escapeAttribute = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

const card = (id: string, label: string): string =>
  `<div class="card"><b id="${id}">–</b><span>${label}</span></div>`

/** The page, polling `statsUrl` (relative to the page). @internal */
export function dashboardHtml(statsUrl: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Monitor</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body data-stats="${escapeAttribute(statsUrl)}">
<header><h1>Monitor</h1><span id="status">connecting</span><span id="updated"></span></header>
<main>
<section class="cards">
${card('n-total', 'requests')}
${card('n-rps', 'req/s (last minute)')}
${card('n-errors', 'errors')}
${card('n-error-rate', 'error rate')}
${card('n-active', 'in flight')}
${card('n-aborted', 'aborted')}
${card('n-p50', 'latency p50')}
${card('n-p95', 'latency p95')}
${card('n-p99', 'latency p99')}
${card('n-min', 'latency min')}
${card('n-avg', 'latency avg')}
${card('n-max', 'latency max')}
${card('n-rss', 'memory (RSS)')}
${card('n-heap', 'heap used')}
${card('n-cpu', 'CPU')}
${card('n-uptime', 'uptime')}
${card('n-processes', 'processes')}
${card('n-series', 'series / max')}
</section>
<section class="charts">
<div class="panel"><h2>Request rate <span class="scale" id="scale-chart-rate"></span></h2><svg id="chart-rate" role="img" aria-label="Requests per second"></svg><div class="legend"><span><i class="rate"></i>req/s</span></div></div>
<div class="panel"><h2>Error rate <span class="scale" id="scale-chart-errors"></span></h2><svg id="chart-errors" role="img" aria-label="Error rate"></svg><div class="legend"><span><i class="err"></i>errors %</span></div></div>
<div class="panel"><h2>Latency (time to first byte) <span class="scale" id="scale-chart-latency"></span></h2><svg id="chart-latency" role="img" aria-label="Latency percentiles"></svg><div class="legend"><span><i class="p50"></i>p50</span><span><i class="p95"></i>p95</span><span><i class="p99"></i>p99</span></div></div>
</section>
</main>
<footer>@shallot/monitoring · ${escapeAttribute(statsUrl)}</footer>
<script>${SCRIPT}</script>
</body>
</html>
`
}
