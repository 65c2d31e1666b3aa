/**
 * ProxyExchange flow control against real upstream sockets: downstream backpressure on the response
 * (tryEnd and chunked write), a client that goes away while its request waits for a connection or a
 * retry, and whether the client is left paused when the exchange ends.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  exchangeTestBed,
  Harness, answer, patterned, resetWhenComplete, scriptedUpstream, silent, type HarnessOptions, type Script, type ScriptedUpstream } from './exchange-fixtures.js';
import { waitFor } from '../../../test/helpers/wait-for.js';

const bed = exchangeTestBed();
const { upstream, start } = bed;
afterEach(() => bed.cleanup());

/** A port on 127.0.0.1 with nothing listening on it. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

type Exchange = ReturnType<Harness['request']>;

/** The socket of the upstream connection the exchange reads its response from (null once it completed). */
function upstreamSocket(x: Exchange['x']): Socket | null {
  return (x.upstream as unknown as { conn: { socket: Socket } | null }).conn?.socket ?? null;
}

/**
 * Drains the client whenever the exchange waits for it, `window` bytes at a time, until the response
 * ends. At each stall the upstream connection must be paused (unless its response already completed).
 * Returns how many stalls had a paused upstream to hold, and how many drains there were.
 */
async function clientReads({ x, res }: Exchange, window: number): Promise<{ drains: number; held: number }> {
  let drains = 0;
  let held = 0;
  while (!res.settled) {
    await waitFor(() => res.settled || res.wantsWritable, { message: 'backpressure or the end of the response' });
    if (!res.wantsWritable) continue;
    const socket = upstreamSocket(x);
    if (socket !== null) {
      expect(socket.isPaused()).toBe(true);
      held++;
    }
    drains++;
    res.drain(window);
  }
  return { drains, held };
}

describe('response backpressure', () => {
  it('a declared-length body stalled by tryEnd resumes from the write offset: every byte, in order, once', async () => {
    const body = patterned(300_000, 5);
    const u = await upstream(answer(200, body));
    const h = start({ upstreams: [u.port] });
    const exchange = h.request('GET', '/large');
    const { res } = exchange;
    res.window = 10_000;

    const { drains, held } = await clientReads(exchange, 16_384);
    expect(res.violations).toEqual([]);
    expect(res.endedBy).toBe('tryEnd');
    expect(res.statusCode).toBe(200);
    expect(res.body.length).toBe(body.length);
    expect(res.body.equals(body)).toBe(true);
    expect(drains).toBeGreaterThan(10);
    expect(held).toBeGreaterThan(0);
    expect(res.calls).not.toContain('write');
    expect(h.listenerStat('downstream_bytes_out')).toBe(300_000);
    await waitFor(() => h.endpoint(u.port).pool.idleCount === 1, { message: 'the connection back in the pool' });
    expect(h.held()).toEqual(h.idle());
  });

  it('a chunked body whose writes report backpressure holds the upstream until onWritable: every byte, in order, once', async () => {
    const body = patterned(200_000, 11);
    const u = await upstream((req, event) => {
      if (event !== 'complete') return;
      const parts: Buffer[] = [Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n', 'latin1')];
      for (let at = 0; at < body.length; at += 7_000) {
        const piece = body.subarray(at, Math.min(at + 7_000, body.length));
        parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`, 'latin1'), piece, Buffer.from('\r\n', 'latin1'));
      }
      parts.push(Buffer.from('0\r\n\r\n', 'latin1'));
      req.conn.write(Buffer.concat(parts));
    });
    const h = start({ upstreams: [u.port] });
    const exchange = h.request('GET', '/chunked');
    const { res } = exchange;
    res.window = 8_000;

    const { drains, held } = await clientReads(exchange, 20_000);
    expect(res.violations).toEqual([]);
    expect(res.endedBy).toBe('end');
    expect(res.body.equals(body)).toBe(true);
    expect(drains).toBeGreaterThan(1);
    expect(held).toBeGreaterThan(0);
    expect(res.calls).not.toContain('tryEnd');
    await waitFor(() => h.endpoint(u.port).pool.idleCount === 1, { message: 'the connection back in the pool' });
    expect(h.held()).toEqual(h.idle());
  });
});

describe('a client that goes away', () => {
  it('while its request is queued for a connection: the pool wait is cancelled and rq_active released', async () => {
    const u = await upstream(silent);
    const h = start({ upstreams: [u.port], cluster: { pool: { max_connections_per_endpoint: 1 } } });
    const e = h.endpoint(u.port);
    const first = h.request('GET', '/one');
    await waitFor(() => u.completeRequests.length === 1, { message: 'the first request upstream' });
    const second = h.request('GET', '/two');
    expect(e.pool.pending).toBe(1);
    expect(h.held()).toMatchObject({ cluster_rq_active: 2, cluster_rq_pending: 1, [`endpoint_${u.port}_rq_active`]: 2, [`endpoint_${u.port}_rq_pending`]: 1 });

    second.res.abort();
    expect(second.x.finished).toBe(true);
    expect(e.pool.pending).toBe(0);
    expect(h.held()).toMatchObject({ cluster_rq_active: 1, cluster_rq_pending: 0, [`endpoint_${u.port}_rq_active`]: 1, [`endpoint_${u.port}_rq_pending`]: 0 });
    expect(h.listenerStat('downstream_aborted')).toBe(1);
    expect(h.listenerStat('downstream_aborted_forwarded')).toBe(0);
    expect(h.requestsCounted()).toEqual([1, 0, 0, 0, 0, 0]); // counted as no response

    first.res.abort();
    expect(h.held()).toEqual(h.idle());
    expect(h.listenerStat('downstream_aborted_forwarded')).toBe(1);
    await waitFor(() => u.connections[0]!.closed, { message: 'the first request’s connection to close' });
    expect(u.connections).toHaveLength(1);
    expect(u.requests.map((r) => r.target)).toEqual(['/one']);
    expect(second.res.calls).toEqual([]);
  });

  it('before its connection is established: nothing is written and the new connection goes to the pool clean', async () => {
    const u = await upstream(answer(200, 'unused'));
    const h = start({ upstreams: [u.port] });
    const { x, res } = h.request('GET', '/gone');
    expect(h.held()).toMatchObject({ cluster_rq_active: 1, cluster_rq_pending: 1 });
    res.abort();
    expect(x.finished).toBe(true);
    expect(h.held()).toEqual(h.idle());
    const pool = h.endpoint(u.port).pool;
    await waitFor(() => pool.idleCount === 1, { message: 'the connection to go idle' });
    expect(u.bytesRead).toBe(0);
    expect(h.log[0]).toMatchObject({ status: 0, aborted: true, attempts: 1 });
  });

  it('while a retry waits out its backoff: the retry never starts and rq_retry_active is released', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const a = await upstream(resetWhenComplete);
    const b = await upstream(answer(200, 'never'));
    const h = start({ upstreams: [a.port, b.port], route: { retry: { attempts: 1, on: ['reset'], backoff: { base: '1s', max: '1s' } } } });
    const { res } = h.request('GET', '/retrying');
    await waitFor(() => h.clusterStat('retries') === 1, { message: 'the retry to be scheduled' });
    expect(h.held()).toMatchObject({ cluster_rq_active: 1, cluster_rq_retry_active: 1 });
    res.abort();
    expect(h.held()).toEqual(h.idle());
    vi.advanceTimersByTime(10_000);
    expect(h.attemptsTo(b.port)).toBe(0);
    expect(b.connections).toHaveLength(0);
    expect(res.calls).toEqual([]);
  });
});

describe('the client is not left paused', () => {
  // uWS's pause() stops reading the connection: a response that ends with it paused leaves a keep-alive
  // connection that never reads its next request. The exchange must resume it, or close the connection.

  /** A chunked upload whose chunks all arrive before the upstream connection is ready (uWS hands a read's chunks over together). */
  async function uploadWhileConnecting() {
    const u = await upstream(answer(200, 'stored'));
    const h = start({ upstreams: [u.port] });
    const { res } = h.request('POST', '/upload', { 'transfer-encoding': 'chunked' });
    res.send('hello ', false);
    res.send('world', false);
    res.send('', true);
    await waitFor(() => res.ended, { message: 'the response' });
    return { u, h, res };
  }

  it('an upload completed while connecting is forwarded whole and answered', async () => {
    const { u, h, res } = await uploadWhileConnecting();
    expect(res.violations).toEqual([]);
    expect(res.text).toBe('stored');
    expect(res.endClose).toBe(false);
    expect(res.pauseCalls).toBeGreaterThan(0); // held back while no connection was ready
    expect(u.completeRequests[0]!.body.toString()).toBe('hello world');
    expect(h.held()).toEqual(h.idle());
  });

  // A client paused while connecting must be resumed once its body is complete: a response ended while
  // it is paused leaves uWS unable to read the next request on the connection.
  it('an upload completed while connecting leaves the client resumed when the response ends', async () => {
    const { res } = await uploadWhileConnecting();
    expect(res.paused).toBe(false);
  });

  /** An upload paused while connecting to an endpoint that refuses: the exchange answers 503 mid-body. */
  async function uploadToRefusingEndpoint() {
    const h = start({ upstreams: [await closedPort()] });
    const { res } = h.request('PUT', '/upload', { 'content-length': '100' });
    res.send(patterned(40), false);
    await waitFor(() => res.ended, { message: 'the response' });
    return { h, res };
  }

  it('an upload refused by its endpoint mid-body gets 503 "upstream connect failure"', async () => {
    const { h, res } = await uploadToRefusingEndpoint();
    expect(res.violations).toEqual([]);
    expect(res.status).toBe('503 Service Unavailable');
    expect(res.text).toMatch(/^no healthy upstream: upstream connect failure: connect ECONNREFUSED 127\.0\.0\.1:\d+\n$/);
    expect(res.pauseCalls).toBe(1);
    // The first try and the default retry (a connect failure never reached an upstream, so even a PUT
    // may go again); the body read so far was kept for it.
    expect(h.clusterStat('upstream_connect_failures')).toBe(2);
    expect(h.clusterStat('retries')).toBe(1);
    expect(h.held()).toEqual(h.idle());
  });

  // The proxy's own answer before the whole body was read closes the connection: the rest of the body is
  // never read, so it cannot be taken for a next request, and a paused client is not left waiting.
  it('an upload answered mid-body closes the connection with the answer', async () => {
    const { res } = await uploadToRefusingEndpoint();
    expect(res.endClose).toBe(true);
  });

  it('a client paused by upstream backpressure goes on at its last chunk', async () => {
    // The upstream stops reading at the head, so the proxy's writes back up and it pauses the client.
    const u = await upstream((req, event) => {
      if (event === 'head') req.conn.socket.pause();
      if (event === 'complete') req.conn.respond(200, 'stored');
    });
    const h = start({ upstreams: [u.port] });
    const size = 8 * 1024 * 1024;
    const { res } = h.request('PUT', '/upload', { 'content-length': String(size + 1) });
    await waitFor(() => u.requests.length === 1, { message: 'the head to reach the upstream' });
    res.send(patterned(size), false);
    await waitFor(() => res.paused, { message: 'the client to be paused by upstream backpressure' });
    res.send('x', true);
    // Nothing more will come from this client: it must not stay paused until the upstream drains (the
    // response may end first, and a paused uWS connection never reads its next request).
    expect(res.paused).toBe(false);
    u.connections[0]!.socket.resume();
    await waitFor(() => res.ended, { message: 'the response' });
    expect(res.text).toBe('stored');
    expect(u.completeRequests[0]!.body.length).toBe(size + 1);
  });

  it('an upstream that answers before reading the whole body: the rest is dropped, the client goes on, the connection is not reused', async () => {
    const u = await upstream((req, event) => {
      if (event === 'head') {
        req.conn.socket.pause();
        req.conn.respond(200, 'early');
      }
    });
    const h = start({ upstreams: [u.port] });
    const { res } = h.request('PUT', '/upload', { 'content-length': String(1024 * 1024) });
    await waitFor(() => res.ended, { message: 'the early response' });
    expect(res.text).toBe('early');
    expect(res.paused).toBe(false);
    expect(res.endClose).toBe(false);
    res.send(patterned(1024 * 1024), true); // the rest of the body, read and dropped
    expect(res.violations).toEqual([]);
    // The upstream never read the body, so the connection cannot carry another request.
    await waitFor(() => u.connections[0]!.closed, { message: 'the proxy to close the upstream connection' });
    expect(u.connections[0]!.closedHere).toBe(false);
    expect(h.held()).toEqual(h.idle());
    const next = h.request('GET', '/next');
    u.script = answer(200, 'next');
    await waitFor(() => next.res.ended, { message: 'the next response' });
    expect(next.res.text).toBe('next');
    expect(u.connections).toHaveLength(2);
  });
});
