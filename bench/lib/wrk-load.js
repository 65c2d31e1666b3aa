// `--load wrk`: the HTTP/1.1 scenarios driven by wrk instead of autocannon. wrk is C and costs a
// fraction of autocannon's CPU per request, so on a machine with few cores it leaves the proxy the
// core autocannon would take, and differences of 10% show. A Lua script makes the request (method,
// body) and prints wrk's own summary as one JSON line: exact request and error counts, and latency
// percentiles at microsecond resolution.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findBinary } from './binaries.js';
import { per10k } from './load.js';
import { HAVE_PROC, clockTicks, cpuSecondsBetween, cpuSnapshot, peakRssKiB } from './proc.js';

const TICKS = HAVE_PROC ? clockTicks() : 100;
const MARK = 'PILLION-WRK ';

/** The wrk binary, or null when it is not installed. */
export function wrkBinary() {
  return findBinary('wrk');
}

/**
 * Whether wrk can make this scenario's load: HTTP/1.1 without pipelining (wrk pipelines only
 * through a script of its own, which would change what is measured).
 * @param {import('./types.js').LoadSpec} load
 */
export function wrkCanDrive(load) {
  return (load.pipelining ?? 1) === 1 && load.streams === undefined;
}

/** @type {Map<string, string>} */
const scripts = new Map();

/**
 * The Lua script for one request shape, written once per bench run.
 * @param {import('./types.js').LoadSpec} load
 */
function scriptFor(load) {
  const key = `${load.method ?? 'GET'} ${load.bodyBytes ?? 0}`;
  let file = scripts.get(key);
  if (file) return file;
  const lines = [`wrk.method = "${load.method ?? 'GET'}"`];
  if (load.bodyBytes) {
    lines.push(`wrk.body = string.rep("b", ${load.bodyBytes})`, 'wrk.headers["Content-Type"] = "application/octet-stream"');
  }
  lines.push(
    'function done(summary, latency, requests)',
    '  local e = summary.errors',
    `  io.write(string.format('${MARK}{"requests":%d,"us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p99":%d}\\n',`,
    '    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99)))',
    'end',
  );
  file = path.join(mkdtempSync(path.join(tmpdir(), 'pillion-wrk-')), 'load.lua');
  writeFileSync(file, lines.join('\n') + '\n');
  scripts.set(key, file);
  return file;
}

/**
 * One wrk run: its summary, and the CPU wrk itself used (read from /proc while it runs: the last
 * reading before it exits, so a few milliseconds short at most).
 * @param {import('./types.js').LoadSpec} load
 * @param {string} url
 * @param {number} seconds
 * @returns {Promise<{ requests: number, seconds: number, errors: number, p50: number, p99: number, cpuSeconds: number | null }>}
 */
export function runWrk(load, url, seconds) {
  const bin = wrkBinary();
  if (bin === null) return Promise.reject(new Error('--load wrk: wrk is not installed (apt-get install -y wrk)'));
  const args = ['-t1', `-c${load.connections}`, `-d${Math.max(1, Math.round(seconds))}s`, '--timeout', '10s', '-s', scriptFor(load), `${url}${load.path}`];
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    /** @type {ReturnType<typeof cpuSnapshot> | null} */
    let first = null;
    /** @type {ReturnType<typeof cpuSnapshot> | null} */
    let last = null;
    const read = () => {
      if (!HAVE_PROC || child.pid === undefined) return;
      // An exited process reads as an empty snapshot: keep the last one taken while it ran.
      const s = cpuSnapshot(child.pid);
      if (s.size === 0) return;
      first ??= s;
      last = s;
    };
    read();
    const sampler = setInterval(read, 100);
    child.on('error', (e) => {
      clearInterval(sampler);
      reject(e);
    });
    child.on('close', (code) => {
      clearInterval(sampler);
      const line = out.split('\n').find((l) => l.startsWith(MARK));
      if (code !== 0 || !line) {
        reject(new Error(`wrk exited with ${code}: ${(err || out).trim().split('\n').slice(-3).join(' | ')}`));
        return;
      }
      const s = JSON.parse(line.slice(MARK.length));
      resolve({
        requests: s.requests,
        seconds: s.us / 1e6,
        // Connect, read, write and timeout errors, and responses outside 2xx-3xx.
        errors: s.connect + s.read + s.write + s.timeout + s.status,
        p50: s.p50 / 1000,
        p99: s.p99 / 1000,
        cpuSeconds: first && last ? cpuSecondsBetween(first, last, TICKS) : null,
      });
    });
  });
}

/**
 * measureLoad's counterpart with wrk as the load.
 * @param {import('./types.js').MeasureContext} ctx
 * @param {import('./types.js').Scenario} scenario
 * @returns {Promise<import('./types.js').Sample>}
 */
export async function measureWithWrk(ctx, scenario) {
  const proxyBefore = HAVE_PROC && ctx.pid !== null ? cpuSnapshot(ctx.pid) : null;
  const upBefore = HAVE_PROC ? cpuSnapshot(ctx.upstreamPid) : null;
  const r = await runWrk(scenario.load, ctx.url, ctx.seconds);
  const proxyCpu = proxyBefore && ctx.pid !== null ? cpuSecondsBetween(proxyBefore, cpuSnapshot(ctx.pid), TICKS) : null;
  const upCpu = upBefore ? cpuSecondsBetween(upBefore, cpuSnapshot(ctx.upstreamPid), TICKS) : null;
  return {
    rps: r.requests / r.seconds,
    p50: r.p50,
    p99: r.p99,
    errors: r.errors,
    requests: r.requests,
    seconds: r.seconds,
    cpuPer10k: per10k(proxyCpu, r.requests),
    rssKiB: HAVE_PROC && ctx.pid !== null ? peakRssKiB(ctx.pid) : null,
    upstreamCpuPer10k: per10k(upCpu, r.requests),
    loadCpu: r.cpuSeconds === null ? 0 : r.cpuSeconds / r.seconds,
  };
}
