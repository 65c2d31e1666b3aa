/**
 * Retries and circuit breakers end to end, with two workers: an endpoint resetting connections is
 * retried on another and the client sees 200; a POST that reached an upstream is not replayed; the
 * max_requests breaker turns the 11th concurrent request away whichever worker takes it; the retry
 * budget and max_retries stop a retry storm against a failing cluster.
 */
import { createServer, type Server } from 'node:http';
import { Agent, request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { startRawUpstream, type RawUpstream } from '../helpers/raw.js';
import { waitFor } from '../helpers/wait-for.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function httpServer(port: number, handler: Parameters<typeof createServer>[1]): Promise<Server> {
  const s = createServer(handler);
  await new Promise<void>((r) => s.listen(port, '127.0.0.1', () => r()));
  cleanup.push(() => new Promise((r) => (s.closeAllConnections(), s.close(r))));
  return s;
}

async function pillionWith(config: Record<string, unknown>): Promise<PillionProcess> {
  const p = await startPillion({ workers: 2, access_log: { enabled: false }, ...config } as never);
  cleanup.push(() => p.stop());
  return p;
}

describe('retries', () => {
  it('retries a reset on another endpoint and the client sees 200', async () => {
    const [bad, good, listen, admin] = await freePorts(4);
    const resetter: RawUpstream = await startRawUpstream(bad!, (_h, socket) => socket.destroy());
    cleanup.push(() => resetter.close());
    let goodHits = 0;
    await httpServer(good!, (_req, res) => {
      goodHits++;
      res.end('good');
    });
    const p = await pillionWith({
      admin: { port: admin },
      listeners: [{ name: 'web', protocol: 'http', port: listen, routes: [{ match: { prefix: '/' }, cluster: 'c', retry: { attempts: 2, on: ['reset', 'connect-failure'], backoff: { base: '1ms', max: '5ms' } } }] }],
      clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: bad }, { address: '127.0.0.1', port: good }] }],
    });
    for (let i = 0; i < 20; i++) {
      const r = await fetch(`http://127.0.0.1:${listen}/x`);
      expect(r.status).toBe(200);
      expect(await r.text()).toBe('good');
    }
    expect(goodHits).toBe(20);
    expect(resetter.requests.length).toBeGreaterThan(0);
    expect(metric(await p.metrics(), 'pillion_retries_total', { cluster: 'c' })).toBe(resetter.requests.length);
  });

  it('retries a listed status, honours the attempt count and relays the last answer', async () => {
    const [a, b, listen, admin] = await freePorts(4);
    let hits = 0;
    const h = (_req: unknown, res: import('node:http').ServerResponse) => {
      hits++;
      res.statusCode = 503;
      res.end('busy');
    };
    await httpServer(a!, h);
    await httpServer(b!, h);
    await pillionWith({
      admin: { port: admin },
      listeners: [{ name: 'web', protocol: 'http', port: listen, routes: [{ match: { prefix: '/' }, cluster: 'c', retry: { attempts: 2, on: ['503'], backoff: { base: '1ms', max: '2ms' } } }] }],
      clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: a }, { address: '127.0.0.1', port: b }] }],
    });
    const r = await fetch(`http://127.0.0.1:${listen}/x`);
    expect(r.status).toBe(503);
    expect(await r.text()).toBe('busy');
    expect(hits).toBe(3);
  });

  it('does not replay a POST that reached an upstream, but retries one that never connected', async () => {
    const [resetting, dead, good, listen, admin] = await freePorts(5);
    const resetter = await startRawUpstream(resetting!, (_h, socket) => socket.destroy());
    cleanup.push(() => resetter.close());
    let posts = 0;
    await httpServer(good!, (req, res) => {
      posts++;
      req.resume();
      req.on('end', () => res.end('stored'));
    });
    await pillionWith({
      workers: 1,
      admin: { port: admin },
      listeners: [
        {
          name: 'web',
          protocol: 'http',
          port: listen,
          routes: [
            { match: { prefix: '/reset' }, cluster: 'resetting', retry: { attempts: 2, on: ['reset', 'connect-failure'], backoff: { base: '1ms', max: '2ms' } } },
            { match: { prefix: '/dead' }, cluster: 'dead', retry: { attempts: 2, on: ['reset', 'connect-failure'], backoff: { base: '1ms', max: '2ms' } } },
          ],
        },
      ],
      clusters: [
        { name: 'resetting', endpoints: [{ address: '127.0.0.1', port: resetting }] },
        { name: 'dead', endpoints: [{ address: '127.0.0.1', port: dead }, { address: '127.0.0.1', port: good }] },
      ],
    });
    // The POST reached the upstream before the reset: sending it again could store the order twice.
    const r1 = await fetch(`http://127.0.0.1:${listen}/reset`, { method: 'POST', body: 'order-1' });
    expect(r1.status).toBe(502);
    expect(resetter.requests.length).toBe(1);
    // The same failure on a GET is retried (twice), since GET is idempotent.
    const r2 = await fetch(`http://127.0.0.1:${listen}/reset`);
    expect(r2.status).toBe(502);
    expect(resetter.requests.length).toBe(4);
    // A POST whose connection never opened provably never reached anyone: retried on the good endpoint.
    const before = posts;
    for (let i = 0; i < 4; i++) {
      const r = await fetch(`http://127.0.0.1:${listen}/dead`, { method: 'POST', body: `order-${i}` });
      expect(r.status).toBe(200);
    }
    expect(posts - before).toBe(4);
  });
});

describe('circuit breakers', () => {
  it('max_requests: 10 with a slow upstream turns the 11th concurrent request away on either worker', async () => {
    const [up, listen, admin] = await freePorts(3);
    const held: import('node:http').ServerResponse[] = [];
    await httpServer(up!, (_req, res) => held.push(res));
    const p = await pillionWith({
      admin: { port: admin },
      listeners: [{ name: 'web', protocol: 'http', port: listen, routes: [{ match: { prefix: '/' }, cluster: 'c' }] }],
      clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: up }], circuit_breaker: { max_requests: 10 } }],
    });
    // Ten requests on separate connections, spread over both workers by the kernel, all held upstream.
    const agents = Array.from({ length: 12 }, () => new Agent({ pipelining: 0 }));
    cleanup.push(() => Promise.all(agents.map((a) => a.destroy())));
    const first = agents.slice(0, 10).map((a) => request(`http://127.0.0.1:${listen}/hold`, { dispatcher: a }));
    await waitFor(() => held.length >= 10, { message: 'ten requests held upstream' });
    expect(held.length).toBe(10);
    for (const a of agents.slice(10)) {
      const r = await request(`http://127.0.0.1:${listen}/over`, { dispatcher: a });
      expect(r.statusCode).toBe(503);
      expect(r.headers['x-pillion-overloaded']).toBe('true');
      expect(await r.body.text()).toContain('max_requests');
    }
    for (const res of held) res.end('done');
    for (const r of await Promise.all(first)) expect(r.statusCode).toBe(200);
    const text = await p.metrics();
    expect(metric(text, 'pillion_circuit_breaker_rejections_total', { cluster: 'c', limit: 'max_requests' })).toBe(2);
    expect(metric(text, 'pillion_worker_requests_total', { worker: '0' })).toBeGreaterThan(0);
    expect(metric(text, 'pillion_worker_requests_total', { worker: '1' })).toBeGreaterThan(0);
  });

  it('the retry budget and max_retries stop a retry storm against a failing cluster', async () => {
    const [a, listen, admin] = await freePorts(3);
    let hits = 0;
    const held: import('node:http').ServerResponse[] = [];
    await httpServer(a!, (_req, res) => {
      hits++;
      // Hold every answer a little so many requests are in flight at once, then fail them all.
      held.push(res);
      setTimeout(() => {
        res.statusCode = 503;
        res.end();
      }, 50);
    });
    const p = await pillionWith({
      workers: 1,
      admin: { port: admin },
      listeners: [{ name: 'web', protocol: 'http', port: listen, routes: [{ match: { prefix: '/' }, cluster: 'c', retry: { attempts: 5, on: ['503'], backoff: { base: '1ms', max: '1ms' }, budget_percent: 20, min_retry_concurrency: 2 } }] }],
      clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: a }], circuit_breaker: { max_retries: 3 } }],
    });
    const n = 40;
    const results = await Promise.all(Array.from({ length: n }, () => fetch(`http://127.0.0.1:${listen}/x`).then((r) => r.status)));
    expect(results.every((s) => s === 503)).toBe(true);
    // Without a budget every request would try 6 times (240 hits); the budget keeps retries near 20%.
    const retries = metric(await p.metrics(), 'pillion_retries_total', { cluster: 'c' })!;
    expect(hits).toBe(n + retries);
    expect(retries).toBeLessThan(n);
  });

  it('a failure-rate breaker opens on a failing endpoint, sends traffic elsewhere, and closes after probes', async () => {
    const [bad, good, listen, admin] = await freePorts(4);
    let failing = true;
    let badHits = 0;
    await httpServer(bad!, (_req, res) => {
      badHits++;
      res.statusCode = failing ? 500 : 200;
      res.end(failing ? 'broken' : 'bad-but-healed');
    });
    await httpServer(good!, (_req, res) => res.end('good'));
    const p = await pillionWith({
      workers: 2,
      admin: { port: admin },
      listeners: [{ name: 'web', protocol: 'http', port: listen, routes: [{ match: { prefix: '/' }, cluster: 'c' }] }],
      clusters: [
        {
          name: 'c',
          endpoints: [{ address: '127.0.0.1', port: bad }, { address: '127.0.0.1', port: good }],
          failure_breaker: { window: '10s', failure_rate_threshold: 50, minimum_requests: 4, sleep_window: '1s', half_open_requests: 2 },
        },
      ],
    });
    const get = async () => (await fetch(`http://127.0.0.1:${listen}/x`)).text();
    for (let i = 0; i < 8; i++) await get();
    // Open now: the bad endpoint gets nothing for the sleep window.
    const hitsWhenOpen = badHits;
    expect(hitsWhenOpen).toBeGreaterThanOrEqual(4);
    const during = await Promise.all(Array.from({ length: 10 }, get));
    expect(during.every((b) => b === 'good')).toBe(true);
    expect(badHits).toBe(hitsWhenOpen);
    const view = (await (await fetch(`${p.adminUrl}/clusters`)).json()) as any[];
    expect(view[0].endpoints.find((e: { port: number }) => e.port === bad).failure_breaker).toBe('open');
    expect(metric(await p.metrics(), 'pillion_circuit_breaker_rejections_total', { cluster: 'c', limit: 'failure_rate' })).toBe(0);
    // It heals; after the sleep window the probes succeed and the breaker closes.
    // Nothing shows the end of the sleep window but a request: the breaker leaves open on the first pick
    // after it. Until then every request goes to the good endpoint.
    failing = false;
    await waitFor(async () => (await get()) === 'bad-but-healed', { timeoutMs: 3000, intervalMs: 50, message: 'a probe to reach the healed endpoint' });
    const after: string[] = [];
    for (let i = 0; i < 10; i++) after.push(await get());
    expect(after.filter((b) => b === 'bad-but-healed').length).toBeGreaterThanOrEqual(3);
  });
});
