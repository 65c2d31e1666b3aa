// Shared by h2-to-http1 and h2-to-h2 (files starting with "_" are not scenarios): the load (h2load,
// cleartext HTTP/2 with prior knowledge), the rows (one-worker Pillion, nginx and HAProxy; for
// h2-to-h2 each row with its own HTTP/2 upstream, lib/h2-upstream.js), and the notes: how each peer
// speaks HTTP/2, every error h2load counted, and how Pillion compares with nginx.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fmtCpu, fmtInt, fmtPct } from '../lib/format.js';
import { h2loadBinary, h2loadVersion, INACTIVITY_SECONDS, measureH2load, warmH2load } from '../lib/h2-load.js';
import { startH2Upstream } from '../lib/h2-upstream.js';
import { median } from '../lib/stats.js';
import { goalLine } from './_tls.js';

/** Peer kinds that serve cleartext HTTP/2 here. `pillion-strict` is left out: with `codec: h2c` it is the same server as `pillion`. */
export const H2_KINDS = ['pillion', 'nginx', 'haproxy'];

/** 10 connections × 10 concurrent streams: 100 requests in flight. */
export const H2_LOAD = /** @type {const} */ ({ connections: 10, streams: 10, path: '/' });

/** At this share of a core or more, h2load (one thread) sets the pace. */
export const CLIENT_BOUND = 0.85;

/** @type {Map<string, { pid: number, port: number }>} peer URL → its own HTTP/2 upstream (h2-to-h2) */
const upstreams = new Map();

/**
 * Pillion's bench config with the listener on `codec: h2c` and, for an HTTP/2 upstream, the cluster on
 * `protocol: h2c`; pools and HTTP/2 settings are the defaults.
 * @param {import('../lib/types.js').PillionConfig} config
 * @param {'http1' | 'h2c'} upstream
 * @returns {import('../lib/types.js').PillionConfig}
 */
export function h2PillionConfig(config, upstream) {
  const listeners = /** @type {Record<string, unknown>[]} */ (config.listeners);
  const clusters = /** @type {Record<string, unknown>[]} */ (config.clusters);
  return {
    ...config,
    listeners: listeners.map((l, i) => (i === 0 ? { ...l, codec: 'h2c' } : l)),
    clusters: upstream === 'h2c' ? clusters.map((c) => ({ ...c, protocol: 'h2c' })) : clusters,
  };
}

/**
 * A kind that checks for h2load first, and with an HTTP/2 upstream starts one for the peer (in a
 * folder of the peer's own) and stops it with the peer.
 * @param {import('../lib/types.js').PeerKind} base
 * @param {'http1' | 'h2c'} upstream
 * @returns {import('../lib/types.js').PeerKind}
 */
function h2Kind(base, upstream) {
  return {
    ...base,
    async start(ctx) {
      if (!h2loadBinary()) throw new Error('h2load is not installed (apt-get install nghttp2-client)');
      if (upstream === 'http1') return base.start(ctx);
      const up = await startH2Upstream(path.join(ctx.dir, 'h2-upstream'));
      try {
        const peer = await base.start({ ...ctx, upstream: up });
        upstreams.set(peer.url, { pid: up.pid, port: up.port });
        return {
          ...peer,
          stop: async () => {
            upstreams.delete(peer.url);
            await peer.stop();
            await up.stop();
          },
        };
      } catch (err) {
        await up.stop();
        throw err;
      }
    },
  };
}

/**
 * The rows: one-worker Pillion, nginx and HAProxy (and a `--baseline` twin of Pillion), as installed and
 * selected; with `direct`, also the load straight to the upstream (h2-to-h2: the HTTP/2 upstream's limit).
 * @param {ReadonlyArray<import('../lib/run-scenario.js').ReadyVariant>} selected
 * @param {'http1' | 'h2c'} upstream
 * @param {{ direct: boolean }} o
 * @returns {import('../lib/run-scenario.js').ReadyVariant[]}
 */
export function h2Variants(selected, upstream, o) {
  const kinds = o.direct ? ['direct', ...H2_KINDS] : H2_KINDS;
  return selected
    .filter((v) => v.workers === 1 && kinds.includes(v.kind.family ?? v.kind.name))
    .map((v) => ({ ...v, kind: h2Kind(v.kind, upstream) }));
}

/**
 * The scenario fields both HTTP/2 scenarios share: the load, the rows, h2load as measure and warm-up.
 * @param {'http1' | 'h2c'} upstream
 * @param {{ direct: boolean }} o
 */
export function h2Scenario(upstream, o) {
  return {
    load: { ...H2_LOAD },
    http2: { upstream },
    pillionConfig: (/** @type {import('../lib/types.js').PillionConfig} */ c) => h2PillionConfig(c, upstream),
    variants: (/** @type {ReadonlyArray<import('../lib/run-scenario.js').ReadyVariant>} */ selected) => h2Variants(selected, upstream, o),
    measure: (/** @type {import('../lib/types.js').MeasureContext} */ ctx) =>
      measureH2load(ctx, H2_LOAD, { upstreamPid: upstreams.get(ctx.url)?.pid }),
    warm: (/** @type {string} */ url, /** @type {number} */ seconds) => warmH2load(url, H2_LOAD, seconds),
  };
}

/**
 * Established TCP connections whose remote end is 127.0.0.1:`port` (from /proc/net/tcp), or null
 * without /proc: how many upstream connections a proxy holds.
 * @param {number} port
 * @param {string} [table] the text of /proc/net/tcp (tests)
 * @returns {number | null}
 */
export function connectionsTo(port, table) {
  let text = table;
  if (text === undefined) {
    if (!existsSync('/proc/net/tcp')) return null;
    text = readFileSync('/proc/net/tcp', 'utf8');
  }
  // rem_address of 127.0.0.1:port as the kernel prints it (little-endian address, big-endian port), state 01 = ESTABLISHED.
  const rem = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let n = 0;
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[2] === rem && f[3] === '01') n++;
  }
  return n;
}

/**
 * Every h2load error of every run, per row: a run with errors never hides behind a median of 0.
 * @param {{ id: string, samples: import('../lib/types.js').Sample[] }[]} rows
 * @returns {string}
 */
export function errorsLine(rows) {
  const bad = rows.flatMap((r) => {
    const runs = r.samples.filter((s) => s.errors > 0);
    if (!runs.length) return [];
    const sum = (/** @type {string} */ key) => runs.reduce((n, s) => n + (s.extra?.[key] ?? 0), 0);
    const killed = sum('killed');
    const parts = [
      `${fmtInt(sum('failed'))} failed (${fmtInt(sum('errored'))} errored, ${fmtInt(sum('timeout'))} timed out)`,
      ...(sum('status4xx') + sum('status5xx') ? [`${fmtInt(sum('status4xx'))} 4xx, ${fmtInt(sum('status5xx'))} 5xx`] : []),
      ...(sum('status3xx') ? [`${fmtInt(sum('status3xx'))} 3xx`] : []),
      ...(killed ? [`h2load killed after running too long in ${killed} run${killed === 1 ? '' : 's'}`] : []),
      ...(sum('noSummary') ? [`h2load ended without its summary in ${sum('noSummary')} run${sum('noSummary') === 1 ? '' : 's'}`] : []),
    ];
    return [
      `${r.id} in ${runs.length} of ${r.samples.length} runs: ${fmtInt(runs.reduce((n, s) => n + s.errors, 0))} requests not answered 2xx (h2load: ${parts.join('; ')})`,
    ];
  });
  const runs = rows.reduce((n, r) => n + r.samples.length, 0);
  return bad.length
    ? `**Errors** (summed over the runs; the table's errors column is the median run): ${bad.join('; ')}.`
    : `Errors: none (h2load counted 0 failed and 0 errored requests, every answer 2xx, in all ${runs} runs).`;
}

/**
 * A warning when h2load used most of a core on some row: there it, not the proxy, set the pace.
 * @param {{ id: string, samples: import('../lib/types.js').Sample[] }[]} rows
 * @returns {string | null}
 */
export function clientBoundLine(rows) {
  const busy = rows
    .map((r) => ({ id: r.id, cpu: median(r.samples.map((s) => s.loadCpu)) }))
    .filter((r) => r.cpu !== null && r.cpu >= CLIENT_BOUND);
  if (!busy.length) return null;
  return (
    `h2load (one thread) used ${busy.map((r) => `${fmtPct(r.cpu)} of a core on ${r.id}`).join(', ')}: ` +
    'there it, not the proxy, set the pace, so compare by CPU per request.'
  );
}

/**
 * How the load is made and measured, for the notes.
 * @param {string | null} version h2load's
 */
export function loadLine(version) {
  return (
    `Load: h2load (${version ?? 'version unknown'}), \`-c ${H2_LOAD.connections} -m ${H2_LOAD.streams} -t 1\`: GET / over cleartext HTTP/2 with prior knowledge, ` +
    `${H2_LOAD.connections * H2_LOAD.streams} requests in flight on ${H2_LOAD.connections} connections; each measured run asks for a fixed count (\`-n\`) ` +
    `sized from the peer's last rate to last about the run's seconds (h2load's timing mode does not count lost requests as failed), ` +
    `\`-N ${INACTIVITY_SECONDS}\` closes a silent connection and counts its requests as timed out. p50/p99 from \`--log-file\`, 2xx only; ` +
    'load gen CPU is h2load\'s process.'
  );
}

/**
 * The notes both scenarios print: the setup, the errors, Pillion against nginx, and the client's share.
 * @param {import('../lib/types.js').NotesContext} ctx
 * @param {string} setup what each peer is configured with
 * @param {string[]} [extra] more lines, after the setup
 */
export async function h2Notes(ctx, setup, extra = []) {
  if (!ctx.rows.length) return { lines: [] };
  const version = await h2loadVersion();
  const goal = goalLine(ctx.rows, 'req/s', { goal: false });
  const bound = clientBoundLine(ctx.rows);
  const perRequest = ctx.rows.flatMap((r) => {
    const c = median(r.samples.map((s) => s.cpuPer10k));
    return c === null ? [] : [`${r.id} ${(c * 100).toFixed(1)}`];
  });
  return {
    lines: [
      errorsLine(ctx.rows),
      loadLine(version),
      setup,
      ...extra,
      ...(goal.line ? [goal.line] : []),
      ...(perRequest.length ? [`Proxy CPU per request, µs: ${perRequest.join(', ')}.`] : []),
      ...(bound ? [bound] : []),
    ],
    data: { h2load: version, pillionToNginx: { rps: goal.rps, cpuPer10k: goal.cpu } },
  };
}

/**
 * Upstream connections each row's proxy holds after the rounds, and the upstream's CPU per 10k requests (h2-to-h2).
 * @param {import('../lib/types.js').NotesContext} ctx
 * @returns {{ line: string, data: Record<string, number | null> }}
 */
export function upstreamLine(ctx) {
  /** @type {Record<string, number | null>} */
  const held = {};
  const parts = ctx.rows.flatMap((r) => {
    const up = upstreams.get(r.url);
    if (!up) return [];
    const upCpu = `upstream CPU ${fmtCpu(median(r.samples.map((s) => s.upstreamCpuPer10k)))} s per 10k`;
    // The direct row's connections were h2load's, gone with it.
    if (r.pid === null) return [`${r.id} ${upCpu}`];
    held[r.id] = connectionsTo(up.port);
    return [`${r.id} ${held[r.id] ?? '—'} connection${held[r.id] === 1 ? '' : 's'}, ${upCpu}`];
  });
  return {
    line: `Each row has its own HTTP/2 upstream (lib/h2-upstream.js); connections to it after the rounds, and its CPU: ${parts.join('; ')}.`,
    data: held,
  };
}
