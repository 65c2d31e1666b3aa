/**
 * The first data path end to end: the real CLI with two workers, real upstream servers, real clients.
 */
import type { Server } from 'node:http';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { metric, metricSum, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { closeServer, startUpstream } from '../helpers/upstreams.js';

let pillion: PillionProcess;
let upstreams: Server[];
let base: string;

beforeAll(async () => {
  const [p1, p2, p3, listen, admin] = await freePorts(5);
  upstreams = await Promise.all([startUpstream('api-1', p1!), startUpstream('api-2', p2!), startUpstream('web-1', p3!)]);
  pillion = await startPillion({
    workers: 2,
    admin: { port: admin! },
    access_log: { enabled: false },
    listeners: [
      {
        name: 'web',
        protocol: 'http',
        port: listen,
        routes: [
          { match: { prefix: '/api' }, cluster: 'api' },
          { match: { exact: '/only-web' }, cluster: 'web' },
          { match: { prefix: '/web' }, cluster: 'web', prefix_rewrite: '/rewritten' },
        ],
      },
    ],
    clusters: [
      { name: 'api', endpoints: [{ address: '127.0.0.1', port: p1 }, { address: '127.0.0.1', port: p2 }] },
      { name: 'web', endpoints: [{ address: '127.0.0.1', port: p3 }] },
    ],
  });
  base = `http://127.0.0.1:${listen}`;
});

afterAll(async () => {
  expect(await pillion?.stop()).toBe(0);
  await Promise.all((upstreams ?? []).map(closeServer));
});

describe('proxying', () => {
  it('routes by prefix to the right cluster and forwards identity headers', async () => {
    const r = await fetch(`${base}/api/hello?x=1`);
    expect(r.status).toBe(200);
    const body = (await r.json()) as Record<string, string>;
    expect(body.upstream).toMatch(/^api-/);
    expect(body.path).toBe('/api/hello?x=1');
    expect(body['x-forwarded-for']).toBe('127.0.0.1');
    expect(body['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.headers.get('x-upstream')).toBe(body.upstream);
  });

  it('keeps a client-supplied x-request-id', async () => {
    const r = await fetch(`${base}/api/id`, { headers: { 'x-request-id': 'abc-123' } });
    expect(((await r.json()) as Record<string, string>)['x-request-id']).toBe('abc-123');
  });

  it('applies exact matches and prefix rewrites', async () => {
    expect(((await (await fetch(`${base}/only-web`)).json()) as { path: string }).path).toBe('/only-web');
    expect(((await (await fetch(`${base}/web/page?q=2`)).json()) as { path: string }).path).toBe('/rewritten/page?q=2');
  });

  it('answers 404 itself when no route matches', async () => {
    const r = await fetch(`${base}/nothing-here`);
    expect(r.status).toBe(404);
    expect(r.headers.get('server')).toBe('pillion');
    expect(await r.text()).toBe('no route\n');
  });

  it('streams request bodies up and response bodies down, byte for byte', async () => {
    const body = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    const r = await fetch(`${base}/api/echo`, { method: 'POST', body });
    expect(r.status).toBe(200);
    const back = Buffer.from(await r.arrayBuffer());
    expect(back.length).toBe(body.length);
    expect(back.equals(body)).toBe(true);
  });

  it('forwards a chunked request body (no content-length)', async () => {
    async function* parts() {
      yield Buffer.from('hello ');
      await new Promise((r) => setTimeout(r, 20));
      yield Buffer.from('chunked world');
    }
    const r = await fetch(`${base}/api/echo`, { method: 'POST', body: parts() as any, duplex: 'half' } as RequestInit);
    expect(await r.text()).toBe('hello chunked world');
  });

  it('balances round robin over a cluster\'s endpoints', async () => {
    const seen = new Map<string, number>();
    for (let i = 0; i < 20; i++) {
      const b = (await (await fetch(`${base}/api/rr`)).json()) as { upstream: string };
      seen.set(b.upstream, (seen.get(b.upstream) ?? 0) + 1);
    }
    expect(seen.get('api-1')).toBe(10);
    expect(seen.get('api-2')).toBe(10);
  });
});

describe('admin and metrics', () => {
  it('counts requests in pillion_requests_total across both workers', async () => {
    const before = metricSum(await pillion.metrics(), 'pillion_requests_total', { listener: 'web', cluster: 'api', code_class: '2xx' });
    // Fresh connections each time so the kernel spreads them over both workers' sockets.
    const n = 60;
    for (let i = 0; i < n; i++) {
      const agent = new Agent({ pipelining: 0 });
      const r = await request(`${base}/api/count`, { dispatcher: agent });
      await r.body.text();
      await agent.close();
    }
    const text = await pillion.metrics();
    expect(metric(text, 'pillion_workers')).toBe(2);
    expect(metricSum(text, 'pillion_requests_total', { listener: 'web', cluster: 'api', code_class: '2xx' }) - before).toBe(n);
    expect(metric(text, 'pillion_requests_total', { listener: 'web', cluster: '', code_class: '4xx' })).toBeGreaterThanOrEqual(1);
    const w0 = metric(text, 'pillion_worker_requests_total', { worker: '0' })!;
    const w1 = metric(text, 'pillion_worker_requests_total', { worker: '1' })!;
    expect(w0).toBeGreaterThan(0);
    expect(w1).toBeGreaterThan(0);
    expect(metric(text, 'pillion_request_duration_seconds_count', { listener: 'web' })).toBe(w0 + w1);
  });

  it('describes clusters and endpoints on /clusters', async () => {
    const clusters = (await (await fetch(`${pillion.adminUrl}/clusters`)).json()) as any[];
    expect(clusters.map((c: any) => c.name)).toEqual(['api', 'web']);
    const ep = clusters[0].endpoints[0];
    expect(ep).toMatchObject({ address: '127.0.0.1', weight: 1, effective_weight: 1, state: 'active', active_requests: 0 });
    expect(ep.requests_total).toBeGreaterThan(0);
    expect(ep.active_connections).toBeGreaterThan(0);
  });

  it('shows the running config with defaults on /config', async () => {
    const c = (await (await fetch(`${pillion.adminUrl}/config`)).json()) as any;
    expect(c.workers).toBe(2);
    expect(c.clusters[0].lb.policy).toBe('round-robin');
    expect(c.clusters[0].circuit_breaker.max_requests).toBe(1024);
  });

  it('answers 404 for unknown admin paths', async () => {
    expect((await fetch(`${pillion.adminUrl}/nope`)).status).toBe(404);
  });
});
