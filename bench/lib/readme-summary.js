// The README's benchmark summary: req/s and proxy CPU per 10k requests for every peer of the core
// HTTP scenarios, written between two markers in README.md whenever the full results change.
import { readFileSync, writeFileSync } from 'node:fs';
import { fmtCpu, fmtInt, fmtRatio } from './format.js';

const START = '<!-- bench:start -->';
const END = '<!-- bench:end -->';
const CORE = ['hello-world', 'connections-1000', 'response-64k', 'post-1mib'];

/**
 * @param {import('./results.js').BenchResults} res
 * @returns {string}
 */
export function renderReadmeSummary(res) {
  const scenarios = CORE.map((n) => res.scenarios.find((s) => s.name === n)).filter((s) => s !== undefined);
  if (!scenarios.length) return 'No results yet: run `pnpm bench`.';
  /** @type {string[]} */
  const peers = [];
  for (const s of scenarios) for (const r of s.rows) if (!peers.includes(r.id)) peers.push(r.id);
  const head = `| peer | ${scenarios.map((s) => `${s.name} req/s`).join(' | ')} | ${scenarios.map((s) => `${s.name} CPU s/10k`).join(' | ')} |`;
  const rule = `| --- | ${scenarios.map(() => '---:').join(' | ')} | ${scenarios.map(() => '---:').join(' | ')} |`;
  const lines = [head, rule];
  for (const peer of peers) {
    /** @param {(r: any) => string} f */
    const cells = (f) => scenarios.map((s) => {
      const r = s.rows.find((x) => x.id === peer);
      return r ? f(r) : '—';
    });
    const rps = cells((r) => `${fmtInt(r.summary.rps)}${r.ratio.rps != null && r.baseline !== r.id ? ` (${fmtRatio(r.ratio.rps)})` : ''}`);
    const cpu = cells((r) => (r.summary.cpuPer10k == null ? '—' : `${fmtCpu(r.summary.cpuPer10k)}${r.ratio.cpuPer10k != null && r.baseline !== r.id ? ` (${fmtRatio(r.ratio.cpuPer10k)})` : ''}`));
    lines.push(`| ${peer} | ${rps.join(' | ')} | ${cpu.join(' | ')} |`);
  }
  const dates = scenarios.map((s) => s.date).filter(Boolean).sort();
  const when = dates.length ? `${dates[0].slice(0, 16).replace('T', ' ')} UTC` : '';
  return [
    `Measured ${when} on ${res.machine?.cpu ?? 'this machine'} (${res.machine?.cores ?? '?'} cores) by \`pnpm bench\`; ratios are to nginx with the same worker count (\`-N\` = workers). Every column, the other scenarios (WASM filter cost, cold start, failover, TCP) and the method: [docs/benchmarks.md](docs/benchmarks.md).`,
    '',
    ...lines,
    '',
    'The load generator, the upstream and the proxy share two cores, so req/s is capped by the machine; CPU seconds per 10k requests (lower is better) compares the proxies themselves more fairly.',
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
