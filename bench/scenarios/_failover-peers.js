// The failover scenario's peers, each proxying to the same three upstream processes with its
// own way of surviving one of them dying (files starting with "_" are not scenarios):
//   Pillion  outlier detection (defaults), a tcp health check every 1 s, retries unlimited in concurrency, attempts 2 on
//            connect-failure and reset;
//   nginx    three `server` lines with nginx's defaults: max_fails 1, fail_timeout 10s,
//            proxy_next_upstream error timeout (a failed GET goes to the next server);
//   HAProxy  `check inter 1s` on each server, `retries 2`, `retry-on conn-failure empty-response`,
//            `option redispatch` (a retry goes to another server): its equivalent of Pillion's.
// Everything else is the configuration the other scenarios measure (peers/*.js).
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { findBinary } from '../lib/binaries.js';
import { startChild } from '../lib/child.js';
import { freePort, waitFor200 } from '../lib/net.js';
import { startPillion } from '../lib/pillion-process.js';
import { haproxyConfig } from '../peers/haproxy.js';
import { nginxConfig } from '../peers/nginx.js';

/** @typedef {{ host: string, port: number }} Upstream */
/** @typedef {{ url: string, pid: number, admin?: string, stop: () => Promise<void> }} StartedPeer */

export const PEER_SETUP = {
  pillion: 'outlier_detection (defaults), health_check tcp every 1s, retry attempts 2 on connect-failure and reset, retries not limited in concurrency (budget_percent 100, max_retries 1024)',
  nginx: "three servers with nginx's defaults (max_fails 1, fail_timeout 10s, proxy_next_upstream error timeout)",
  haproxy: '`check inter 1s`, `retries 2`, `retry-on conn-failure empty-response`, `option redispatch`',
};

/**
 * Replaces the one line that names the upstream in a peer's usual config; throws when the
 * usual config changed shape, rather than measuring a peer with a single upstream.
 * @param {string} text
 * @param {string} line
 * @param {string[]} lines
 */
function replaceLine(text, line, lines) {
  if (!text.includes(line)) throw new Error(`the usual config no longer holds "${line.trim()}"`);
  return text.replace(line, lines.join(''));
}

/**
 * @param {{ dir: string, port: number, workers: number }} o
 * @param {ReadonlyArray<Upstream>} ups
 */
export function nginxFailoverConfig(o, ups) {
  const text = nginxConfig({ ...o, upstream: ups[0] });
  return replaceLine(text, `    server ${ups[0].host}:${ups[0].port};\n`, ups.map((u) => `    server ${u.host}:${u.port};\n`));
}

/**
 * @param {{ port: number, workers: number }} o
 * @param {ReadonlyArray<Upstream>} ups
 */
export function haproxyFailoverConfig(o, ups) {
  const text = haproxyConfig({ ...o, upstream: ups[0] });
  const servers = replaceLine(
    text,
    `  server up1 ${ups[0].host}:${ups[0].port}\n`,
    ups.map((u, i) => `  server up${i + 1} ${u.host}:${u.port} check inter 1s\n`),
  );
  return replaceLine(servers, '\nbackend up\n', ['\nbackend up\n', '  option redispatch\n', '  retries 2\n', '  retry-on conn-failure empty-response\n']);
}

/**
 * @param {import('../lib/types.js').PillionConfig} config
 * @param {ReadonlyArray<Upstream>} ups
 * @returns {import('../lib/types.js').PillionConfig}
 */
export function pillionFailoverConfig(config, ups) {
  const listeners = /** @type {{ routes: Record<string, unknown>[] }[]} */ (config.listeners);
  const clusters = /** @type {Record<string, unknown>[]} */ (config.clusters);
  return {
    ...config,
    listeners: listeners.map((l) => ({
      ...l,
      // Retries sized for failover: every request in flight on a dying endpoint may be retried at once
      // (nginx and HAProxy put no concurrency limit on theirs); the defaults (3 in flight, 20%) guard
      // against retry storms instead.
      routes: l.routes.map((r) => ({ ...r, retry: { attempts: 2, on: ['connect-failure', 'reset'], budget_percent: 100, min_retry_concurrency: 64 } })),
    })),
    clusters: clusters.map((c) => ({
      ...c,
      endpoints: ups.map((u) => ({ address: u.host, port: u.port })),
      health_check: { tcp: {}, interval: '1s' },
      outlier_detection: {},
      circuit_breaker: { max_retries: 1024 },
    })),
  };
}

// Pillion's own account of the run, from its /metrics (cluster "up").
const COUNTERS = {
  retries: /^pillion_retries_total\{cluster="up"\} (\d+)$/m,
  retriesRefusedByMaxRetries: /^pillion_circuit_breaker_rejections_total\{cluster="up",limit="max_retries"\} (\d+)$/m,
  upstreamResets: /^pillion_upstream_resets_total\{cluster="up"\} (\d+)$/m,
  connectFailures: /^pillion_upstream_connect_failures_total\{cluster="up"\} (\d+)$/m,
};

/**
 * @param {string} text Prometheus text from Pillion's /metrics
 * @returns {Record<keyof typeof COUNTERS, number | null>}
 */
export function parsePillionCounters(text) {
  /** @type {Record<string, number | null>} */
  const out = {};
  for (const [key, re] of Object.entries(COUNTERS)) {
    const m = re.exec(text);
    out[key] = m ? Number(m[1]) : null;
  }
  return /** @type {Record<keyof typeof COUNTERS, number | null>} */ (out);
}

/**
 * Workers report their counters to the supervisor once a second; read after that.
 * @param {string} admin
 */
export async function pillionCounters(admin) {
  await new Promise((resolve) => setTimeout(resolve, 1200));
  const res = await fetch(`${admin}/metrics`);
  return parsePillionCounters(await res.text());
}

/**
 * Starts a child peer from a config file and waits for a 200 through it.
 * @param {string} what
 * @param {string} bin
 * @param {string[]} args
 * @param {number} port
 * @returns {Promise<StartedPeer>}
 */
async function startBinary(what, bin, args, port) {
  const child = startChild(bin, args);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor200(`${url}/`, { exited: child.exited, output: child.output, what });
  } catch (err) {
    await child.stop('SIGKILL');
    throw err;
  }
  return { url, pid: child.pid, stop: () => child.stop('SIGTERM') };
}

/**
 * Starts peer `kind` in front of `ups`.
 * @param {string} kind  pillion, nginx or haproxy
 * @param {import('../lib/types.js').PeerStartContext} ctx
 * @param {ReadonlyArray<Upstream>} ups
 * @returns {Promise<StartedPeer>}
 */
export async function startFailoverPeer(kind, ctx, ups) {
  if (kind === 'pillion') {
    const p = await startPillion({
      root: ctx.root,
      dir: ctx.dir,
      upstream: ups[0],
      workers: ctx.workers,
      accessLogOff: ctx.facts.accessLogOff === true,
      adjust: (c) => pillionFailoverConfig(c, ups),
    });
    try {
      await waitFor200(`${p.url}/`, { what: 'pillion' });
    } catch (err) {
      await p.stop();
      throw err;
    }
    return { url: p.url, pid: p.pid, admin: p.admin, stop: p.stop };
  }
  const port = await freePort();
  const bin = findBinary(kind);
  if (!bin) throw new Error(`${kind} is not installed`);
  if (kind === 'nginx') {
    // Worker processes drop to an unprivileged user when the master runs as root.
    chmodSync(ctx.dir, 0o755);
    const conf = path.join(ctx.dir, `nginx-${port}.conf`);
    writeFileSync(conf, nginxFailoverConfig({ dir: ctx.dir, port, workers: ctx.workers }, ups));
    return startBinary('nginx', bin, ['-e', path.join(ctx.dir, 'error.log'), '-p', ctx.dir, '-c', conf], port);
  }
  if (kind === 'haproxy') {
    const cfg = path.join(ctx.dir, `haproxy-${port}.cfg`);
    writeFileSync(cfg, haproxyFailoverConfig({ port, workers: ctx.workers }, ups));
    return startBinary('haproxy', bin, ['-db', '-f', cfg], port);
  }
  throw new Error(`no failover setup for ${kind}`);
}
