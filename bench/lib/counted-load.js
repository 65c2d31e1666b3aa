// autocannon with every response and failure counted as it happens: a fixed number of
// requests (the first 1000 after a start, a million to watch memory) or a fixed time with
// the moments failures began and ended (failover). autocannon ends on its next 1 s tick after
// the last response, so the wall time here stops at the last response instead.
import autocannon from 'autocannon';
import { LatencyHistogram } from './latency-histogram.js';
import { per10k } from './load.js';
import { HAVE_PROC, peakRssKiB } from './proc.js';

/**
 * @typedef {object} CountedResult
 * @property {LatencyHistogram} latency   2xx responses only
 * @property {number} ok                  2xx responses
 * @property {number} failed              other responses, socket errors and timeouts
 * @property {number} seconds             start to last response
 * @property {number} loadCpu             the bench process's CPU over that time, a fraction of one core
 * @property {number | null} firstFailureMs  since the start
 * @property {number | null} lastFailureMs
 * @property {Record<string, number>} failures  by status code, or `socket error` / `timeout`
 */

/**
 * GETs `url` over `connections` keep-alive connections, `amount` requests or for `seconds`.
 * `onEvery(n)` runs after every `every` responses (n = responses so far) inside the response
 * handler, so keep it short.
 * @param {{ url: string, connections: number, amount?: number, seconds?: number,
 *           every?: number, onEvery?: (n: number) => void }} o
 * @returns {Promise<CountedResult>}
 */
export function runCounted(o) {
  if ((o.amount === undefined) === (o.seconds === undefined)) throw new Error('runCounted: give exactly one of amount, seconds');
  const latency = new LatencyHistogram();
  let ok = 0;
  let failed = 0;
  let responses = 0;
  let last = 0;
  /** @type {number | null} */
  let firstFailure = null;
  /** @type {number | null} */
  let lastFailure = null;
  /** @type {NodeJS.CpuUsage | null} */
  let cpuAtLast = null;
  /** @type {Record<string, number>} */
  const failures = {};
  const every = o.every ?? 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const fail = (/** @type {string} */ why) => {
    failed++;
    failures[why] = (failures[why] ?? 0) + 1;
    const t = performance.now() - t0;
    firstFailure ??= t;
    lastFailure = t;
  };
  /** @type {Record<string, unknown>} */
  const opts = { url: o.url, connections: o.connections, timeout: 10 };
  if (o.amount !== undefined) {
    opts.amount = o.amount;
    opts.connections = Math.min(o.connections, o.amount);
  } else {
    opts.duration = o.seconds;
  }
  return new Promise((resolve, reject) => {
    const instance = autocannon(opts, (/** @type {Error | null} */ err) => {
      if (err) return reject(err);
      const end = last || performance.now();
      const cpu = cpuAtLast ?? process.cpuUsage(cpu0);
      const seconds = (end - t0) / 1000;
      resolve({
        latency,
        ok,
        failed,
        seconds,
        loadCpu: (cpu.user + cpu.system) / 1e6 / seconds,
        firstFailureMs: firstFailure,
        lastFailureMs: lastFailure,
        failures,
      });
    });
    instance.on('response', (/** @type {unknown} */ _c, /** @type {number} */ status, /** @type {number} */ _b, /** @type {number} */ ms) => {
      responses++;
      last = performance.now();
      if (status >= 200 && status < 300) {
        ok++;
        latency.record(ms);
      } else {
        fail(String(status));
      }
      if (responses === o.amount) cpuAtLast = process.cpuUsage(cpu0);
      if (every > 0 && responses % every === 0) o.onEvery?.(responses);
    });
    // Socket errors and timeouts; autocannon reconnects and goes on.
    instance.on('reqError', (/** @type {Error} */ err) => fail(/timed out/.test(err.message) ? 'timeout' : 'socket error'));
  });
}

/**
 * The sample a counted run reports: throughput, latency, errors, the proxy's CPU per 10k requests
 * (from `cpuSeconds`, null when unknown) and its peak RSS; `extra` is the scenario's own figures.
 * @param {{ ok: number, failed: number, seconds: number, loadCpu: number, latency: LatencyHistogram }} r
 * @param {number | null} cpuSeconds
 * @param {number} pid
 * @param {Record<string, number | null>} extra
 * @returns {import('./types.js').Sample}
 */
export function countedSample(r, cpuSeconds, pid, extra) {
  const requests = r.ok + r.failed;
  return {
    rps: requests / r.seconds,
    p50: r.latency.percentile(50),
    p99: r.latency.percentile(99),
    errors: r.failed,
    requests,
    seconds: r.seconds,
    cpuPer10k: per10k(cpuSeconds, requests),
    rssKiB: HAVE_PROC ? peakRssKiB(pid) : null,
    upstreamCpuPer10k: null,
    loadCpu: r.loadCpu,
    extra,
  };
}
