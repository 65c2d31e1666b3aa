/**
 * `GET /` on the admin port: one self-contained HTML page (inline CSS and script, no external asset)
 * with listeners, clusters and endpoints. The server renders the first view, so the page shows data
 * without script too; the script then fetches `/stats` every 2 s and renders again with the same
 * function, `renderStatus`, shipped to the browser as its source text. Rates are the difference of two
 * successive samples. Every value from the config or the stats is escaped, and the Content-Security-
 * Policy admits only this page's own script and style (by hash), so a name that slipped through
 * still could not run anything.
 *
 * Loaded by the admin server on the first request for the page.
 */
import { createHash } from 'node:crypto';
import type { StatsJson } from './stats-json.js';

/** How often the page fetches /stats. */
export const REFRESH_MS = 2000;

/**
 * The page's main content for one stats sample; `prev` (the sample before, or null) gives the rates.
 * It runs in the browser as well as here, so it refers to nothing outside itself.
 */
export function renderStatus(s: StatsJson, prev: StatsJson | null): string {
  const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  const esc = (v: unknown): string => String(v).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
  const dt = prev && prev.process.pid === s.process.pid ? s.process.uptime_seconds - prev.process.uptime_seconds : 0;
  const rate = (now: number, before: number | undefined): number | null => (dt > 0 && before !== undefined ? Math.max(0, (now - before) / dt) : null);
  const fmtRate = (r: number | null): string => (r === null ? '–' : r < 10 ? r.toFixed(1) : String(Math.round(r)));
  const fmtNum = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(2));
  const fmtBytes = (n: number): string => {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
  };
  const fmtSeconds = (t: number): string => {
    const d = Math.floor(t / 86400);
    const h = Math.floor((t % 86400) / 3600);
    const m = Math.floor((t % 3600) / 60);
    const sec = Math.floor(t % 60);
    return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${sec}s` : `${sec}s`;
  };
  /** A coloured word; the colour comes from a fixed list, never from the value. */
  const badge = (word: string, tone: 'ok' | 'warn' | 'bad' | 'muted'): string => `<span class="badge ${tone}">${esc(word)}</span>`;
  const TONES: Record<string, 'ok' | 'warn' | 'bad' | 'muted'> = {
    healthy: 'ok',
    ok: 'ok',
    closed: 'ok',
    active: 'ok',
    unknown: 'warn',
    'half-open': 'warn',
    draining: 'warn',
    unhealthy: 'bad',
    ejected: 'bad',
    open: 'bad',
  };
  const toned = (word: string | null): string => (word === null ? '<span class="muted">–</span>' : badge(word, Object.hasOwn(TONES, word) ? TONES[word]! : 'muted'));
  const cell = (field: string, html: string, cls = ''): string => `<td data-field="${esc(field)}"${cls ? ` class="${cls}"` : ''}>${html}</td>`;
  const num = (field: string, n: number): string => cell(field, esc(fmtNum(n)), 'n');
  const usage = (label: string, active: number, max: number): string =>
    `<div class="usage"><span>${esc(label)}</span><meter min="0" max="${esc(max)}" low="${esc(max * 0.5)}" high="${esc(max * 0.8)}" optimum="0" value="${esc(Math.min(active, max))}"></meter><span class="n">${esc(active)} / ${esc(max)}</span></div>`;

  const p = s.process;
  const out: string[] = [];
  out.push(
    `<section class="process"><dl>` +
      `<div><dt>workers</dt><dd data-field="workers">${esc(p.workers_running)} / ${esc(p.workers)}</dd></div>` +
      `<div><dt>uptime</dt><dd data-field="uptime">${esc(fmtSeconds(p.uptime_seconds))}</dd></div>` +
      `<div><dt>memory (rss)</dt><dd data-field="rss">${esc(fmtBytes(p.rss_bytes))}</dd></div>` +
      `<div><dt>config generation</dt><dd data-field="generation">${esc(p.config_generation)}</dd></div>` +
      `<div><dt>pid</dt><dd>${esc(p.pid)}</dd></div>` +
      `<div><dt>state</dt><dd data-field="process-state">${p.draining ? badge('draining', 'warn') : badge('serving', 'ok')}</dd></div>` +
      `</dl></section>`,
  );

  const prevListeners = new Map((prev?.listeners ?? []).map((l) => [l.name, l] as const));
  out.push(`<section><h2>Listeners</h2>`);
  if (s.listeners.length === 0) out.push(`<p class="empty">no listeners</p>`);
  else {
    out.push(
      `<table class="listeners"><thead><tr><th>name</th><th>protocol</th><th>address</th><th class="n">rate /s</th><th class="n">total</th>` +
        `<th class="n">active</th><th class="n">local replies</th><th class="n">received</th><th class="n">sent</th></tr></thead><tbody>`,
    );
    for (const l of s.listeners) {
      const before = prevListeners.get(l.name);
      out.push(
        `<tr data-listener="${esc(l.name)}">` +
          cell('name', esc(l.name)) +
          cell('protocol', esc(l.protocol + (l.tls ? ' + tls' : ''))) +
          cell('address', esc(`${l.address}:${l.port}`)) +
          cell('rate', `${esc(fmtRate(rate(l.requests_total, before?.requests_total)))} <small>${esc(l.unit)}</small>`, 'n') +
          num('total', l.requests_total) +
          num('active', l.requests_active) +
          num('local-replies', l.local_replies) +
          cell('received', esc(fmtBytes(l.bytes_received)), 'n') +
          cell('sent', esc(fmtBytes(l.bytes_sent)), 'n') +
          `</tr>`,
      );
    }
    out.push(`</tbody></table>`);
  }
  out.push(`</section>`);

  const prevClusters = new Map((prev?.clusters ?? []).map((c) => [c.name, c] as const));
  out.push(`<section><h2>Clusters</h2>`);
  if (s.clusters.length === 0) out.push(`<p class="empty">no clusters</p>`);
  for (const c of s.clusters) {
    const before = prevClusters.get(c.name);
    const classes = Object.entries(c.requests_by_class)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `<span class="cls cls-${esc(k)}">${esc(k)} ${esc(n)}</span>`)
      .join(' ');
    const rejections = Object.entries(c.breaker_rejections)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${esc(k)} ${esc(n)}`)
      .join(', ');
    const errRate = rate(c.requests_by_class['5xx'] + c.requests_by_class.none, before ? before.requests_by_class['5xx'] + before.requests_by_class.none : undefined);
    out.push(
      `<article class="cluster" data-cluster="${esc(c.name)}">` +
        `<h3>${esc(c.name)} <small>${esc(c.protocol)} · ${esc(c.lb_policy)}</small></h3>` +
        `<div class="cluster-grid">` +
        `<dl>` +
        `<div><dt>rate /s</dt><dd data-field="rate">${esc(fmtRate(rate(c.requests_total, before?.requests_total)))}</dd></div>` +
        `<div><dt>errors /s</dt><dd data-field="error-rate">${esc(fmtRate(errRate))}</dd></div>` +
        `<div><dt>requests</dt><dd data-field="requests">${esc(c.requests_total)} ${classes}</dd></div>` +
        `<div><dt>retries</dt><dd data-field="retries">${esc(c.retries_total)}</dd></div>` +
        `<div><dt>ejected</dt><dd data-field="ejected">${esc(c.ejected_endpoints)} now, ${esc(c.outlier_ejections_total)} so far</dd></div>` +
        `<div><dt>breaker rejections</dt><dd data-field="rejections">${rejections || 'none'}</dd></div>` +
        `</dl>` +
        `<div class="breaker" data-field="breaker">` +
        usage('requests', c.requests_active, c.limits.max_requests) +
        usage('pending', c.requests_pending, c.limits.max_pending_requests) +
        usage('connections', c.connections_active, c.limits.max_connections) +
        usage('retries', c.retries_active, c.limits.max_retries) +
        `</div></div>`,
    );
    if (c.endpoints.length === 0) out.push(`<p class="empty">no endpoints</p>`);
    else {
      const prevEndpoints = new Map((before?.endpoints ?? []).map((e) => [`${e.address}:${e.port}` as string, e] as const));
      out.push(
        `<table class="endpoints"><thead><tr><th>endpoint</th><th>zone</th><th>state</th><th>active health</th><th>passive health</th>` +
          `<th>ejection</th><th class="n">weight</th><th class="n">effective</th><th class="n">rate /s</th><th class="n">active</th>` +
          `<th class="n">connections</th><th class="n">warm</th><th>breaker</th></tr></thead><tbody>`,
      );
      for (const e of c.endpoints) {
        const key = `${e.address}:${e.port}`;
        const h = e.health;
        const ejection = h.ejected
          ? `${badge('ejected', 'bad')} <span title="${esc(h.ejected_until ?? '')}">${esc((h.ejection_remaining_ms / 1000).toFixed(1))} s left</span>`
          : h.times_ejected > 0
            ? `<span class="muted">${esc(h.times_ejected)}× before</span>`
            : '<span class="muted">–</span>';
        out.push(
          `<tr data-endpoint="${esc(key)}">` +
            cell('endpoint', esc(key)) +
            cell('zone', esc(e.zone || '–')) +
            cell('state', toned(e.state)) +
            cell('active-health', toned(h.active)) +
            cell('passive-health', toned(h.passive)) +
            cell('ejection', ejection) +
            num('weight', e.weight) +
            num('effective-weight', e.effective_weight) +
            cell('rate', esc(fmtRate(rate(e.requests_total, prevEndpoints.get(key)?.requests_total))), 'n') +
            num('active', e.active_requests) +
            num('connections', e.active_connections) +
            cell('warm', `${esc(e.warm_connections)}${e.warm === null ? '' : e.warm ? ' ✓' : ' …'}`, 'n') +
            cell('breaker', toned(e.failure_breaker)) +
            `</tr>`,
        );
      }
      out.push(`</tbody></table>`);
    }
    out.push(`</article>`);
  }
  out.push(`</section>`);
  return out.join('');
}

const STYLE = `
:root { color-scheme: light dark; --fg: #1d2329; --muted: #6b7580; --line: #d9dee3; --bg: #fff; --panel: #f5f7f9;
  --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #8d96a0; --line: #30363d; --bg: #0d1117; --panel: #161b22;
  --ok: #3fb950; --warn: #d29922; --bad: #f85149; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: baseline; gap: 1em; padding: 12px 20px; border-bottom: 1px solid var(--line); }
header h1 { margin: 0; font-size: 20px; }
#refresh { color: var(--muted); }
#refresh.stale { color: var(--bad); font-weight: 600; }
main { padding: 0 20px 20px; }
h2 { font-size: 16px; margin: 20px 0 8px; }
h3 { font-size: 15px; margin: 0 0 8px; }
small, .muted, .empty { color: var(--muted); font-weight: normal; }
dl { display: flex; flex-wrap: wrap; gap: 4px 24px; margin: 0; }
dl div { min-width: 90px; }
dt { color: var(--muted); font-size: 12px; }
dd { margin: 0; font-variant-numeric: tabular-nums; }
.process { margin-top: 12px; padding: 8px 12px; background: var(--panel); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { font-size: 12px; color: var(--muted); font-weight: 600; }
.n { text-align: right; }
.cluster { margin: 0 0 16px; padding: 12px; background: var(--panel); border-radius: 6px; }
.cluster-grid { display: flex; flex-wrap: wrap; justify-content: space-between; gap: 12px; margin-bottom: 8px; }
.breaker { display: grid; gap: 2px; min-width: 300px; }
.usage { display: grid; grid-template-columns: 90px 1fr 120px; align-items: center; gap: 8px; font-size: 12px; }
.usage meter { width: 100%; }
.badge { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 12px; border: 1px solid currentColor; }
.badge.ok { color: var(--ok); } .badge.warn { color: var(--warn); } .badge.bad { color: var(--bad); } .badge.muted { color: var(--muted); }
.cls { font-size: 12px; color: var(--muted); margin-left: 4px; }
.cls-5xx, .cls-none { color: var(--bad); }
`;

/** The page's script: renders every REFRESH_MS from /stats; a failed fetch keeps the last view and says so. */
const SCRIPT = `
"use strict";
const renderStatus = ${renderStatus.toString()};
(() => {
  const main = document.getElementById("status");
  const note = document.getElementById("refresh");
  let prev = JSON.parse(document.getElementById("initial-stats").textContent);
  let refreshes = 0;
  async function refresh() {
    try {
      const r = await fetch("/stats", { cache: "no-store" });
      if (!r.ok) throw new Error("HTTP " + r.status);
      const cur = await r.json();
      main.innerHTML = renderStatus(cur, prev);
      prev = cur;
      document.body.dataset.refreshes = String(++refreshes);
      note.textContent = "updated " + new Date().toLocaleTimeString() + ", every ${REFRESH_MS / 1000} s";
      note.className = "";
    } catch (e) {
      note.textContent = "refresh failed (" + (e && e.message ? e.message : e) + "); showing the data from " + prev.time;
      note.className = "stale";
    } finally {
      setTimeout(refresh, ${REFRESH_MS});
    }
  }
  setTimeout(refresh, ${REFRESH_MS});
})();
`;

const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** Response headers of the page: its own script and style by hash, fetches to this origin, nothing else. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'content-security-policy':
    `default-src 'none'; script-src ${hash(SCRIPT)}; style-src ${hash(STYLE)}; connect-src 'self'; img-src data:; ` +
    `base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
};

/** JSON that is safe inside a <script> element: no `<`, `>`, `&` or line separators left as they are. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The whole page, first rendered from `stats`. */
export function statusPage(stats: StatsJson): string {
  return (
    `<!doctype html>\n<html lang="en"><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>Pillion status</title><link rel="icon" href="data:,"><style>${STYLE}</style></head>` +
    `<body data-refreshes="0"><header><h1>Pillion</h1><span id="refresh">as of ${escapeHtml(stats.time)}, refreshing every ${REFRESH_MS / 1000} s</span></header>` +
    `<main id="status">${renderStatus(stats, null)}</main>` +
    `<script type="application/json" id="initial-stats">${scriptJson(stats)}</script>` +
    `<script>${SCRIPT}</script></body></html>\n`
  );
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
