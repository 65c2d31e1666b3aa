// What a WASM filter costs: hello world through one-worker Pillion with the built-in
// `header-rewrite` plugin (set a request header, remove a response header) against the same
// Pillion with no filter; the ratios in the filtered row are to the unfiltered one. Beside it the
// same work done by a proxy-wasm module (Envoy's ABI, bench/filters/proxy-wasm-header-rewrite.ts).
// Target for each: at most 5% fewer req/s. Named on its own (`pnpm bench wasm-filter`), it then drives a
// million requests through the filtered Pillion and reads its RSS every 100k: it must stay flat.
import http from 'node:http';
import { namedForFullRun } from '../lib/args.js';
import { runCounted } from '../lib/counted-load.js';
import { fmtInt } from '../lib/format.js';
import { HAVE_PROC, peakRssKiB, rssKiB } from '../lib/proc.js';
import { ratio, summarize } from '../lib/stats.js';
import pillion from '../peers/pillion.js';
import { proxyWasmHeaderRewrite } from '../lib/proxy-wasm-filter.js';

const NAME = 'wasm-filter';
const PLAIN = 'pillion-1';
const FILTERED = 'pillion-1+header-rewrite';
const PROXY_WASM = 'pillion-1+proxy-wasm-header';
const MAX_COST = 0.05;
const RSS_REQUESTS = 1_000_000;
const RSS_EVERY = 100_000;
/** @type {import('../lib/types.js').LoadSpec} */
const LOAD = { connections: 50, path: '/' };

/** `uwebsockets` is the header bench/upstream.js sends, so the remove has work to do on every response. */
export const HEADER_REWRITE = {
  plugin: 'header-rewrite',
  config: { request: { set: { 'x-bench': 'wasm-filter' } }, response: { remove: ['uwebsockets'] } },
};

/**
 * The bench config with the filter on every HTTP listener.
 * @param {import('../lib/types.js').PillionConfig} config
 * @returns {import('../lib/types.js').PillionConfig}
 */
export function withHeaderRewrite(config) {
  const listeners = /** @type {Record<string, unknown>[]} */ (config.listeners);
  return {
    ...config,
    listeners: listeners.map((l) => (l.protocol === 'http' ? { ...l, filters: [HEADER_REWRITE] } : l)),
  };
}

/**
 * Raw header names of one GET's response (node keeps their case in rawHeaders).
 * @param {string} url
 * @returns {Promise<string[]>}
 */
function responseHeaderNames(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.rawHeaders.filter((_, i) => i % 2 === 0)));
    });
    req.once('timeout', () => req.destroy(new Error(`no answer from ${url}`)));
    req.once('error', reject);
  });
}

/**
 * Pillion started by its usual peer code, with the filter in its config. Pillion forwards the
 * upstream's \`uwebsockets\` header in lower case (its own server adds \`uWebSockets\`), so that
 * line's absence shows the filter runs: a row that measured no filter would be worse than none.
 * @type {import('../lib/types.js').PeerKind}
 */
const filteredPillion = {
  ...pillion,
  async start(ctx) {
    const peer = await pillion.start({ ...ctx, scenario: { ...ctx.scenario, pillionConfig: withHeaderRewrite } });
    const names = await responseHeaderNames(`${peer.url}/`).catch(async (err) => {
      await peer.stop();
      throw err;
    });
    if (names.includes('uwebsockets')) {
      await peer.stop();
      throw new Error('the header-rewrite filter did not remove the upstream\'s uwebsockets header');
    }
    return peer;
  },
};

/**
 * Pillion with the proxy-wasm header filter on every HTTP listener (built from source first), checked
 * like the native one: the upstream's `uwebsockets` header must be gone.
 * @type {import('../lib/types.js').PeerKind}
 */
const proxyWasmPillion = {
  ...pillion,
  async start(ctx) {
    const wasm = await proxyWasmHeaderRewrite();
    /** @param {import('../lib/types.js').PillionConfig} config */
    const withFilter = (config) => {
      const listeners = /** @type {Record<string, unknown>[]} */ (config.listeners);
      return { ...config, listeners: listeners.map((l) => (l.protocol === 'http' ? { ...l, filters: [{ wasm }] } : l)) };
    };
    const peer = await pillion.start({ ...ctx, scenario: { ...ctx.scenario, pillionConfig: withFilter } });
    const names = await responseHeaderNames(`${peer.url}/`).catch(async (err) => {
      await peer.stop();
      throw err;
    });
    if (names.includes('uwebsockets')) {
      await peer.stop();
      throw new Error('the proxy-wasm header filter did not remove the upstream\'s uwebsockets header');
    }
    return peer;
  },
};

/** @param {number | null} r */
const times = (r) => (r === null ? '—' : `${r.toFixed(3)}×`);

/**
 * A filter's cost from its row's and the unfiltered row's medians.
 * @param {ReadonlyArray<{ id: string, samples: import('../lib/types.js').Sample[] }>} rows
 * @param {string} [id] the filtered row
 */
export function filterCost(rows, id = FILTERED) {
  const plain = rows.find((r) => r.id === PLAIN);
  const filtered = rows.find((r) => r.id === id);
  if (!plain || !filtered) return null;
  const a = summarize(plain.samples);
  const b = summarize(filtered.samples);
  const rps = ratio(b.rps, a.rps);
  return { rps, cpuPer10k: ratio(b.cpuPer10k, a.cpuPer10k), p99: ratio(b.p99, a.p99), met: rps !== null && rps >= 1 - MAX_COST };
}

/**
 * The RSS readings summed up. `series` is: idle before the run, then one reading per 100k under
 * load, then idle after. An idle process has handed memory back that it takes again under load,
 * so the leak test is the stretch under load, from the first 100k to the last.
 * @param {ReadonlyArray<{ requests: number, kib: number | null }>} series
 */
export function rssGrowth(series) {
  if (series.length < 4 || series.some((s) => s.kib === null)) return null;
  const kib = /** @type {number[]} */ (series.map((s) => s.kib));
  const n = kib.length;
  return {
    startKiB: kib[0],
    firstLoadedKiB: kib[1],
    lastLoadedKiB: kib[n - 2],
    endKiB: kib[n - 1],
    peakKiB: Math.max(...kib),
    growthKiB: kib[n - 1] - kib[0],
    loadedGrowthKiB: kib[n - 2] - kib[1],
    loadedRequests: series[n - 2].requests - series[1].requests,
  };
}

/** KiB as MiB with one decimal. @param {number} kib */
const mib = (kib) => (kib / 1024).toFixed(1);
/** @param {number} kib */
const signedMib = (kib) => `${kib >= 0 ? '+' : '−'}${mib(Math.abs(kib))}`;

/**
 * @param {import('../lib/types.js').NotesContext['rows'][number]} row
 * @param {number} connections
 * @param {(line: string) => void} log
 */
async function rssRun(row, connections, log) {
  const pid = /** @type {number} */ (row.pid);
  log(`  ${FILTERED}: ${fmtInt(RSS_REQUESTS)} requests, RSS read every ${fmtInt(RSS_EVERY)}`);
  const hwmBeforeKiB = peakRssKiB(pid);
  /** @type {{ requests: number, kib: number | null }[]} */
  const series = [{ requests: 0, kib: rssKiB(pid) }];
  const r = await runCounted({
    url: `${row.url}/`,
    amount: RSS_REQUESTS,
    connections,
    every: RSS_EVERY,
    onEvery: (n) => series.push({ requests: n, kib: rssKiB(pid) }),
  });
  // Under load the last reading is taken mid-flight; this one is after the last response.
  series.push({ requests: r.ok + r.failed, kib: rssKiB(pid) });
  return { series, hwmBeforeKiB, ok: r.ok, failed: r.failed, seconds: r.seconds };
}

/** @type {import('../lib/types.js').Scenario} */
export default {
  name: NAME,
  title: 'hello world through the header-rewrite WASM filter and a proxy-wasm header filter vs no filter, 1 worker, 50 connections',
  order: 60,
  load: LOAD,
  variants(selected) {
    const p = selected.find((v) => v.kind.name === 'pillion');
    if (!p) return [];
    return [
      { ...p, id: PLAIN, workers: 1 },
      { ...p, id: FILTERED, workers: 1, kind: filteredPillion },
      { ...p, id: PROXY_WASM, workers: 1, kind: proxyWasmPillion },
    ];
  },
  baseline: () => PLAIN,
  async notes({ rows, log }) {
    const lines = [];
    /** @type {Record<string, unknown>} */
    const data = {};
    const cost = filterCost(rows);
    if (cost) {
      data.cost = cost;
      lines.push(
        `header-rewrite vs no filter: req/s ${times(cost.rps)}, CPU per request ${times(cost.cpuPer10k)}, p99 ${times(cost.p99)}; ` +
          `target at most ${MAX_COST * 100}% fewer req/s: ${cost.met ? 'met' : 'not met'}.`,
      );
    }
    const proxyCost = filterCost(rows, PROXY_WASM);
    if (proxyCost) {
      data.proxyWasmCost = proxyCost;
      lines.push(
        `proxy-wasm header filter vs no filter: req/s ${times(proxyCost.rps)}, CPU per request ${times(proxyCost.cpuPer10k)}, p99 ${times(proxyCost.p99)}; ` +
          `target at most ${MAX_COST * 100}% fewer req/s: ${proxyCost.met ? 'met' : 'not met'}.`,
      );
    }
    const row = rows.find((r) => r.id === FILTERED);
    if (!namedForFullRun(NAME)) {
      lines.push(`RSS over ${fmtInt(RSS_REQUESTS)} filtered requests: runs only with \`pnpm bench ${NAME}\` (not --quick, not a run of every scenario).`);
    } else if (!row || row.pid === null || !HAVE_PROC) {
      lines.push(`RSS over ${fmtInt(RSS_REQUESTS)} filtered requests: not measured (no filtered Pillion or no /proc).`);
    } else {
      const run = await rssRun(row, LOAD.connections, log);
      const g = rssGrowth(run.series);
      data.rss = { ...run, growth: g };
      if (g) {
        const pct = ((g.growthKiB / g.startKiB) * 100).toFixed(1);
        lines.push(
          `RSS over ${fmtInt(run.ok + run.failed)} filtered requests (${run.seconds.toFixed(0)} s, ${fmtInt(run.failed)} failed): ` +
            `under load ${mib(g.firstLoadedKiB)} MiB at 100k and ${mib(g.lastLoadedKiB)} MiB at 1M, ` +
            `${signedMib(g.loadedGrowthKiB)} MiB over those ${fmtInt(g.loadedRequests)} requests; idle ${mib(g.startKiB)} MiB before ` +
            `(peak so far ${run.hwmBeforeKiB === null ? '—' : mib(run.hwmBeforeKiB)} MiB) and ${mib(g.endKiB)} MiB after ` +
            `(${signedMib(g.growthKiB)} MiB, ${pct}%). Readings (before, every 100k, after): ` +
            `${run.series.map((x) => (x.kib === null ? '—' : mib(x.kib))).join(', ')} MiB.`,
        );
      }
    }
    return { lines, data };
  },
};
