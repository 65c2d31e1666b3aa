// The default measurement: autocannon against the peer, with the proxy's and the
// upstream's CPU read from /proc before and after.
import autocannon from 'autocannon';
import { LatencyHistogram } from './latency-histogram.js';
import { HAVE_PROC, clockTicks, cpuSecondsBetween, cpuSnapshot, peakRssKiB } from './proc.js';

const TICKS = HAVE_PROC ? clockTicks() : 100;

/** @type {Map<number, Buffer>} */
const bodies = new Map();

/** One body per size for the whole bench: autocannon sends the same bytes every request. */
function bodyOf(/** @type {number} */ bytes) {
  let b = bodies.get(bytes);
  if (!b) {
    b = Buffer.alloc(bytes, 'b');
    bodies.set(bytes, b);
  }
  return b;
}

/**
 * @param {import('./types.js').LoadSpec} load
 * @param {string} url
 * @param {number} seconds
 */
export function autocannonOptions(load, url, seconds) {
  /** @type {Record<string, unknown>} */
  const opts = {
    url: `${url}${load.path}`,
    connections: load.connections,
    pipelining: load.pipelining ?? 1,
    duration: seconds,
    method: load.method ?? 'GET',
    timeout: 10,
  };
  if (load.bodyBytes) {
    opts.body = bodyOf(load.bodyBytes);
    opts.headers = { 'content-type': 'application/octet-stream' };
  }
  return opts;
}

/**
 * Runs autocannon and records each 2xx response's latency at microsecond resolution
 * (autocannon's own figures are whole milliseconds); errors are left out as autocannon does.
 * @param {Record<string, unknown>} opts
 * @returns {Promise<{ result: any, latency: LatencyHistogram }>}
 */
export function cannon(opts) {
  const latency = new LatencyHistogram();
  return new Promise((resolve, reject) => {
    const instance = autocannon(opts, (/** @type {Error | null} */ err, /** @type {any} */ result) => {
      if (err) reject(err);
      else resolve({ result, latency });
    });
    instance.on('response', (/** @type {unknown} */ _client, /** @type {number} */ status, /** @type {number} */ _bytes, /** @type {number} */ ms) => {
      if (status >= 200 && status < 300) latency.record(ms);
    });
  });
}

/**
 * Per 10k requests; null without requests or without a measurement.
 * @param {number | null} seconds
 * @param {number} requests
 */
export function per10k(seconds, requests) {
  return seconds === null || requests === 0 ? null : (seconds / requests) * 10_000;
}

/**
 * @param {import('./types.js').MeasureContext} ctx
 * @param {import('./types.js').Scenario} scenario
 * @returns {Promise<import('./types.js').Sample>}
 */
export async function measureLoad(ctx, scenario) {
  const proxyBefore = HAVE_PROC && ctx.pid !== null ? cpuSnapshot(ctx.pid) : null;
  const upBefore = HAVE_PROC ? cpuSnapshot(ctx.upstreamPid) : null;
  const selfBefore = process.cpuUsage();
  const t0 = performance.now();
  const { result: r, latency } = await cannon(autocannonOptions(scenario.load, ctx.url, ctx.seconds));
  const wall = (performance.now() - t0) / 1000;
  const self = process.cpuUsage(selfBefore);
  const proxyCpu =
    proxyBefore && ctx.pid !== null ? cpuSecondsBetween(proxyBefore, cpuSnapshot(ctx.pid), TICKS) : null;
  const upCpu = upBefore ? cpuSecondsBetween(upBefore, cpuSnapshot(ctx.upstreamPid), TICKS) : null;
  const requests = r.requests.total;
  const seconds = r.duration > 0 ? r.duration : wall;
  return {
    rps: requests / seconds,
    p50: latency.percentile(50),
    p99: latency.percentile(99),
    errors: r.errors + r.non2xx,
    requests,
    seconds,
    cpuPer10k: per10k(proxyCpu, requests),
    rssKiB: HAVE_PROC && ctx.pid !== null ? peakRssKiB(ctx.pid) : null,
    upstreamCpuPer10k: per10k(upCpu, requests),
    loadCpu: (self.user + self.system) / 1e6 / wall,
  };
}

/**
 * Unmeasured load, to warm JITs and fill connection pools.
 * @param {string} url
 * @param {import('./types.js').Scenario} scenario
 * @param {number} seconds
 */
export async function warm(url, scenario, seconds) {
  if (seconds <= 0 || scenario.measure) return;
  await cannon(autocannonOptions(scenario.load, url, seconds));
}
