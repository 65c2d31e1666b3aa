// Load for layer-4 peers (a TCP or UDP port that forwards to an upstream), measured from
// raw sockets. The TCP loads speak HTTP/1.1 to bench/upstream.js, so the same upstream
// serves the direct baseline, Pillion's tcp listener and HAProxy in `mode tcp`:
//
//   upload:   one connection, POSTs (of at most 256 MiB) carrying N bytes (the upstream counts them)
//   download: one connection, pipelined GET /64k until N bytes of responses arrived
//   connect:  new connection per request: connect, GET /, read the reply, close
//   udp:      request/response datagrams against an echo, one in flight per client
import { createSocket } from 'node:dgram';
import net from 'node:net';
import { LatencyHistogram } from './lib/latency-histogram.js';
import { HAVE_PROC, clockTicks, cpuSecondsBetween, cpuSnapshot } from './lib/proc.js';

const TICKS = HAVE_PROC ? clockTicks() : 100;
const CHUNK = Buffer.alloc(1024 * 1024, 'u');
const GET_64K = Buffer.from('GET /64k HTTP/1.1\r\nHost: bench\r\n\r\n');
const GET_HELLO = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n');
const HELLO_END = 'Hello, World!';

/**
 * @param {number} port
 * @returns {Promise<net.Socket>}
 */
function open(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true }, () => resolve(s));
    s.once('error', reject);
  });
}

/** uWS refuses a Content-Length of 10 digits or more: an upload is cut into POSTs of this size. */
const MAX_POST = 256 * 1024 * 1024;

/**
 * Uploads `bytes` on one connection (POSTs of at most 256 MiB, one after the other) and checks
 * the upstream counted every byte.
 * @param {number} port
 * @param {number} bytes
 * @returns {Promise<number>} seconds
 */
export async function tcpUpload(port, bytes) {
  const s = await open(port);
  /** @type {((n: number) => void) | null} */
  let onCount = null;
  /** @type {(e: Error) => void} */
  let onFail = () => {};
  let text = '';
  s.setEncoding('latin1');
  s.on('data', (/** @type {string} */ d) => {
    text += d;
    const m = /"bytes":(\d+)/.exec(text);
    if (m && onCount) {
      text = text.slice((m.index ?? 0) + m[0].length);
      onCount(Number(m[1]));
    }
  });
  s.on('error', (e) => onFail(e));
  s.on('close', () => onFail(new Error(`upload: closed early: ${text.slice(0, 200)}`)));
  const t0 = performance.now();
  let left = bytes;
  while (left > 0) {
    const size = Math.min(left, MAX_POST);
    left -= size;
    const counted = new Promise((resolve, reject) => {
      onCount = resolve;
      onFail = reject;
    });
    s.write(`POST /upload HTTP/1.1\r\nHost: bench\r\nContent-Type: application/octet-stream\r\nContent-Length: ${size}\r\n\r\n`);
    let part = size;
    while (part > 0) {
      const n = Math.min(part, CHUNK.length);
      part -= n;
      if (!s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) await new Promise((r) => s.once('drain', r));
    }
    const got = await counted;
    if (got !== size) throw new Error(`upload: upstream counted ${got} bytes, sent ${size}`);
  }
  const seconds = (performance.now() - t0) / 1000;
  onFail = () => {};
  s.destroy();
  return seconds;
}

/**
 * Pipelined GET /64k with up to 32 in flight until `bytes` of responses (heads included) arrived.
 * @param {number} port
 * @param {number} bytes
 * @returns {Promise<number>} seconds
 */
export async function tcpDownload(port, bytes) {
  const s = await open(port);
  // One response first, to learn its exact size (the head is the same every time).
  const size = await new Promise((resolve, reject) => {
    let got = 0;
    /** @type {Buffer[]} */
    const parts = [];
    const onData = (/** @type {Buffer} */ d) => {
      got += d.length;
      parts.push(d);
      const all = Buffer.concat(parts);
      const headEnd = all.indexOf('\r\n\r\n');
      if (headEnd === -1) return;
      const m = /content-length: *(\d+)/i.exec(all.subarray(0, headEnd).toString('latin1'));
      if (!m) return reject(new Error('download: no content-length'));
      const total = headEnd + 4 + Number(m[1]);
      if (got < total) return;
      s.off('data', onData);
      resolve(total);
    };
    s.on('data', onData);
    s.once('error', reject);
    s.write(GET_64K);
  });
  const requests = Math.ceil(bytes / size);
  const t0 = performance.now();
  await new Promise((resolve, reject) => {
    let received = 0;
    let sent = 0;
    const window = 32;
    const top = () => {
      const done = Math.floor(received / size);
      let batch = 0;
      while (sent < requests && sent - done < window) {
        sent++;
        batch++;
      }
      if (batch) s.write(batch === 1 ? GET_64K : Buffer.concat(Array(batch).fill(GET_64K)));
    };
    s.on('data', (/** @type {Buffer} */ d) => {
      received += d.length;
      if (received >= requests * size) resolve(undefined);
      else top();
    });
    s.once('error', reject);
    s.once('close', () => reject(new Error('download: closed early')));
    top();
  });
  const seconds = (performance.now() - t0) / 1000;
  s.destroy();
  return seconds;
}

/**
 * `concurrency` loops of connect → GET / → read the reply → close, for `seconds`.
 * @param {number} port
 * @param {number} seconds
 * @param {number} concurrency
 * @returns {Promise<{ count: number, errors: number, seconds: number, latency: LatencyHistogram }>}
 */
export async function connectRate(port, seconds, concurrency) {
  const latency = new LatencyHistogram();
  let count = 0;
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  const one = () =>
    new Promise((resolve) => {
      const t = performance.now();
      const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
      let text = '';
      s.setEncoding('latin1');
      s.on('connect', () => s.write(GET_HELLO));
      s.on('data', (/** @type {string} */ d) => {
        text += d;
        if (!text.endsWith(HELLO_END)) return;
        latency.record(performance.now() - t);
        count++;
        s.destroy();
        resolve(undefined);
      });
      s.on('error', () => {
        errors++;
        s.destroy();
        resolve(undefined);
      });
      s.on('close', () => resolve(undefined));
    });
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) await one();
    }),
  );
  return { count, errors, seconds: (performance.now() - t0) / 1000, latency };
}

/**
 * `clients` UDP sockets, each with one 64-byte request in flight, for `seconds`; a request
 * unanswered for 200 ms counts as lost and the client sends the next.
 * @param {number} port
 * @param {number} seconds
 * @param {number} clients
 * @returns {Promise<{ count: number, errors: number, seconds: number, latency: LatencyHistogram }>}
 */
export async function udpRate(port, seconds, clients) {
  const latency = new LatencyHistogram();
  let count = 0;
  let errors = 0;
  const payload = Buffer.alloc(64, 'q');
  const deadline = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      const s = createSocket('udp4');
      await new Promise((r) => s.bind(0, '127.0.0.1', () => r(undefined)));
      /** @type {(() => void) | null} */
      let answered = null;
      s.on('message', () => answered?.());
      while (performance.now() < deadline) {
        const t = performance.now();
        const ok = await new Promise((resolve) => {
          const timer = setTimeout(() => resolve(false), 200);
          answered = () => {
            clearTimeout(timer);
            resolve(true);
          };
          s.send(payload, port, '127.0.0.1');
        });
        answered = null;
        if (ok) {
          latency.record(performance.now() - t);
          count++;
        } else errors++;
      }
      await new Promise((r) => s.close(() => r(undefined)));
    }),
  );
  return { count, errors, seconds: (performance.now() - t0) / 1000, latency };
}

/**
 * Runs `fn` and reports the CPU seconds the process tree `pid` (and the upstream's) spent meanwhile.
 * @template T
 * @param {number | null} pid
 * @param {number} upstreamPid
 * @param {() => Promise<T>} fn
 * @returns {Promise<{ result: T, proxyCpu: number | null, upstreamCpu: number | null, loadCpu: number, wall: number }>}
 */
export async function withCpu(pid, upstreamPid, fn) {
  const before = HAVE_PROC && pid !== null ? cpuSnapshot(pid) : null;
  const upBefore = HAVE_PROC ? cpuSnapshot(upstreamPid) : null;
  const self = process.cpuUsage();
  const t0 = performance.now();
  const result = await fn();
  const wall = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(self);
  return {
    result,
    proxyCpu: before && pid !== null ? cpuSecondsBetween(before, cpuSnapshot(pid), TICKS) : null,
    upstreamCpu: upBefore ? cpuSecondsBetween(upBefore, cpuSnapshot(upstreamPid), TICKS) : null,
    loadCpu: (used.user + used.system) / 1e6 / wall,
    wall,
  };
}
