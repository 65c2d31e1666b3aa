// The README's benchmark summary: req/s, proxy CPU per 10k requests and proxy memory (idle, and
// under load) for every peer of the core HTTP scenarios, written between two markers in README.md
// whenever the full results change, and under it a small TLS table (HTTPS keep-alive, new
// handshakes, the first request to an endpoint behind TLS) once those scenarios have run. Rows from
// another commit's build (`--baseline`) stay in docs/benchmarks.md: the README shows this tree only.
import { readFileSync, writeFileSync } from 'node:fs';
import { fmtCpu, fmtInt, fmtMiB, fmtMs, fmtRatio } from './format.js';
import { median } from './stats.js';

const START = '<!-- bench:start -->';
const END = '<!-- bench:end -->';
const CORE = ['hello-world', 'connections-1000', 'response-64k', 'post-1mib'];
/** TLS scenarios in the TLS table: [name, what its req/s column counts]. */
const TLS = /** @type {const} */ ([['tls-hello-world', 'req/s'], ['tls-handshakes', 'handshakes/s']]);
const TLS_FIRST = 'tls-upstream-first-request';

/**
 * `value (ratio)`, the ratio left out on the row compared with.
 * @param {number | null | undefined} value
 * @param {number | null | undefined} r
 * @param {boolean} isBase
 * @param {(n: number | null | undefined) => string} fmt
 */
const figure = (value, r, isBase, fmt) => (value == null ? '—' : `${fmt(value)}${r != null && !isBase ? ` (${fmtRatio(r)})` : ''}`);

/**
 * The TLS table and the first-request line; empty when no TLS scenario has run.
 * @param {import('./results.js').BenchResults} res
 * @returns {string[]}
 */
export function renderTlsSummary(res) {
  const scenarios = TLS.flatMap(([n, unit]) => {
    const s = res.scenarios.find((x) => x.name === n);
    return s ? [{ s, unit }] : [];
  });
  const first = res.scenarios.find((x) => x.name === TLS_FIRST);
  if (!scenarios.length && !first) return [];
  const out = ['', 'Over TLS (one worker each, the same ECDSA P-256 certificate; ratios to nginx-1):', ''];
  if (scenarios.length) {
    /** @type {string[]} */
    const peers = [];
    for (const { s } of scenarios) for (const r of s.rows) if (!r.twinOf && !peers.includes(r.id)) peers.push(r.id);
    const head = scenarios.map(({ s, unit }) => `${s.name} ${unit} | ${s.name} CPU s/10k`).join(' | ');
    out.push(`| peer | ${head} |`, `| --- | ${scenarios.map(() => '---: | ---:').join(' | ')} |`);
    for (const peer of peers) {
      const cells = scenarios.map(({ s }) => {
        const r = s.rows.find((x) => x.id === peer);
        if (!r) return '— | —';
        const isBase = r.baseline === r.id;
        return `${figure(r.summary.rps, r.ratio.rps, isBase, fmtInt)} | ${figure(r.summary.cpuPer10k, r.ratio.cpuPer10k, isBase, fmtCpu)}`;
      });
      out.push(`| ${peer} | ${cells.join(' | ')} |`);
    }
  }
  if (first) {
    const p50 = (/** @type {string} */ id) => fmtMs(first.rows.find((r) => r.id === id)?.summary.p50);
    out.push(
      ...(scenarios.length ? [''] : []),
      `First request through Pillion to an endpoint behind TLS just added through the admin API (\`${TLS_FIRST}\`), p50: ` +
        `${p50('cold')} ms without \`pool.warmup\`, ${p50('warm')} ms with it.`,
    );
  }
  return out;
}

/**
 * @param {import('./results.js').BenchResults} res
 * @returns {string}
 */
export function renderReadmeSummary(res) {
  const scenarios = CORE.map((n) => res.scenarios.find((s) => s.name === n)).filter((s) => s !== undefined);
  if (!scenarios.length) return 'No results yet: run `pnpm bench`.';
  /** @type {string[]} */
  const peers = [];
  for (const s of scenarios) for (const r of s.rows) if (!r.twinOf && !peers.includes(r.id)) peers.push(r.id);
  const names = (/** @type {string} */ what) => scenarios.map((s) => `${s.name} ${what}`).join(' | ');
  const head = `| peer | ${names('req/s')} | ${names('CPU s/10k')} | idle RSS MiB | ${names('RSS MiB under load')} |`;
  const right = scenarios.map(() => '---:').join(' | ');
  const rule = `| --- | ${right} | ${right} | ---: | ${right} |`;
  const lines = [head, rule];
  for (const peer of peers) {
    const rows = scenarios.map((s) => s.rows.find((x) => x.id === peer));
    /** @param {(r: import('./run-scenario.js').ScenarioRow) => string} f */
    const cells = (f) => rows.map((r) => (r ? f(r) : '—'));
    const rps = cells((r) => figure(r.summary.rps, r.ratio.rps, r.baseline === r.id, fmtInt));
    const cpu = cells((r) => figure(r.summary.cpuPer10k, r.ratio.cpuPer10k, r.baseline === r.id, fmtCpu));
    const load = cells((r) => figure(r.summary.loadRssKiB, r.ratio.loadRssKiB, r.baseline === r.id, fmtMiB));
    // Before any load every core scenario starts the same config: one figure, the median over them.
    const idles = rows.map((r) => r?.summary.idleRssKiB);
    const idleRatios = rows.map((r) => (r && r.baseline !== r.id ? r.ratio.idleRssKiB : null));
    const isBase = rows.some((r) => r && r.baseline === r.id);
    const idle = figure(median(idles), median(idleRatios), isBase, fmtMiB);
    lines.push(`| ${peer} | ${rps.join(' | ')} | ${cpu.join(' | ')} | ${idle} | ${load.join(' | ')} |`);
  }
  const dates = scenarios.map((s) => s.date).filter(Boolean).sort();
  const when = dates.length ? `${dates[0].slice(0, 16).replace('T', ' ')} UTC` : '';
  return [
    `Measured ${when} on ${res.machine?.cpu ?? 'this machine'} (${res.machine?.cores ?? '?'} cores) by \`pnpm bench\`; ratios are to nginx with the same worker count (\`-N\` = workers). Every column, the other scenarios (WASM filter cost, cold start, failover, TCP, HTTP/2) and the method: [docs/benchmarks.md](docs/benchmarks.md).`,
    '',
    ...lines,
    '',
    'The load generator, the upstream and the proxy share two cores, so req/s is capped by the machine; CPU seconds per 10k requests (lower is better) compares the proxies themselves more fairly. ' +
      'Memory is `VmRSS` summed over the proxy\'s processes: idle after start-up, and under load the mean of readings every 250 ms during the measured runs. ' +
      '—: not measured (the proxy has no process of its own, or the scenario was measured before memory was recorded).' +
      (scenarios.some((s) => s.rows.some((r) => r.twinOf)) ? ' Rows measured from an earlier commit\'s build (`--baseline`) are in docs/benchmarks.md only.' : ''),
    ...renderTlsSummary(res),
  ].join('\n');
}

/**
 * Replaces the summary between the markers in `readmePath`; a README without them is left alone.
 * @param {string} readmePath
 * @param {import('./results.js').BenchResults} res
 * @returns {boolean} whether the README was written
 */
export function updateReadme(readmePath, res) {
  let text;
  try {
    text = readFileSync(readmePath, 'utf8');
  } catch {
    return false;
  }
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a === -1 || b < a) return false;
  writeFileSync(readmePath, `${text.slice(0, a + START.length)}\n${renderReadmeSummary(res)}\n${text.slice(b)}`);
  return true;
}
