#!/usr/bin/env node
// What an HTTP/1.1 listener does with malformed, slow, half-sent, over-long and idle requests,
// measured through Pillion with raw sockets:
//
//   node bench/http1-limits.js [--codec uws|http1-strict] [--workers N] [--cap S]
//
// Starts a node:http hello-world upstream and Pillion (packages/workers/bin/pillion.js --config FILE)
// with two HTTP listeners using the codec: "web" (timeouts left default) and "idle3s"
// (timeouts.idle 3s), then:
//   1. 200 requests (10 keep-alive connections) alone, then with 3,000 half-sent heads held open
//   2. at once, one connection per case, each watched until the server closes it or --cap passes:
//      every malformed-request class, 48 and 49 header fields, a slowloris head (a line every 2 s),
//      an idle keep-alive connection on each listener; and the 3,000 half-open ones from step 1.
// Prints a markdown table and writes bench/results/http1-limits-<codec>.json.
// Sends traffic to 127.0.0.1 only.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { capture } from './lib/binaries.js';
import { startChild } from './lib/child.js';
import { freePort, getStatus } from './lib/net.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = path.join(ROOT, 'packages/workers/bin/pillion.js');
const HOST = '127.0.0.1';
const CODECS = ['uws', 'http1-strict'];
const STAGGER_MS = 200;

const USAGE = `usage: node bench/http1-limits.js [--codec uws|http1-strict] [--workers N] [--cap S]

  --codec C     the HTTP listener's codec (default uws)
  --workers N   Pillion worker threads (default 1)
  --cap S       stop watching a connection after S seconds (default 20)
  --half-open N half-sent heads held open during the latency test (default 3000)
  -h, --help`;

/** @typedef {{ codec: string, workers: number, capMs: number, halfOpen: number }} Options */

/** @returns {Options | null} */
function options() {
  const { values } = parseArgs({
    options: {
      codec: { type: 'string', default: 'uws' },
      workers: { type: 'string', default: '1' },
      cap: { type: 'string', default: '20' },
      'half-open': { type: 'string', default: '3000' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return null;
  const workers = Number(values.workers);
  const cap = Number(values.cap);
  const halfOpen = Number(values['half-open']);
  if (!CODECS.includes(String(values.codec))) throw new Error(`--codec must be one of ${CODECS.join(', ')}`);
  if (!Number.isInteger(workers) || workers < 1) throw new Error('--workers must be an integer >= 1');
  if (!Number.isFinite(cap) || cap < 1) throw new Error('--cap must be a number of seconds >= 1');
  if (!Number.isInteger(halfOpen) || halfOpen < 0) throw new Error('--half-open must be an integer >= 0');
  return { codec: String(values.codec), workers, capMs: cap * 1000, halfOpen };
}

// ---------------------------------------------------------------- the requests

const H = 'Host: bench\r\n';
/** `n` header fields in all, Host included. */
const fields = (/** @type {number} */ n) => H + Array.from({ length: n - 1 }, (_, i) => `X-F${i}: v\r\n`).join('');

/**
 * One request per connection. `expect` is what RFC 9112 asks of a server (what a strict codec
 * should answer). A `raw` array is written in parts 150 ms apart (separate reads on the server).
 * @type {{ id: string, what: string, raw: string | string[], expect: string }[]}
 */
const CASES = [
  { id: 'valid', what: 'valid GET (control)', raw: `GET / HTTP/1.1\r\n${H}\r\n`, expect: '200' },
  { id: 'http10-valid', what: 'valid HTTP/1.0 GET with Host', raw: `GET / HTTP/1.0\r\n${H}\r\n`, expect: '200' },
  { id: 'ws-before-colon', what: 'whitespace before colon (`X-A : b`)', raw: `GET / HTTP/1.1\r\n${H}X-A : b\r\n\r\n`, expect: '400' },
  { id: 'obs-fold', what: 'obs-fold (continuation line)', raw: `GET / HTTP/1.1\r\n${H}X-A: b\r\n c\r\n\r\n`, expect: '400' },
  { id: 'bare-lf', what: 'bare LF ending a field line', raw: `GET / HTTP/1.1\r\n${H}X-A: b\n\r\n`, expect: '400' },
  { id: 'bare-cr', what: 'bare CR inside a value', raw: `GET / HTTP/1.1\r\n${H}X-A: b\rc\r\n\r\n`, expect: '400' },
  { id: 'nul-value', what: 'NUL in a value', raw: `GET / HTTP/1.1\r\n${H}X-A: b\0c\r\n\r\n`, expect: '400' },
  { id: 'no-host', what: 'HTTP/1.1 without Host (other fields present)', raw: 'GET / HTTP/1.1\r\nX-A: b\r\n\r\n', expect: '400' },
  { id: 'no-fields', what: 'HTTP/1.1 with no header field at all', raw: 'GET / HTTP/1.1\r\n\r\n', expect: '400' },
  { id: 'version-1.2', what: 'unknown version HTTP/1.2', raw: `GET / HTTP/1.2\r\n${H}\r\n`, expect: '505 (or 400)' },
  { id: 'version-2.0', what: 'unknown version HTTP/2.0 (not a preface)', raw: `GET / HTTP/2.0\r\n${H}\r\n`, expect: '505 (or 400)' },
  { id: 'headers-48', what: '48 header fields (Host included)', raw: `GET / HTTP/1.1\r\n${fields(48)}\r\n`, expect: '200' },
  { id: 'headers-49', what: '49 header fields (Host included)', raw: `GET / HTTP/1.1\r\n${fields(49)}\r\n`, expect: '431' },
  { id: 'head-6k-one-write', what: '6 KiB head in one write', raw: `GET / HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(6000)}\r\n\r\n`, expect: '200' },
  {
    id: 'head-6k-two-writes',
    what: 'the same 6 KiB head in two writes (3 KiB + rest)',
    raw: [`GET / HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(3000)}`, `${'a'.repeat(3000)}\r\n\r\n`],
    expect: '200',
  },
  { id: 'head-5k-unfinished', what: '5 KiB of head, never finished', raw: `GET / HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(5000)}`, expect: '431 or wait' },
  {
    id: 'cl-and-te',
    what: 'Content-Length with Transfer-Encoding',
    raw: `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    expect: '400',
  },
  { id: 'cl-list', what: 'Content-Length: 3, 4', raw: `POST / HTTP/1.1\r\n${H}Content-Length: 3, 4\r\n\r\nabcd`, expect: '400' },
  { id: 'cl-plus', what: 'Content-Length: +3', raw: `POST / HTTP/1.1\r\n${H}Content-Length: +3\r\n\r\nabc`, expect: '400' },
  { id: 'cl-10-digits', what: 'Content-Length of 10 digits', raw: `POST / HTTP/1.1\r\n${H}Content-Length: 1000000000\r\n\r\nabc`, expect: '200 after the body (413 over a body limit)' },
  {
    id: 'cl-duplicate',
    what: 'two different Content-Length fields',
    raw: `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`,
    expect: '400',
  },
  {
    id: 'http10-te',
    what: 'HTTP/1.0 with Transfer-Encoding: chunked',
    raw: `POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    expect: '400',
  },
  {
    id: 'bad-chunk-size',
    what: 'invalid chunk size (`zz`)',
    raw: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`,
    expect: '400',
  },
];

// ---------------------------------------------------------------- one watched connection

/**
 * @typedef {object} Watch
 * @property {string | null} status      first status line the server sent, or null
 * @property {number | null} replyMs     from the request's last byte to the reply's first byte
 * @property {number | null} closeMs     from the request's last byte to the server's close; null = still open at the cap
 * @property {string} closedBy           'fin' | 'reset' | 'open at cap' | 'connect error'
 * @property {number} bytes              bytes received
 * @property {number | null} upstreamFields header fields the upstream received (its x-upstream-fields)
 */

/**
 * Opens a connection, lets `drive` write to it, and watches for a reply and for the close.
 * `drive` resolves with the time the request's last byte was written (the clock the figures use).
 * @param {number} port
 * @param {(socket: net.Socket) => Promise<number>} drive
 * @param {number} capMs from connect
 * @returns {Promise<Watch & { connectedAt: number }>}
 */
function watchConnection(port, drive, capMs) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    socket.setNoDelay(true);
    const t0 = performance.now();
    let sentAt = t0;
    /** @type {number | null} */
    let firstByte = null;
    let head = '';
    let bytes = 0;
    let reset = false;
    let done = false;
    let connected = false;
    const finish = (/** @type {string} */ how) => {
      if (done) return;
      done = true;
      clearTimeout(cap);
      const now = performance.now();
      const m = /^(HTTP\/\d\.\d \d{3}[^\r\n]*)/.exec(head);
      const f = /\r\nx-upstream-fields: *(\d+)/i.exec(head);
      resolve({
        upstreamFields: f ? Number(f[1]) : null,
        connectedAt: t0,
        status: m ? m[1] : bytes ? `(${bytes} bytes, no status line)` : null,
        replyMs: firstByte === null ? null : Math.max(0, firstByte - sentAt),
        closeMs: how === 'open at cap' ? null : now - sentAt,
        closedBy: how,
        bytes,
      });
      socket.destroy();
    };
    const cap = setTimeout(() => finish(connected ? 'open at cap' : 'connect error'), capMs);
    socket.on('connect', () => {
      connected = true;
      drive(socket).then(
        (t) => {
          sentAt = t;
        },
        () => {},
      );
    });
    socket.on('data', (d) => {
      if (firstByte === null) firstByte = performance.now();
      bytes += d.length;
      if (head.length < 4096) head += d.toString('latin1');
    });
    socket.on('error', (err) => {
      if (/** @type {NodeJS.ErrnoException} */ (err).code === 'ECONNRESET') reset = true;
      else if (!connected) finish('connect error');
    });
    socket.on('close', () => finish(reset ? 'reset' : 'fin'));
  });
}

/**
 * Writes `raw` (or its parts, 150 ms apart) and resolves with the time the last byte was written.
 * @param {string | string[]} raw
 */
const sendAll = (raw) => async (/** @type {net.Socket} */ socket) => {
  const parts = Array.isArray(raw) ? raw : [raw];
  let t = performance.now();
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) await sleep(150);
    if (socket.destroyed) break;
    t = await new Promise((resolve) => socket.write(Buffer.from(parts[i], 'latin1'), () => resolve(performance.now())));
  }
  return t;
};

/**
 * Slowloris: the request line, then one header line every `everyMs`, never the blank line. The
 * clock starts at connect (the last byte never comes).
 * @param {number} everyMs
 * @param {{ lines: number }} sent
 */
const trickle = (everyMs, sent) => async (/** @type {net.Socket} */ socket) => {
  const t0 = performance.now();
  const lines = ['GET / HTTP/1.1\r\n', H];
  for (let i = 0; ; i++) {
    if (socket.destroyed) break;
    socket.write(lines[i] ?? `X-Slow-${i}: ${i}\r\n`);
    sent.lines = i + 1;
    await sleep(everyMs);
  }
  return t0;
};

// ---------------------------------------------------------------- load with and without half-open heads

/**
 * `n` requests over `concurrency` keep-alive connections; latencies in ms.
 * @param {number} port
 * @param {number} n
 * @param {number} concurrency
 */
async function requests(port, n, concurrency) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  /** @type {number[]} */
  const latencies = [];
  let ok = 0;
  let failed = 0;
  /** @type {Record<string, number>} */
  const statuses = {};
  let next = 0;
  const one = () =>
    new Promise((resolve) => {
      const t = performance.now();
      const req = http.get({ host: HOST, port, path: '/', agent, timeout: 15_000 }, (res) => {
        res.resume();
        res.on('end', () => {
          latencies.push(performance.now() - t);
          const code = String(res.statusCode);
          statuses[code] = (statuses[code] ?? 0) + 1;
          if (res.statusCode === 200) ok++;
          else failed++;
          resolve(undefined);
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        failed++;
        resolve(undefined);
      });
    });
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        await one();
      }
    }),
  );
  const wallMs = performance.now() - t0;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (/** @type {number} */ p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] : null);
  return { requests: n, ok, failed, statuses, p50Ms: pct(50), p99Ms: pct(99), maxMs: latencies.at(-1) ?? null, wallMs };
}

/**
 * Opens `n` connections that each send a request line, Host and half a header line, then nothing.
 * Resolves once all are connected and written; `closed` tracks when the server closes each.
 * @param {number} port
 * @param {number} n
 */
async function openHalfHeads(port, n) {
  /** @type {net.Socket[]} */
  const sockets = [];
  /** @type {number[]} close times in ms from that socket's write */
  const closedAfter = [];
  let replies = 0;
  let connectErrors = 0;
  const t0 = performance.now();
  const batch = 250;
  for (let i = 0; i < n; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, n - i) }, (_, j) =>
        new Promise((resolve) => {
          const s = net.connect({ host: HOST, port });
          let sentAt = 0;
          s.once('connect', () => {
            s.write(`GET /half-${i + j} HTTP/1.1\r\n${H}X-Half: incompl`, () => {
              sentAt = performance.now();
              resolve(undefined);
            });
          });
          s.on('data', () => {
            replies++;
          });
          s.on('error', () => {
            if (!sentAt) {
              connectErrors++;
              resolve(undefined);
            }
          });
          s.on('close', () => {
            if (sentAt) closedAfter.push(performance.now() - sentAt);
          });
          sockets.push(s);
        }),
      ),
    );
  }
  return {
    sockets,
    closedAfter,
    openMs: performance.now() - t0,
    replies: () => replies,
    connectErrors: () => connectErrors,
  };
}

// ---------------------------------------------------------------- the upstream

// A node:http hello world, not bench/upstream.js: that one is uWS too, and would itself hold a request
// that arrives with more than 48 header fields (Pillion adds forwarding headers to the client's).
// It answers `x-upstream-fields: N`, the number of header fields it received.
const UPSTREAM = `
const http = require('node:http');
const server = http.createServer({ maxHeaderSize: 65536 }, (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '13', 'x-upstream-fields': String(req.rawHeaders.length / 2) });
    res.end('Hello, World!');
  });
});
server.maxHeadersCount = 0;
server.keepAliveTimeout = 120000;
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
`;

async function startNodeUpstream() {
  /** @type {(port: number) => void} */
  let onPort = () => {};
  /** @type {Promise<number>} */
  const port = new Promise((resolve) => {
    onPort = resolve;
  });
  const child = startChild(process.execPath, ['-e', UPSTREAM], {
    onLine: (line) => {
      const m = /^listening (\d+)$/.exec(line.trim());
      if (m) onPort(Number(m[1]));
    },
  });
  const got = await Promise.race([port, child.exited.then(() => 'exited'), sleep(10_000, 'timeout')]);
  if (typeof got !== 'number') {
    await child.stop('SIGKILL');
    throw new Error(`the upstream did not start (${got}):\n${child.output()}`);
  }
  return { host: HOST, port: got, stop: () => child.stop() };
}

// ---------------------------------------------------------------- Pillion

/**
 * @param {Options} o
 * @param {{ host: string, port: number }} upstream
 * @param {string} dir
 */
async function startPillion(o, upstream, dir) {
  const [port, idlePort, adminPort] = [await freePort(), await freePort(), await freePort()];
  const route = [{ match: { prefix: '/' }, cluster: 'up' }];
  const config = {
    workers: o.workers,
    admin: { address: HOST, port: adminPort },
    access_log: { enabled: false },
    listeners: [
      { name: 'web', protocol: 'http', codec: o.codec, address: HOST, port, routes: route },
      { name: 'idle3s', protocol: 'http', codec: o.codec, address: HOST, port: idlePort, routes: route, timeouts: { idle: '3s' } },
    ],
    clusters: [{ name: 'up', endpoints: [{ address: upstream.host, port: upstream.port }] }],
  };
  const file = path.join(dir, 'pillion.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  const valid = await capture(process.execPath, [BIN, 'validate', file], { cwd: ROOT });
  if (valid.code !== 0) throw new Error(`pillion validate rejects the config for codec ${o.codec}:\n${valid.output}`);
  const child = startChild(process.execPath, [BIN, '--config', file, '--log-level', 'warn'], { cwd: ROOT });
  let dead = false;
  child.exited.then(() => {
    dead = true;
  });
  const deadline = Date.now() + 30_000;
  while (!dead && Date.now() < deadline) {
    if ((await getStatus(`http://${HOST}:${adminPort}/ready`)) === 200) {
      return { port, idlePort, config, stop: () => child.stop('SIGTERM', 10_000), output: child.output };
    }
    await sleep(25);
  }
  await child.stop('SIGKILL');
  throw new Error(`pillion ${dead ? 'exited' : 'was not ready in 30 s'}:\n${child.output().trim()}`);
}

// ---------------------------------------------------------------- report

const s = (/** @type {number | null} */ ms) => (ms === null ? '—' : `${(ms / 1000).toFixed(1)} s`);
const msf = (/** @type {number | null} */ ms) => (ms === null ? '—' : `${ms.toFixed(1)} ms`);

/** @param {Watch} w @param {number} capMs */
function closeCell(w, capMs) {
  if (w.closedBy === 'open at cap') return `open at ${capMs / 1000} s cap`;
  if (w.closedBy === 'connect error') return 'connect error';
  return `${s(w.closeMs)} (${w.closedBy === 'reset' ? 'RST' : 'FIN'})`;
}

/** @param {any} r */
function markdown(r) {
  const lines = [];
  lines.push(`### http1-limits, codec ${r.codec} (${r.workers} worker${r.workers > 1 ? 's' : ''}, cap ${r.capMs / 1000} s)`);
  lines.push('');
  lines.push(`\`${r.command}\`, ${r.date}, Node ${r.node}, ${r.machine}`);
  lines.push('');
  lines.push('| request | RFC 9112 wants | reply | reply after | connection closed after |');
  lines.push('| --- | --- | --- | --- | --- |');
  for (const c of r.cases) {
    const up = c.upstreamFields === null ? '' : ` (upstream got ${c.upstreamFields} fields)`;
    lines.push(`| ${c.what} | ${c.expect} | ${c.status ?? '**none**'}${up} | ${msf(c.replyMs)} | ${closeCell(c, r.capMs)} |`);
  }
  const sl = r.slowloris;
  lines.push(
    `| slowloris: a head line every 2 s, no blank line | 408 or close | ${sl.status ?? '**none**'} | ${msf(sl.replyMs)} | ${closeCell(sl, r.capMs)} from connect, ${sl.linesSent} lines sent |`,
  );
  for (const i of r.idle) {
    lines.push(`| idle keep-alive after one 200 (${i.listener}) | ${i.expect} | ${i.status ?? '**none**'} | — | ${closeCell(i, r.capMs)} after the response |`);
  }
  lines.push('');
  const ho = r.halfOpen;
  lines.push(`| 200 GETs over 10 keep-alive connections | ok | failed | p50 | p99 | max |`);
  lines.push('| --- | --- | --- | --- | --- | --- |');
  for (const [label, x] of [['alone', ho.baseline], [`with ${ho.count} half-sent heads open`, ho.loaded]]) {
    if (!x) continue;
    lines.push(`| ${label} | ${x.ok} | ${x.failed} | ${msf(x.p50Ms)} | ${msf(x.p99Ms)} | ${msf(x.maxMs)} |`);
  }
  lines.push('');
  if (ho.count) {
    lines.push(
      `${ho.count} half-sent heads: opened in ${msf(ho.openMs)}, ${ho.connectErrors} connect errors, ${ho.replies} got bytes back; ` +
        `closed by the server: ${ho.closed} (after ${s(ho.closeMinMs)}–${s(ho.closeMaxMs)}, median ${s(ho.closeMedianMs)}); still open at the cap: ${ho.stillOpen}.`,
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------- main

async function main() {
  /** @type {Options | null} */
  let o;
  try {
    o = options();
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    console.error(USAGE);
    return 2;
  }
  if (!o) {
    console.log(USAGE);
    return 0;
  }
  const command = `node bench/http1-limits.js --codec ${o.codec} --workers ${o.workers}${o.capMs !== 20_000 ? ` --cap ${o.capMs / 1000}` : ''}${o.halfOpen !== 3000 ? ` --half-open ${o.halfOpen}` : ''}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pillion-http1-limits-'));
  const upstream = await startNodeUpstream();
  /** @type {Awaited<ReturnType<typeof startPillion>> | null} */
  let pillion = null;
  try {
    pillion = await startPillion(o, upstream, dir);
    const { port, idlePort } = pillion;
    console.log(`pillion (${o.codec}, ${o.workers} worker${o.workers > 1 ? 's' : ''}) on ${port} and ${idlePort}; upstream on ${upstream.port}`);

    // 1. latency alone, then with half-sent heads held open
    await requests(port, 200, 10); // warm-up: upstream pool, JIT
    const baseline = await requests(port, 200, 10);
    console.log(`200 requests alone: p50 ${msf(baseline.p50Ms)} p99 ${msf(baseline.p99Ms)}, ${baseline.failed} failed`);
    const half = await openHalfHeads(port, o.halfOpen);
    const halfOpenedAt = performance.now();
    const loaded = o.halfOpen ? await requests(port, 200, 10) : null;
    if (loaded) {
      console.log(
        `${o.halfOpen} half-sent heads open in ${msf(half.openMs)} (${half.connectErrors()} connect errors); ` +
          `200 requests: p50 ${msf(loaded.p50Ms)} p99 ${msf(loaded.p99Ms)}, ${loaded.failed} failed`,
      );
    }

    // 2. everything else at once, each on its own connection, watched until closed or capped
    const slowSent = { lines: 0 };
    console.log(`watching ${CASES.length} request classes, a slowloris head and 2 idle connections for up to ${o.capMs / 1000} s...`);
    const [cases, slowloris, idle] = await Promise.all([
      // started 200 ms apart, so that the closes sample different phases of any coarse timer
      Promise.all(
        CASES.map((c, i) =>
          sleep(i * STAGGER_MS).then(() => watchConnection(port, sendAll(c.raw), o.capMs).then((w) => ({ ...c, ...w }))),
        ),
      ),
      watchConnection(port, trickle(2000, slowSent), o.capMs),
      Promise.all(
        [
          { listener: 'web, timeouts.idle default', p: port, expect: 'close at timeouts.idle (default 60s)' },
          { listener: 'idle3s, timeouts.idle 3s', p: idlePort, expect: 'close at 3 s' },
        ].map(async (x) => {
          const w = await watchConnection(x.p, sendAll(`GET / HTTP/1.1\r\n${H}\r\n`), o.capMs);
          // measured from the response, not the request: the upstream's answer takes ~1 ms
          return {
            listener: x.listener,
            expect: x.expect,
            ...w,
            closeMs: w.closeMs === null || w.replyMs === null ? w.closeMs : w.closeMs - w.replyMs,
          };
        }),
      ),
    ]);
    // the half-open heads have been watched for as long as the cases ran
    const halfWatchedMs = performance.now() - halfOpenedAt;
    const closedAfter = [...half.closedAfter].sort((a, b) => a - b);
    const stillOpen = half.sockets.filter((x) => !x.destroyed).length;
    for (const x of half.sockets) x.destroy();

    const result = {
      codec: o.codec,
      workers: o.workers,
      capMs: o.capMs,
      command,
      date: new Date().toISOString(),
      node: process.versions.node,
      machine: `${os.cpus().length} cores, ${os.type()} ${os.release()}`,
      cases: cases.map(({ connectedAt: _c, raw, ...c }) => {
        const all = Array.isArray(raw) ? raw.join('') : raw;
        return { ...c, request: all.length > 400 ? `${all.slice(0, 120)}…(${all.length} bytes${Array.isArray(raw) ? `, ${raw.length} writes` : ''})` : all };
      }),
      slowloris: (({ connectedAt: _c, ...w }) => ({ ...w, linesSent: slowSent.lines, everyMs: 2000 }))(slowloris),
      idle: idle.map(({ connectedAt: _c, ...w }) => w),
      halfOpen: {
        count: o.halfOpen,
        openMs: half.openMs,
        connectErrors: half.connectErrors(),
        replies: half.replies(),
        watchedMs: halfWatchedMs,
        closed: closedAfter.length,
        closeMinMs: closedAfter[0] ?? null,
        closeMedianMs: closedAfter.length ? closedAfter[closedAfter.length >> 1] : null,
        closeMaxMs: closedAfter.at(-1) ?? null,
        stillOpen,
        baseline,
        loaded,
      },
    };
    const md = markdown(result);
    console.log(`\n${md}\n`);
    const out = path.join(ROOT, `bench/results/http1-limits-${o.codec}.json`);
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify({ ...result, markdown: md }, null, 2)}\n`);
    console.log(`wrote ${path.relative(ROOT, out)}`);
    return 0;
  } finally {
    await pillion?.stop();
    await upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.stack ?? err.message : String(err));
    process.exit(1);
  },
);
