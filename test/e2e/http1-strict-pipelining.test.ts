/**
 * The http1-strict codec as a pipelining client, an old client and a slow one see it: pipelined
 * requests answered in order, each forwarded only after the one before it was answered; a client that
 * pipelines without reading holds the proxy back instead of growing its buffers; a malformed request
 * behind good ones is answered after them and nothing behind it is forwarded; head-read and idle
 * timeouts close what they should.
 */
import { createConnection, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait-for.js';
import { simpleConfig } from '../helpers/configs.js';
import { metricSum, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freePorts } from '../helpers/ports.js';
import { startRawUpstream, type RawUpstream } from '../helpers/raw.js';

let pillion: PillionProcess;
let upstream: RawUpstream;
let listen: number;
/** Requests the upstream is answering right now (the proxy must never have two from one client). */
let inFlight = 0;
let maxInFlight = 0;
const BIG = 256 * 1024;

beforeAll(async () => {
  const [up, l, admin] = await freePorts(3);
  listen = l!;
  upstream = await startRawUpstream(up!, (head, socket) => {
    const path = head.split(' ')[1]!;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const body = path.startsWith('/big') ? Buffer.alloc(BIG, 'b') : Buffer.from(`path=${path}\n`);
    // Answer a little later, so a proxy that forwarded pipelined requests together would be caught.
    setTimeout(() => {
      inFlight--;
      socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\nx-path: ${path}\r\n\r\n`);
      socket.write(body);
    }, path.startsWith('/big') ? 0 : 5);
  });
  pillion = await startPillion(
    simpleConfig({
      listen,
      admin: admin!,
      upstreams: [up!],
      listener: { codec: 'http1-strict', max_pipelined_requests: 4, timeouts: { header_read: '400ms', idle: '600ms' } },
      cluster: { pool: { max_connections_per_endpoint: 64 } },
    }),
  );
});

afterAll(async () => {
  await pillion?.stop();
  await upstream?.close();
});

/** A raw client that keeps everything it reads and knows when the proxy closed. */
function client(): Promise<{ socket: Socket; text: () => string; closed: () => boolean; closedAt: () => number }> {
  return new Promise((resolve) => {
    const socket = createConnection(listen, '127.0.0.1');
    let text = '';
    let closedAt = 0;
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => (closedAt = Date.now()));
    socket.on('connect', () => resolve({ socket, text: () => text, closed: () => closedAt !== 0, closedAt: () => closedAt }));
  });
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`;
const paths = (text: string) => [...text.matchAll(/x-path: (\S+)/g)].map((m) => m[1]);
const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));

describe('http1-strict pipelining', () => {
  it('answers pipelined requests in order, forwarding each after the one before it was answered', async () => {
    maxInFlight = 0;
    const c = await client();
    const sent = Array.from({ length: 10 }, (_, i) => `/p${i}`);
    c.socket.write(sent.map(get).join(''));
    await waitFor(() => paths(c.text()).length === 10, { timeoutMs: 10_000, message: '10 answers' });
    expect(paths(c.text())).toEqual(sent);
    expect(maxInFlight).toBe(1);
    expect(c.closed()).toBe(false);
    c.socket.destroy();
    expect(metricSum(await pillion.metrics(), 'pillion_downstream_pipelined_total')).toBeGreaterThanOrEqual(9);
  });

  it('a client that pipelines 1,000 requests without reading holds the proxy back, then gets every answer in order', async () => {
    const before = upstream.requests.length;
    const c = await client();
    c.socket.pause();
    const n = 1000;
    c.socket.write(Array.from({ length: n }, (_, i) => get(`/big${i}`)).join(''));
    // Forwarding stops once the client's socket and the proxy's buffers are full.
    let last = -1;
    let stableFor = 0;
    await waitFor(() => {
      const seen = upstream.requests.length - before;
      stableFor = seen === last && seen > 0 ? stableFor + 1 : 0;
      last = seen;
      return stableFor >= 10;
    }, { timeoutMs: 15_000, intervalMs: 50, message: 'forwarding to stall' });
    const forwardedWhileStalled = upstream.requests.length - before;
    expect(forwardedWhileStalled).toBeLessThan(200);
    // Reading resumes: everything arrives, in order, complete.
    let got = 0;
    let buffered = Buffer.alloc(0);
    const order: string[] = [];
    c.socket.removeAllListeners('data');
    c.socket.on('data', (d: Buffer) => {
      buffered = Buffer.concat([buffered, d]);
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buffered.subarray(0, end).toString('latin1');
        const len = Number(/content-length: (\d+)/i.exec(head)![1]);
        if (buffered.length < end + 4 + len) return;
        order.push(/x-path: (\S+)/.exec(head)![1]!);
        buffered = buffered.subarray(end + 4 + len);
        got++;
      }
    });
    c.socket.resume();
    await waitFor(() => got === n, { timeoutMs: 60_000, intervalMs: 50, message: `all ${n} answers` });
    expect(order).toEqual(Array.from({ length: n }, (_, i) => `/big${i}`));
    c.socket.destroy();
  }, 90_000);

  it('answers good requests before a malformed one, then 400 with connection: close, and forwards nothing behind it', async () => {
    const before = upstream.requests.length;
    const c = await client();
    c.socket.write(get('/ok1') + get('/ok2') + 'GET /bad HTTP/1.1\r\nHost : a\r\n\r\n' + get('/smuggled'));
    await waitFor(() => c.closed(), { message: 'the proxy to close the connection' });
    expect(statuses(c.text())).toEqual([200, 200, 400]);
    expect(paths(c.text())).toEqual(['/ok1', '/ok2']);
    expect(c.text()).toMatch(/HTTP\/1\.1 400 Bad Request\r\n(.*\r\n)*connection: close\r\n/i);
    expect(upstream.requests.slice(before).map((h) => h.split(' ')[1])).toEqual(['/ok1', '/ok2']);
  });

  it('a request the proxy refuses closes the connection; the request pipelined behind it is never forwarded', async () => {
    const before = upstream.requests.length;
    const c = await client();
    // Pillion's own rules refuse this one (two Host fields); llhttp accepts its framing.
    c.socket.write(get('/ok') + 'GET /dup HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n' + get('/smuggled'));
    await waitFor(() => c.closed(), { message: 'the proxy to close the connection' });
    expect(statuses(c.text())).toEqual([200, 400]);
    expect(upstream.requests.slice(before).map((h) => h.split(' ')[1])).toEqual(['/ok']);
  });

  it('answers 408 and closes when a request head is not complete within timeouts.header_read', async () => {
    const c = await client();
    const t0 = Date.now();
    c.socket.write('GET /slow HTTP/1.1\r\nHost: a\r\n');
    await waitFor(() => c.closed(), { message: 'the proxy to close the connection' });
    expect(statuses(c.text())).toEqual([408]);
    expect(c.closedAt() - t0).toBeGreaterThanOrEqual(350);
    expect(metricSum(await pillion.metrics(), 'pillion_downstream_header_timeouts_total')).toBeGreaterThanOrEqual(1);
  });

  it('closes a keep-alive connection idle for timeouts.idle', async () => {
    const c = await client();
    c.socket.write(get('/once'));
    await waitFor(() => paths(c.text()).length === 1, { message: 'the answer' });
    const t0 = Date.now();
    await waitFor(() => c.closed(), { message: 'the proxy to close the connection' });
    expect(c.closedAt() - t0).toBeGreaterThanOrEqual(400);
  });
});
