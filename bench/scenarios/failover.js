// One of three upstreams dies under load: each peer (one worker) proxies to three fresh
// upstream processes, and 30% into the run one of them gets SIGKILL. The row's errors are the
// requests that failed (non-2xx, socket errors, timeouts); p50/p99 are over the 2xx answers of
// the whole run. Every peer gets the same upstreams, load and kill time; how each is set up to
// survive it is in _failover-peers.js.
import { countedSample, runCounted } from '../lib/counted-load.js';
import { fmtInt } from '../lib/format.js';
import { HAVE_PROC, clockTicks, cpuSecondsBetween, cpuSnapshot } from '../lib/proc.js';
import { median } from '../lib/stats.js';
import { startUpstreams } from '../lib/upstream-process.js';
import { PEER_SETUP, pillionCounters, startFailoverPeer } from './_failover-peers.js';

const TICKS = HAVE_PROC ? clockTicks() : 100;
const UPSTREAMS = 3;
const VICTIM = 1;
const KILL_AT = 0.3;
const KINDS = ['pillion', 'nginx', 'haproxy'];
/** @type {import('../lib/types.js').LoadSpec} */
const LOAD = { connections: 50, path: '/' };

/**
 * One measurement: three fresh upstreams, a fresh peer, load for `seconds` with one upstream
 * killed at 30% of it, everything stopped after.
 * @param {string} kind
 * @param {import('../lib/types.js').PeerStartContext} ctx
 * @param {number} seconds
 * @returns {Promise<import('../lib/types.js').Sample>}
 */
async function measureFailover(kind, ctx, seconds) {
  const ups = await startUpstreams(ctx.root, UPSTREAMS);
  /** @type {import('./_failover-peers.js').StartedPeer | null} */
  let peer = null;
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  try {
    peer = await startFailoverPeer(kind, ctx, ups);
    const before = HAVE_PROC ? cpuSnapshot(peer.pid) : null;
    const t0 = performance.now();
    let killedAtMs = -1;
    /** @type {Promise<void>} */
    let killed = Promise.resolve();
    timer = setTimeout(() => {
      killedAtMs = performance.now() - t0;
      killed = ups[VICTIM].kill();
    }, seconds * KILL_AT * 1000);
    const r = await runCounted({ url: `${peer.url}${LOAD.path}`, connections: LOAD.connections, seconds });
    await killed;
    const cpu = before ? cpuSecondsBetween(before, cpuSnapshot(peer.pid), TICKS) : null;
    const counters = peer.admin ? await pillionCounters(peer.admin) : {};
    /** @type {Record<string, number>} */
    const failures = {};
    for (const [why, n] of Object.entries(r.failures)) failures[`failed ${why}`] = n;
    const requests = r.ok + r.failed;
    const afterKill = (/** @type {number | null} */ ms) => (ms === null || killedAtMs < 0 ? null : ms - killedAtMs);
    return countedSample(r, cpu, peer.pid, {
      successRate: requests ? r.ok / requests : null,
      killedAtMs: killedAtMs < 0 ? null : killedAtMs,
      firstFailureAfterKillMs: afterKill(r.firstFailureMs),
      lastFailureAfterKillMs: afterKill(r.lastFailureMs),
      ...failures,
      ...counters,
    });
  } finally {
    clearTimeout(timer);
    await peer?.stop();
    await Promise.all(ups.map((u) => u.stop()));
  }
}

/**
 * A row whose every measurement starts fresh upstreams and a fresh peer. Starting it is a trial
 * start and stop, so a peer that cannot run this setup is left out with its reason up front.
 * @param {import('../lib/types.js').PeerKind} base
 * @returns {import('../lib/types.js').PeerKind}
 */
function failoverKind(base) {
  return {
    ...base,
    async start(ctx) {
      const ups = await startUpstreams(ctx.root, UPSTREAMS);
      try {
        await (await startFailoverPeer(base.name, ctx, ups)).stop();
      } finally {
        await Promise.all(ups.map((u) => u.stop()));
      }
      return { url: '', pid: null, stop: async () => {}, measure: (m) => measureFailover(base.name, ctx, m.seconds) };
    },
  };
}

/**
 * Sums the `extra` figures of all rounds whose key starts with `prefix` (or is in `keys`), prefix dropped.
 * @param {ReadonlyArray<import('../lib/types.js').Sample>} samples
 * @param {string} prefix
 * @param {ReadonlyArray<string>} [keys]
 * @returns {Record<string, number>}
 */
export function sumExtra(samples, prefix, keys) {
  /** @type {Record<string, number>} */
  const out = {};
  for (const s of samples) {
    for (const [k, v] of Object.entries(s.extra ?? {})) {
      if (typeof v !== 'number' || !(keys ? keys.includes(k) : k.startsWith(prefix))) continue;
      const name = k.slice(prefix.length);
      out[name] = (out[name] ?? 0) + v;
    }
  }
  return out;
}

/** @param {number | null} ms */
const fmtAfter = (ms) => (ms === null ? '—' : `${fmtInt(ms)} ms`);

/** @type {import('../lib/types.js').Scenario} */
export default {
  name: 'failover',
  title: `${UPSTREAMS} upstreams, one SIGKILLed ${KILL_AT * 100}% into the run, ${LOAD.connections} connections, 1 worker`,
  order: 90,
  load: LOAD,
  variants(selected) {
    return KINDS.flatMap((k) => {
      const v = selected.find((s) => s.kind.name === k);
      return v ? [{ ...v, id: `${k}-1`, workers: 1, kind: failoverKind(v.kind) }] : [];
    });
  },
  async notes({ rows }) {
    const lines = rows.map((row) => {
      const med = (/** @type {string} */ key) => median(row.samples.map((s) => s.extra?.[key] ?? null));
      const rate = med('successRate');
      const failed = median(row.samples.map((s) => s.errors)) ?? 0;
      const setup = PEER_SETUP[/** @type {keyof typeof PEER_SETUP} */ (row.id.replace(/-\d+$/, ''))];
      let line =
        `\`${row.id}\` (${setup}): success ${rate === null ? '—' : `${(rate * 100).toFixed(3)}%`} (2xx / all), ` +
        `${fmtInt(failed)} failed (medians over ${row.samples.length} round${row.samples.length === 1 ? '' : 's'})`;
      const kinds = sumExtra(row.samples, 'failed ');
      if (Object.keys(kinds).length) {
        line +=
          `; over all rounds the failures were ${Object.entries(kinds).map(([k, n]) => `${k} ×${fmtInt(n)}`).join(', ')}, ` +
          `from ${fmtAfter(med('firstFailureAfterKillMs'))} to ${fmtAfter(med('lastFailureAfterKillMs'))} after the kill (medians)`;
      }
      const c = sumExtra(row.samples, '', ['retries', 'retriesRefusedByMaxRetries', 'upstreamResets', 'connectFailures']);
      if (Object.keys(c).length) {
        line +=
          `; Pillion's /metrics over all rounds: ${fmtInt(c.retries)} retries, ${fmtInt(c.retriesRefusedByMaxRetries)} refused by ` +
          `circuit_breaker.max_retries (default 3 in flight), ${fmtInt(c.upstreamResets)} upstream resets, ${fmtInt(c.connectFailures)} connect failures`;
      }
      return `${line}.`;
    });
    lines.push(
      'Each measurement starts three fresh bench/upstream.js processes and a fresh peer; `errors` counts non-2xx answers, ' +
        'socket errors and timeouts; p50/p99 are over the 2xx answers of the whole run.',
    );
    return { lines };
  },
};
