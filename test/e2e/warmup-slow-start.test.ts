/**
 * Warm pools and slow start working with the balancer: connections are opened (and verified) before
 * the first request, at most `concurrency` at a time per worker; a new endpoint's share of traffic
 * ramps up over the slow-start window instead of arriving all at once.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { waitFor } from '../helpers/wait-for.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

interface Counting {
  server: Server;
  connections: number;
  healthInFlight: number;
  maxHealthInFlight: number;
  requests: number;
}

async function countingUpstream(port: number, name: string, healthDelayMs = 0): Promise<Counting> {
  const c: Counting = { server: undefined as unknown as Server, connections: 0, healthInFlight: 0, maxHealthInFlight: 0, requests: 0 };
  c.server = createServer((req, res) => {
    if (req.url === '/health') {
      c.healthInFlight++;
      c.maxHealthInFlight = Math.max(c.maxHealthInFlight, c.healthInFlight);
      setTimeout(() => {
        c.healthInFlight--;
        res.end('ok');
      }, healthDelayMs);
      return;
    }
    c.requests++;
    res.setHeader('x-upstream', name);
    res.end(name);
  });
  c.server.keepAliveTimeout = 60_000;
  c.server.on('connection', () => c.connections++);
  await new Promise<void>((r) => c.server.listen(port, '127.0.0.1', () => r()));
  cleanup.push(() => new Promise((r) => (c.server.closeAllConnections(), c.server.close(r))));
  return c;
}

describe('warm pools', () => {
  it('opens and verifies connections before the first request, concurrency-limited', async () => {
    const [up, listen, admin] = await freePorts(3);
    const u = await countingUpstream(up!, 'u', 100);
    const p: PillionProcess = await startPillion({
      workers: 2,
      admin: { port: admin },
      access_log: { enabled: false },
      listeners: [{ name: 'web', protocol: 'http', port: listen, routes: [{ match: { prefix: '/' }, cluster: 'c' }] }],
      clusters: [
        {
          name: 'c',
          endpoints: [{ address: '127.0.0.1', port: up }],
          health_check: { http: { path: '/health' }, interval: '1h', timeout: '1s', healthy_threshold: 1 },
          pool: { warmup: { connections: 3, concurrency: 1 } },
        },
      ],
    });
    cleanup.push(() => p.stop());
    // 3 per worker, all verified with the health request; none of it waited for a client request.
    await waitFor(async () => metric(await p.metrics(), 'pillion_pool_warm_connections', { cluster: 'c' }) === 6, { timeoutMs: 10_000, intervalMs: 25, message: '6 warm connections' });
    expect(u.requests).toBe(0);
    expect(u.connections).toBeGreaterThanOrEqual(6);
    // One verification at a time per worker (2 workers), plus the health checker's own first check.
    expect(u.maxHealthInFlight).toBeLessThanOrEqual(3);
    const clusters = (await (await fetch(`${p.adminUrl}/clusters`)).json()) as any[];
    expect(clusters[0].endpoints[0].warm_connections).toBe(6);
    expect(clusters[0].endpoints[0].warm).toBe(true);

    // Requests now ride the warm connections: no new connection is opened for them.
    const before = u.connections;
    for (let i = 0; i < 6; i++) expect(await (await fetch(`http://127.0.0.1:${listen}/x`)).text()).toBe('u');
    expect(u.connections).toBe(before);
    // Once every worker's pool is warm the endpoint gets its full weight (the next weight tick, 200 ms).
    await waitFor(async () => metric(await p.metrics(), 'pillion_endpoint_effective_weight', { cluster: 'c', endpoint: `127.0.0.1:${up}` }) === 1, {
      timeoutMs: 2000,
      intervalMs: 25,
      message: 'the full weight',
    });
  });
});

describe('slow start', () => {
  it("ramps a new endpoint's share over the window", async () => {
    const [a, b, c, listen, admin] = await freePorts(5);
    await countingUpstream(a!, 'a');
    await countingUpstream(b!, 'b');
    await countingUpstream(c!, 'c');
    const p = await startPillion({
      workers: 2,
      admin: { port: admin },
      access_log: { enabled: false },
      listeners: [{ name: 'web', protocol: 'http', port: listen, routes: [{ match: { prefix: '/' }, cluster: 'svc' }] }],
      clusters: [
        {
          name: 'svc',
          endpoints: [{ address: '127.0.0.1', port: a }, { address: '127.0.0.1', port: b }],
          slow_start: { window: '3s', aggression: 1, min_weight_percent: 5 },
        },
      ],
    });
    cleanup.push(() => p.stop());
    const put = await fetch(`${p.adminUrl}/clusters/svc/endpoints`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ address: '127.0.0.1', port: a }, { address: '127.0.0.1', port: b }, { address: '127.0.0.1', port: c }]),
    });
    expect(put.status).toBeLessThan(300);
    const t0 = Date.now();
    const early: string[] = [];
    const late: string[] = [];
    while (Date.now() - t0 < 4200) {
      const r = await fetch(`http://127.0.0.1:${listen}/x`);
      const who = await r.text();
      const t = Date.now() - t0;
      if (t < 700) early.push(who);
      else if (t > 3300) late.push(who);
    }
    const share = (xs: string[]) => xs.filter((x) => x === 'c').length / xs.length;
    expect(early.length).toBeGreaterThan(20);
    expect(late.length).toBeGreaterThan(20);
    // Early on the new endpoint gets a small share (weight <= 23% of its full weight → under 11% of traffic);
    // after the window it takes its full third.
    expect(share(early)).toBeLessThan(0.15);
    expect(share(late)).toBeGreaterThan(0.25);
  });
});
