// h2load (Debian's nghttp2-client) as the load generator of the HTTP/2 scenarios: GET over cleartext
// HTTP/2 with prior knowledge (h2c), C connections with M concurrent streams each, one client thread.
//
// A measured run asks for a fixed number of requests (`-n`), sized from the peer's last rate so that it
// lasts about the asked seconds. h2load's timing mode (`-D`) would end on time by itself, but it counts
// neither refused connections nor the streams lost with a dropped connection as failed (a proxy
// SIGKILLed mid-run reads "0 failed, 0 errored"); with `-n` every request that got no answer is
// `failed` (and `errored` when no status came back at all). Warm-up and calibration use `-D`: nothing
// is measured there, only the rate.
//
// CPU: the proxy's and the upstream's from /proc around the h2load process; h2load's own from the
// bench process's children times (cutime + cstime), which the kernel adds when the child is reaped.
// Latency: h2load's `--log-file` (one line per request: start, status, microseconds), 2xx only.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { capture, findBinary } from './binaries.js';
import { LatencyHistogram } from './latency-histogram.js';
import { HAVE_PROC, clockTicks, cpuSecondsBetween, cpuSnapshot, peakRssKiB } from './proc.js';

const TICKS = HAVE_PROC ? clockTicks() : 100;

/** Without a rate for a peer yet (no warm-up), one unmeasured second of `-D` finds one. */
const CALIBRATE_SECONDS = 1;
/** Fewest requests in a measured run: a hundred per in-flight stream slot at 10 × 10. */
const MIN_REQUESTS = 1000;
/** h2load closes a connection silent this long and counts its open requests as timed out. */
export const INACTIVITY_SECONDS = 5;

/**
 * @typedef {object} H2loadReport what h2load printed at the end of a run
 * @property {number} seconds      "finished in": the whole run (connects included)
 * @property {{ total: number, started: number, done: number, succeeded: number, failed: number, errored: number, timeout: number }} requests
 *   h2load's words: `succeeded` is 2xx or 3xx; `failed` every request without one (a status of 4xx/5xx, or
 *   `errored`: no status at all, a reset stream, a lost connection; `timeout` is part of `errored`)
 * @property {{ s2xx: number, s3xx: number, s4xx: number, s5xx: number }} status
 */

/** @type {Map<string, number>} requests per second each peer URL last did */
const rates = new Map();

/** @returns {string | null} */
export const h2loadBinary = () => findBinary('h2load');

/** h2load's version, e.g. "nghttp2/1.52.0"; null when it is not installed. */
export async function h2loadVersion() {
  const bin = h2loadBinary();
  if (!bin) return null;
  const { output } = await capture(bin, ['--version']);
  return /nghttp2\/\S+/.exec(output)?.[0] ?? (output || null);
}

/**
 * h2load's arguments: `-n requests` or `-D seconds`, always one thread.
 * @param {{ url: string, connections: number, streams: number, requests?: number, seconds?: number, logFile?: string }} o
 * @returns {string[]}
 */
export function h2loadArgs(o) {
  const amount = o.requests !== undefined ? ['-n', String(o.requests)] : ['-D', String(o.seconds ?? 1)];
  return [
    ...amount,
    '-c', String(o.connections),
    '-m', String(o.streams),
    '-t', '1',
    '-N', String(INACTIVITY_SECONDS),
    ...(o.logFile ? [`--log-file=${o.logFile}`] : []),
    o.url,
  ];
}

/** @param {string} n @param {string} unit */
const toSeconds = (n, unit) => Number(n) / (unit === 'us' ? 1e6 : unit === 'ms' ? 1e3 : 1);

/**
 * The end-of-run figures; throws with the output when they are not there (h2load failed to run).
 * @param {string} text h2load's stdout
 * @returns {H2loadReport}
 */
export function parseH2load(text) {
  const fin = /^finished in ([\d.]+)(us|ms|s),/m.exec(text);
  const req = /^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout$/m.exec(text);
  const st = /^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx$/m.exec(text);
  if (!fin || !req || !st) throw new Error(`h2load printed no summary:\n${text.trim().split('\n').slice(-8).join('\n')}`);
  const n = (/** @type {RegExpExecArray} */ m, /** @type {number} */ i) => Number(m[i]);
  return {
    seconds: toSeconds(fin[1], fin[2]),
    requests: {
      total: n(req, 1), started: n(req, 2), done: n(req, 3), succeeded: n(req, 4), failed: n(req, 5), errored: n(req, 6), timeout: n(req, 7),
    },
    status: { s2xx: n(st, 1), s3xx: n(st, 2), s4xx: n(st, 3), s5xx: n(st, 4) },
  };
}

/**
 * Requests asked for that were not answered 2xx, the bench's "errors": h2load's `failed` (4xx, 5xx and
 * no answer at all) plus the 3xx it counts as success; never fewer than those asked and not answered 2xx.
 * @param {H2loadReport} r
 */
export function h2loadErrors(r) {
  return Math.max(r.requests.failed + r.status.s3xx, r.requests.total - r.status.s2xx);
}

/**
 * Latencies of the 2xx answers from an h2load log file ("start_us<TAB>status<TAB>duration_us" per request).
 * @param {string} text
 * @returns {LatencyHistogram}
 */
export function latenciesOf(text) {
  const h = new LatencyHistogram();
  let i = 0;
  while (i < text.length) {
    let end = text.indexOf('\n', i);
    if (end === -1) end = text.length;
    const a = text.indexOf('\t', i);
    const b = a === -1 ? -1 : text.indexOf('\t', a + 1);
    if (b !== -1 && b < end) {
      const status = Number(text.slice(a + 1, b));
      if (status >= 200 && status < 300) h.record(Number(text.slice(b + 1, end)) / 1000);
    }
    i = end + 1;
  }
  return h;
}

/** CPU seconds of the bench process's reaped children (cutime + cstime of /proc/self/stat). */
function childrenCpuSeconds() {
  if (!HAVE_PROC) return 0;
  const text = readFileSync('/proc/self/stat', 'utf8');
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3: cutime is field 16, cstime 17.
  return (Number(rest[13]) + Number(rest[14])) / TICKS;
}

/**
 * Runs h2load to the end (SIGKILL after `timeoutMs`).
 * @param {string[]} args
 * @param {number} timeoutMs
 * @returns {Promise<{ output: string, code: number | null, killed: boolean, cpuSeconds: number }>}
 */
export function runH2load(args, timeoutMs) {
  const bin = h2loadBinary();
  if (!bin) return Promise.reject(new Error('h2load is not installed (apt-get install nghttp2-client)'));
  const cpu0 = childrenCpuSeconds();
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let killed = false;
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      out += d;
    });
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ output: out, code, killed, cpuSeconds: childrenCpuSeconds() - cpu0 });
    });
  });
}

/**
 * Unmeasured load for `seconds` (`-D`); remembers the rate for sizing the measured runs.
 * @param {string} url
 * @param {{ connections: number, streams?: number, path: string }} load
 * @param {number} seconds
 */
export async function warmH2load(url, load, seconds) {
  if (seconds <= 0) return;
  const args = h2loadArgs({ url: `${url}${load.path}`, connections: load.connections, streams: load.streams ?? 1, seconds });
  const run = await runH2load(args, (seconds + 30) * 1000);
  if (run.killed) return;
  try {
    const r = parseH2load(run.output);
    if (r.seconds > 0) rates.set(url, r.requests.done / r.seconds);
  } catch {
    // No rate: the measured run that follows finds h2load failing again and says so.
  }
}

/**
 * How many requests make a run of about `seconds` at the peer's last rate.
 * @param {number | undefined} rate
 * @param {number} seconds
 */
export function requestsFor(rate, seconds) {
  return Math.max(MIN_REQUESTS, Math.round((rate ?? 0) * seconds));
}

/**
 * One measured run against `ctx.url`: a fixed count of requests lasting about `ctx.seconds`.
 * `upstreamPid` overrides the bench's shared upstream (a scenario with its own).
 * @param {import('./types.js').MeasureContext} ctx
 * @param {import('./types.js').LoadSpec} load
 * @param {{ upstreamPid?: number }} [o]
 * @returns {Promise<import('./types.js').Sample>}
 */
export async function measureH2load(ctx, load, o = {}) {
  const streams = load.streams ?? 1;
  if (!rates.has(ctx.url)) await warmH2load(ctx.url, load, CALIBRATE_SECONDS);
  const requests = requestsFor(rates.get(ctx.url), ctx.seconds);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pillion-h2load-'));
  const logFile = path.join(dir, 'requests.log');
  const upstreamPid = o.upstreamPid ?? ctx.upstreamPid;
  try {
    const args = h2loadArgs({ url: `${ctx.url}${load.path}`, connections: load.connections, streams, requests, logFile });
    const proxyBefore = HAVE_PROC && ctx.pid !== null ? cpuSnapshot(ctx.pid) : null;
    const upBefore = HAVE_PROC ? cpuSnapshot(upstreamPid) : null;
    const t0 = performance.now();
    // Five times the planned length, and at least a minute: a stalled proxy ends in INACTIVITY_SECONDS anyway.
    const run = await runH2load(args, Math.max(60, 5 * ctx.seconds) * 1000);
    const wall = (performance.now() - t0) / 1000;
    const proxyCpu = proxyBefore && ctx.pid !== null ? cpuSecondsBetween(proxyBefore, cpuSnapshot(ctx.pid), TICKS) : null;
    const upCpu = upBefore ? cpuSecondsBetween(upBefore, cpuSnapshot(upstreamPid), TICKS) : null;
    const rssKiB = HAVE_PROC && ctx.pid !== null ? peakRssKiB(ctx.pid) : null;
    const per10k = (/** @type {number | null} */ cpu, /** @type {number} */ n) => (cpu === null || n === 0 ? null : (cpu / n) * 10_000);
    /** @type {H2loadReport | null} */
    let r = null;
    try {
      if (!run.killed) r = parseH2load(run.output);
    } catch {
      // h2load ended without its summary (it crashed or refused its arguments): counted below.
    }
    if (!r) {
      // Nothing to read: every request asked for counts as an error, and the notes say why.
      return {
        rps: 0, p50: null, p99: null, errors: requests, requests: 0, seconds: wall, cpuPer10k: null, rssKiB,
        upstreamCpuPer10k: null, loadCpu: run.cpuSeconds / wall,
        extra: { asked: requests, ...(run.killed ? { killed: 1 } : { noSummary: 1 }) },
      };
    }
    const seconds = r.seconds > 0 ? r.seconds : wall;
    const done = r.requests.done;
    if (done > 0) rates.set(ctx.url, done / seconds);
    let latency = new LatencyHistogram();
    try {
      latency = latenciesOf(readFileSync(logFile, 'latin1'));
    } catch {
      // no log: h2load made no request
    }
    return {
      rps: done / seconds,
      p50: latency.percentile(50),
      p99: latency.percentile(99),
      errors: h2loadErrors(r),
      requests: done,
      seconds,
      cpuPer10k: per10k(proxyCpu, done),
      rssKiB,
      upstreamCpuPer10k: per10k(upCpu, done),
      loadCpu: run.cpuSeconds / wall,
      extra: {
        asked: r.requests.total,
        succeeded: r.requests.succeeded,
        failed: r.requests.failed,
        errored: r.requests.errored,
        timeout: r.requests.timeout,
        status3xx: r.status.s3xx,
        status4xx: r.status.s4xx,
        status5xx: r.status.s5xx,
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
