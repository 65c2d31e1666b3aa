// What the first requests pay: p50/p99 of the first 1000 requests (10 at a time) through a
// freshly started Pillion, and through one that has just been given a new endpoint by the
// admin API, each with and without `pool.warmup`. Every measurement starts its own Pillion, so
// nothing is warm that the row does not say is; warm-up rows compare with their cold twin.
import http from 'node:http';
import { countedSample, runCounted } from '../lib/counted-load.js';
import { fmtInt } from '../lib/format.js';
import { startPillion } from '../lib/pillion-process.js';
import { HAVE_PROC, clockTicks, cpuSecondsBetween, cpuSnapshot } from '../lib/proc.js';
import { median } from '../lib/stats.js';
import { startUpstream } from '../lib/upstream-process.js';
import pillion from '../peers/pillion.js';

const TICKS = HAVE_PROC ? clockTicks() : 100;
const FIRST = 1000;
const CONCURRENCY = 10;
/** Before an endpoint is added: enough to warm the JIT and the first endpoint's pool, so only the new endpoint is cold. */
const BEFORE_ADD = 2000;
const WARMUP = { connections: 8, concurrency: 4 };

/**
 * @typedef {object} Mode
 * @property {string} name
 * @property {boolean} warmup  pool.warmup on the cluster
 * @property {boolean} add     measure after adding an endpoint rather than after start
 */

/** @type {Mode[]} */
export const MODES = [
  { name: 'after-start', warmup: false, add: false },
  { name: 'after-start+warmup', warmup: true, add: false },
  { name: 'after-add', warmup: false, add: true },
  { name: 'after-add+warmup', warmup: true, add: true },
];

/**
 * @param {import('../lib/types.js').PillionConfig} config
 * @returns {import('../lib/types.js').PillionConfig}
 */
export function withWarmup(config) {
  const clusters = /** @type {Record<string, unknown>[]} */ (config.clusters);
  return { ...config, clusters: clusters.map((c) => ({ ...c, pool: { warmup: { ...WARMUP } } })) };
}

/**
 * PUT /clusters/NAME/endpoints on the admin API; resolves when Pillion has answered 200.
 * @param {string} admin
 * @param {string} cluster
 * @param {{ host: string, port: number }[]} endpoints
 */
export function putEndpoints(admin, cluster, endpoints) {
  const body = JSON.stringify(endpoints.map((e) => ({ address: e.host, port: e.port })));
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${admin}/clusters/${encodeURIComponent(cluster)}/endpoints`,
      { method: 'PUT', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.once('end', () => (res.statusCode === 200 ? resolve(undefined) : reject(new Error(`PUT endpoints: ${res.statusCode} ${text}`))));
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}

/**
 * Requests an upstream process has served, from its GET /stats.
 * @param {{ host: string, port: number }} upstream
 * @returns {Promise<number>}
 */
function upstreamRequests(upstream) {
  return new Promise((resolve, reject) => {
    const req = http.get(`http://${upstream.host}:${upstream.port}/stats`, { agent: false, timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.once('end', () => {
        try {
          resolve(Number(JSON.parse(text).requests));
        } catch (err) {
          reject(err);
        }
      });
    });
    req.once('timeout', () => req.destroy(new Error('no answer from the upstream\'s /stats')));
    req.once('error', reject);
  });
}

/**
 * @param {import('../lib/types.js').PeerStartContext} ctx
 * @param {Mode} mode
 */
const pillionOptions = (ctx, mode) => ({
  root: ctx.root,
  dir: ctx.dir,
  upstream: ctx.upstream,
  workers: ctx.workers,
  accessLogOff: ctx.facts.accessLogOff === true,
  adjust: mode.warmup ? withWarmup : undefined,
});

/**
 * One measurement: a fresh Pillion (and, to add, a fresh second upstream), the first 1000 requests, all stopped.
 * @param {import('../lib/types.js').PeerStartContext} ctx
 * @param {Mode} mode
 * @returns {Promise<import('../lib/types.js').Sample>}
 */
async function measureMode(ctx, mode) {
  const added = mode.add ? await startUpstream(ctx.root) : null;
  /** @type {import('../lib/pillion-process.js').PillionProcess | null} */
  let proxy = null;
  try {
    proxy = await startPillion(pillionOptions(ctx, mode));
    const url = `${proxy.url}/`;
    if (added) {
      await runCounted({ url, amount: BEFORE_ADD, connections: CONCURRENCY });
      await putEndpoints(proxy.admin, 'up', [ctx.upstream, added]);
    }
    const before = HAVE_PROC ? cpuSnapshot(proxy.pid) : null;
    const r = await runCounted({ url, amount: FIRST, connections: CONCURRENCY });
    const cpu = before ? cpuSecondsBetween(before, cpuSnapshot(proxy.pid), TICKS) : null;
    // The added upstream counts what it served: proof the measured requests met the new endpoint.
    const newEndpoint = added ? await upstreamRequests(added) : null;
    return countedSample(r, cpu, proxy.pid, { readyMs: proxy.readyMs, newEndpointRequests: newEndpoint });
  } finally {
    await proxy?.stop();
    await added?.stop();
  }
}

/**
 * A row whose every measurement starts a fresh Pillion. Starting it is a trial start and stop
 * with the row's config, so a config Pillion refuses leaves the row out with the reason up front.
 * @param {import('../lib/types.js').PeerKind} base
 * @param {Mode} mode
 * @returns {import('../lib/types.js').PeerKind}
 */
function modeKind(base, mode) {
  return {
    ...base,
    async start(ctx) {
      await (await startPillion(pillionOptions(ctx, mode))).stop();
      return { url: '', pid: null, stop: async () => {}, measure: () => measureMode(ctx, mode) };
    },
  };
}

/** @type {import('../lib/types.js').Scenario} */
export default {
  name: 'cold-start',
  title: `first ${fmtInt(FIRST)} requests (${CONCURRENCY} at a time) after Pillion starts and after an endpoint is added, with and without pool.warmup`,
  order: 80,
  load: { connections: CONCURRENCY, path: '/' },
  variants(selected) {
    const p = selected.find((v) => v.kind.name === 'pillion');
    if (!p) return [];
    return MODES.map((m) => ({ ...p, id: m.name, workers: 1, kind: modeKind(p.kind, m) }));
  },
  baseline: (row) => row.id.replace('+warmup', ''),
  async notes({ rows }) {
    const ready = median(rows.flatMap((r) => r.samples.map((s) => s.extra?.readyMs ?? null)));
    /** @param {string} id */
    const share = (id) => median(rows.find((r) => r.id === id)?.samples.map((s) => s.extra?.newEndpointRequests ?? null) ?? []);
    return {
      lines: [
        `Rows are one-worker Pillion; every measurement starts its own and stops it after. \`after-start\`: the first ${fmtInt(FIRST)} requests, ` +
          `${CONCURRENCY} at a time, sent the moment \`/ready\` answers 200 (polled every 10 ms; median ${ready === null ? '—' : fmtInt(ready)} ms after spawn). ` +
          `\`after-add\`: ${fmtInt(BEFORE_ADD)} unmeasured requests to the one endpoint first, then \`PUT /clusters/up/endpoints\` adds a second ` +
          `upstream process and the ${fmtInt(FIRST)} requests after the PUT returns are measured (round-robin, no slow start). ` +
          `\`+warmup\`: \`pool.warmup\` { connections: ${WARMUP.connections}, concurrency: ${WARMUP.concurrency} }; ratios compare with the row without it.`,
        `The new endpoint served a median ${fmtInt(share('after-add'))} of the ${fmtInt(FIRST)} (${fmtInt(share('after-add+warmup'))} with warm-up). ` +
          `The client opens its connections to Pillion with the first requests in every row; req/s is the ${fmtInt(FIRST)} requests over their wall time.`,
      ],
    };
  },
};
