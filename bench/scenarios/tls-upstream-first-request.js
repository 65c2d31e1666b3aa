// First-request latency through Pillion to an endpoint behind TLS, without and with `pool.warmup`
// (the method of scripts/tls-first-request.js). Each row is a one-worker Pillion whose cluster
// speaks TLS to one of two HTTPS endpoints (bench/tls-upstream.js, the bench's certificate, checked
// against the bench CA). A try swaps the cluster's endpoint for the other one through the admin API
// (`PUT /clusters/up/endpoints`), so the endpoint is new to the worker, waits until the worker runs
// the change (the old endpoint gone; for `warm`, the new one's pool warm too), then times one GET on
// a client connection to Pillion that is already open, and a second GET (a pooled connection: the
// steady state). `cold` pays TCP and a full TLS handshake to the endpoint; `warm` should pay neither.
import http from 'node:http';
import { fmtInt, fmtMs } from '../lib/format.js';
import { LatencyHistogram } from '../lib/latency-histogram.js';
import { startPillion } from '../lib/pillion-process.js';
import { HAVE_PROC, peakRssKiB } from '../lib/proc.js';
import { median } from '../lib/stats.js';
import { benchCertificates } from '../lib/tls-certs.js';
import { startUpstream } from '../lib/upstream-process.js';
import { putEndpoints } from './cold-start.js';

/** Tries per measurement. */
export const TRIES = 10;
/** `pool.warmup` of the `warm` row, as in scripts/tls-first-request.js. */
export const WARMUP = { connections: 2 };
const WAIT_MS = 15_000;
/** Requests under this prefix go to the cluster; `/` matches no route and only opens the client's connection. */
const PREFIX = '/t/';

/**
 * @typedef {object} Mode
 * @property {string} name
 * @property {boolean} warmup  pool.warmup on the cluster
 */

/** @type {Mode[]} */
export const MODES = [
  { name: 'cold', warmup: false },
  { name: 'warm', warmup: true },
];

/**
 * Pillion's bench config with one route under PREFIX to cluster `up`, which speaks TLS to `endpoint`
 * and trusts `caFile`; with `warmup`, `pool.warmup`.
 * @param {import('../lib/types.js').PillionConfig} config
 * @param {{ endpoint: { host: string, port: number }, caFile: string, warmup: boolean }} o
 * @returns {import('../lib/types.js').PillionConfig}
 */
export function firstRequestConfig(config, o) {
  const listeners = /** @type {Record<string, unknown>[]} */ (config.listeners);
  return {
    ...config,
    listeners: listeners.map((l, i) => (i === 0 ? { ...l, routes: [{ match: { prefix: PREFIX }, cluster: 'up' }] } : l)),
    clusters: [
      {
        name: 'up',
        endpoints: [{ address: o.endpoint.host, port: o.endpoint.port }],
        tls: { ca_file: o.caFile },
        ...(o.warmup ? { pool: { warmup: { ...WARMUP } } } : {}),
      },
    ],
  };
}

/**
 * A counter of cluster `up` from Pillion's metrics text (0 when absent).
 * @param {string} text
 * @param {string} name
 */
export function clusterMetric(text, name) {
  const m = new RegExp(`^pillion_${name}\\{cluster="up"\\} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * GET on `agent` (or a fresh connection): status, time to the end of the response, and `x-upstream`.
 * @param {string} url
 * @param {http.Agent | false} agent
 * @returns {Promise<{ status: number, ms: number, upstream: string | null, body: string }>}
 */
function get(url, agent) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.get(url, { agent, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
      });
      res.once('end', () => {
        const up = res.headers['x-upstream'];
        resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0, upstream: typeof up === 'string' ? up : null, body });
      });
    });
    req.once('timeout', () => req.destroy(new Error(`no answer from ${url}`)));
    req.once('error', reject);
  });
}

/**
 * Polls `check` every 10 ms until it returns true.
 * @param {string} what
 * @param {() => Promise<boolean>} check
 */
async function until(what, check) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Has the worker taken the swap: `from` gone (not even draining), `to` listed, and warm when asked?
 * @param {unknown} clusters  GET /clusters
 * @param {{ port: number }} from
 * @param {{ port: number }} to
 * @param {boolean} warm
 */
export function swapDone(clusters, from, to, warm) {
  const c = /** @type {{ name: string, endpoints: { port: number, warm: boolean | null }[] }[]} */ (clusters).find((x) => x.name === 'up');
  if (!c) return false;
  const e = c.endpoints.find((x) => x.port === to.port);
  return e !== undefined && !c.endpoints.some((x) => x.port === from.port) && (!warm || e.warm === true);
}

/**
 * A row: its own two HTTPS endpoints and one-worker Pillion, started once, measured TRIES tries at a time.
 * @param {import('../lib/types.js').PeerKind} base
 * @param {Mode} mode
 * @returns {import('../lib/types.js').PeerKind}
 */
function modeKind(base, mode) {
  return {
    ...base,
    async start(ctx) {
      const cert = benchCertificates();
      const args = (/** @type {string} */ name) => ['--cert', cert.certFile, '--key', cert.keyFile, '--name', name];
      /** @type {import('../lib/upstream-process.js').UpstreamProcess[]} */
      const ups = [];
      /** @type {import('../lib/pillion-process.js').PillionProcess | null} */
      let proxy = null;
      const stopAll = async () => {
        await proxy?.stop();
        await Promise.all(ups.map((u) => u.stop()));
      };
      try {
        for (const name of ['a', 'b']) ups.push(await startUpstream(ctx.root, { script: 'bench/tls-upstream.js', args: args(name) }));
        proxy = await startPillion({
          root: ctx.root,
          dir: ctx.dir,
          upstream: ups[0],
          workers: 1,
          accessLogOff: ctx.facts.accessLogOff === true,
          adjust: (c) => firstRequestConfig(c, { endpoint: ups[0], caFile: cert.caFile, warmup: mode.warmup }),
        });
        const p = proxy;
        // The first request proves the cluster's TLS works before anything is measured.
        const probe = await get(`${p.url}${PREFIX}probe`, false);
        if (probe.status !== 200 || probe.upstream !== 'a') throw new Error(`GET through Pillion: ${probe.status} ${probe.body.slice(0, 300)}`);
        let turn = 0;
        return {
          url: p.url,
          pid: p.pid,
          stop: stopAll,
          measure: async () => {
            const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
            const first = new LatencyHistogram();
            /** @type {number[]} */
            const next = [];
            let errors = 0;
            let ok = 0;
            const metrics = async () => (await get(`${p.admin}/metrics`, false)).body;
            const m0 = await metrics();
            const cpu0 = process.cpuUsage();
            const t0 = performance.now();
            try {
              for (let i = 0; i < TRIES; i++, turn++) {
                const from = ups[turn % 2];
                const to = ups[(turn + 1) % 2];
                await putEndpoints(p.admin, 'up', [to]);
                await until('the swap to reach the worker', async () => swapDone(JSON.parse((await get(`${p.admin}/clusters`, false)).body), from, to, mode.warmup));
                await get(`${p.url}/`, agent); // the client's connection to Pillion is open
                const r = await get(`${p.url}${PREFIX}x`, agent);
                if (r.status !== 200 || r.upstream !== (to === ups[0] ? 'a' : 'b')) {
                  errors++;
                  continue;
                }
                ok++;
                first.record(r.ms);
                const again = await get(`${p.url}${PREFIX}y`, agent);
                if (again.status === 200) next.push(again.ms);
              }
            } finally {
              agent.destroy();
            }
            const seconds = (performance.now() - t0) / 1000;
            const cpu = process.cpuUsage(cpu0);
            const m1 = await metrics();
            const delta = (/** @type {string} */ name) => clusterMetric(m1, name) - clusterMetric(m0, name);
            const handshakes = delta('upstream_tls_handshakes_total');
            const handshakeSeconds = delta('upstream_tls_handshake_seconds_sum');
            return {
              rps: null,
              p50: first.percentile(50),
              p99: first.percentile(99),
              errors,
              requests: ok + errors,
              seconds,
              cpuPer10k: null,
              rssKiB: HAVE_PROC ? peakRssKiB(p.pid) : null,
              upstreamCpuPer10k: null,
              loadCpu: (cpu.user + cpu.system) / 1e6 / seconds,
              extra: {
                pooledP50: median(next),
                upstreamHandshakes: handshakes,
                upstreamResumed: delta('upstream_tls_sessions_resumed_total'),
                handshakeMeanMs: handshakes > 0 ? (handshakeSeconds / handshakes) * 1000 : null,
              },
            };
          },
        };
      } catch (err) {
        await stopAll();
        throw err;
      }
    },
  };
}

/** @type {import('../lib/types.js').Scenario} */
export default {
  name: 'tls-upstream-first-request',
  title: `first request to an endpoint behind TLS just added (admin API), without (cold) and with pool.warmup (warm); ${TRIES} tries per round, 1 worker`,
  order: 85,
  load: { connections: 1, path: `${PREFIX}x` },
  variants(selected) {
    const p = selected.find((v) => v.kind.name === 'pillion');
    if (!p) return [];
    return MODES.map((m) => ({ ...p, id: m.name, workers: 1, kind: modeKind(p.kind, m) }));
  },
  baseline: () => 'cold',
  async notes({ rows }) {
    /** @param {string} id @param {string} key */
    const med = (id, key) => median(rows.find((r) => r.id === id)?.samples.map((s) => s.extra?.[key] ?? null) ?? []);
    /** @param {string} id @param {string} key */
    const sum = (id, key) => (rows.find((r) => r.id === id)?.samples ?? []).reduce((n, s) => n + (s.extra?.[key] ?? 0), 0);
    const tries = (/** @type {string} */ id) => (rows.find((r) => r.id === id)?.samples ?? []).reduce((n, s) => n + s.requests, 0);
    const per = (/** @type {string} */ id) =>
      `${id}: ${fmtInt(sum(id, 'upstreamHandshakes'))} handshakes over ${fmtInt(tries(id))} tries, ${fmtInt(sum(id, 'upstreamResumed'))} resumed, mean ${fmtMs(med(id, 'handshakeMeanMs'))} ms`;
    return {
      lines: [
        `Each try: \`PUT /clusters/up/endpoints\` swaps the cluster's one HTTPS endpoint for the other (two \`bench/tls-upstream.js\` processes, Node's HTTPS server, ` +
          `the bench's ECDSA P-256 certificate, checked against the bench CA), the bench waits until \`GET /clusters\` shows the old endpoint gone ` +
          `(and for \`warm\` the new one warm), then times one GET on an open client connection to Pillion (plain HTTP). ` +
          `p50/p99 are over those first requests; req/s and CPU do not apply. \`warm\`: \`pool.warmup\` { connections: ${WARMUP.connections} }; ratios compare with \`cold\`.`,
        `The next request on the same endpoint (a pooled connection), p50: cold ${fmtMs(med('cold', 'pooledP50'))} ms, warm ${fmtMs(med('warm', 'pooledP50'))} ms. ` +
          `Upstream TLS handshakes during the measured tries (Pillion's metrics; warm-up handshakes count): ${per('cold')}; ${per('warm')}.`,
      ],
    };
  },
};
