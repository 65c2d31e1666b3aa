// One SVG chart per scenario for docs/benchmarks.md: two panels of horizontal bars, req/s and CPU
// per request (µs), one bar per peer, each labelled with its figure. Plain SVG text, no script and
// no external assets, so it renders on GitHub and in any browser.

const BAR_H = 18;
const GAP = 6;
const LABEL_W = 190;
const PANEL_W = 300;
const VALUE_W = 80;
const PAD = 10;
const TITLE_H = 22;
const HEAD_H = 18;

/** Colours by peer kind; Pillion's rows stand out. */
const COLOURS = /** @type {Record<string, string>} */ ({
  pillion: '#2f6fde',
  'pillion-strict': '#5b8ff0',
  nginx: '#3a9a4b',
  haproxy: '#c7782a',
  'http-proxy': '#8a5cc2',
  direct: '#8c8c8c',
});

/** @param {string} s */
function esc(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** @param {number} v */
function fmtRps(v) {
  return v >= 10_000 ? `${Math.round(v / 100) / 10}k` : String(Math.round(v));
}

/** @param {number} v */
function fmtUs(v) {
  return v >= 100 ? String(Math.round(v)) : v.toFixed(1);
}

/**
 * What the req/s column counts: a scenario that measures something else says so in its title
 * ("req/s column = MiB/s").
 * @param {string} title
 */
function rateName(title) {
  return /req\/s column = ([^)]+)\)/.exec(title)?.[1]?.trim() ?? 'req/s';
}

/**
 * The chart of one scenario, or null when no row has a req/s or CPU figure to draw.
 * @param {import('./run-scenario.js').ScenarioResult} s
 * @returns {string | null}
 */
export function scenarioChart(s) {
  const rows = s.rows.map((r) => ({
    id: r.id,
    kind: r.kind,
    rps: r.summary.rps ?? null,
    // CPU s per 10k requests is µs per request x 10^-2: 1 s / 10k = 100 µs.
    us: r.summary.cpuPer10k === null || r.summary.cpuPer10k === undefined ? null : r.summary.cpuPer10k * 100,
  }));
  if (!rows.some((r) => r.rps !== null || r.us !== null)) return null;
  const maxRps = Math.max(0, ...rows.map((r) => r.rps ?? 0));
  const maxUs = Math.max(0, ...rows.map((r) => r.us ?? 0));
  const width = PAD * 2 + LABEL_W + 2 * (PANEL_W + VALUE_W);
  const height = PAD * 2 + TITLE_H + HEAD_H + rows.length * (BAR_H + GAP);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${PAD}" y="${PAD + 14}" font-size="14" font-weight="bold">${esc(s.name)}</text>`,
  ];
  const panels = [
    { x: PAD + LABEL_W, title: `${rateName(s.title)} (higher is better)`, key: /** @type {const} */ ('rps'), max: maxRps, fmt: fmtRps },
    { x: PAD + LABEL_W + PANEL_W + VALUE_W, title: 'proxy CPU µs per request (lower is better)', key: /** @type {const} */ ('us'), max: maxUs, fmt: fmtUs },
  ];
  const top = PAD + TITLE_H + HEAD_H;
  for (const p of panels) parts.push(`<text x="${p.x}" y="${top - 6}" fill="#444">${esc(p.title)}</text>`);
  rows.forEach((r, i) => {
    const y = top + i * (BAR_H + GAP);
    const colour = COLOURS[r.kind] ?? '#666666';
    parts.push(`<text x="${PAD + LABEL_W - 8}" y="${y + BAR_H - 5}" text-anchor="end">${esc(r.id)}</text>`);
    for (const p of panels) {
      const v = r[p.key];
      if (v === null || p.max <= 0) {
        parts.push(`<text x="${p.x}" y="${y + BAR_H - 5}" fill="#888">n/a</text>`);
        continue;
      }
      const w = Math.max(1, Math.round((v / p.max) * (PANEL_W - 10)));
      parts.push(`<rect x="${p.x}" y="${y}" width="${w}" height="${BAR_H}" fill="${colour}"/>`);
      parts.push(`<text x="${p.x + w + 4}" y="${y + BAR_H - 5}">${esc(p.fmt(v))}</text>`);
    }
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/**
 * The file name of a scenario's chart, relative to docs/.
 * @param {string} scenario
 */
export function chartPath(scenario) {
  return `benchmarks/${scenario.replace(/[^a-z0-9-]/gi, '_')}.svg`;
}
