/**
 * The admin port's status page and `/stats`: after known traffic through two listeners to two
 * clusters, `/stats` has exact counts per listener, cluster and endpoint, and the page the server
 * renders shows them with every config value escaped (an endpoint zone full of markup stays text).
 * The page in a real browser is test/interop/status-page.interop.ts.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatsJson } from '../../packages/workers/src/supervisor/stats-json.js';
import { startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freePorts } from '../helpers/ports.js';
import { closeServer } from '../helpers/upstreams.js';
import { waitFor } from '../helpers/wait-for.js';

/** A zone is free text in the config, so it is where markup can get in. */
const HOSTILE_ZONE = `z<b id="injected">&'"</b>`;

let pillion: PillionProcess;
let servers: Server[];
let ports: Record<'front' | 'side' | 'api1' | 'api2' | 'web', number>;

/** Answers "ok\n", or "fail\n" with 500 for /…/fail; reads request bodies first. */
function upstream(port: number): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/health') return void res.end('up');
      const fail = req.url?.endsWith('/fail');
      res.writeHead(fail ? 500 : 200, { 'content-type': 'text/plain' }).end(fail ? 'fail\n' : 'ok\n');
    });
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

beforeAll(async () => {
  const [front, side, api1, api2, web, admin] = await freePorts(6);
  ports = { front: front!, side: side!, api1: api1!, api2: api2!, web: web! };
  servers = await Promise.all([upstream(api1!), upstream(api2!), upstream(web!)]);
  pillion = await startPillion({
    workers: 1,
    admin: { port: admin! },
    access_log: { enabled: false },
    listeners: [
      {
        name: 'front',
        protocol: 'http',
        port: front,
        routes: [
          { match: { prefix: '/api' }, cluster: 'api' },
          { match: { prefix: '/web' }, cluster: 'web' },
        ],
      },
      { name: 'side', protocol: 'http', port: side, routes: [{ match: { prefix: '/' }, cluster: 'web' }] },
    ],
    clusters: [
      {
        name: 'api',
        endpoints: [
          { address: '127.0.0.1', port: api1, zone: HOSTILE_ZONE },
          { address: '127.0.0.1', port: api2, weight: 3 },
        ],
        health_check: { http: { path: '/health' }, interval: '200ms' },
        circuit_breaker: { max_requests: 77, max_pending_requests: 9, max_connections: 55, max_retries: 2 },
      },
      {
        name: 'web',
        protocol: 'http1',
        lb: { policy: 'least-request' },
        endpoints: [{ address: '127.0.0.1', port: web }],
        outlier_detection: {},
        failure_breaker: {},
      },
    ],
  });
  // front: 4 to api (one POST of 10 bytes), 3 to web (one 500), 2 without a route; side: 2 to web.
  const front_ = `http://127.0.0.1:${ports.front}`;
  const side_ = `http://127.0.0.1:${ports.side}`;
  for (const path of ['/api/a', '/api/b', '/api/c']) expect((await fetch(front_ + path)).status).toBe(200);
  expect((await fetch(`${front_}/api/upload`, { method: 'POST', body: '0123456789' })).status).toBe(200);
  for (const path of ['/web/a', '/web/b']) expect((await fetch(front_ + path)).status).toBe(200);
  expect((await fetch(`${front_}/web/fail`)).status).toBe(500);
  for (const path of ['/none', '/other']) expect((await fetch(front_ + path)).status).toBe(404);
  for (const path of ['/x', '/y']) expect((await fetch(side_ + path)).status).toBe(200);
});

afterAll(async () => {
  await pillion?.stop();
  await Promise.all((servers ?? []).map(closeServer));
});

/** /stats once every request above has been counted. */
function settledStats(): Promise<StatsJson> {
  return waitFor(
    async () => {
      const s = (await (await fetch(`${pillion.adminUrl}/stats`)).json()) as StatsJson;
      const done = s.listeners.reduce((n, l) => n + l.requests_total, 0) === 11 && s.listeners.every((l) => l.requests_active === 0);
      return done && s.clusters.every((c) => c.requests_active === 0) && s;
    },
    { message: 'all 11 requests to be counted in /stats' },
  );
}

describe('GET /stats', () => {
  it('counts the traffic exactly, per listener, cluster and endpoint', async () => {
    const s = await settledStats();
    expect(s.process).toMatchObject({ workers: 1, workers_running: 1, config_generation: 1, draining: false });
    expect(s.process.uptime_seconds).toBeGreaterThan(0);
    expect(s.process.rss_bytes).toBeGreaterThan(0);
    expect(Number.isNaN(Date.parse(s.time))).toBe(false);

    expect(s.listeners).toEqual([
      { name: 'front', protocol: 'http', tls: false, address: '127.0.0.1', port: ports.front, unit: 'requests', requests_total: 9, requests_active: 0, local_replies: 2, bytes_received: 10, bytes_sent: 4 * 3 + 2 * 3 + 5 },
      { name: 'side', protocol: 'http', tls: false, address: '127.0.0.1', port: ports.side, unit: 'requests', requests_total: 2, requests_active: 0, local_replies: 0, bytes_received: 0, bytes_sent: 2 * 3 },
    ]);

    const [api, web] = s.clusters;
    expect(api).toMatchObject({
      name: 'api',
      protocol: 'http1',
      lb_policy: 'round-robin',
      requests_total: 4,
      requests_by_class: { none: 0, '1xx': 0, '2xx': 4, '3xx': 0, '4xx': 0, '5xx': 0 },
      requests_active: 0,
      requests_pending: 0,
      retries_total: 0,
      retries_active: 0,
      limits: { max_connections: 55, max_pending_requests: 9, max_requests: 77, max_retries: 2 },
      breaker_rejections: { max_connections: 0, max_pending_requests: 0, max_requests: 0, max_retries: 0, failure_rate: 0 },
      ejected_endpoints: 0,
      outlier_ejections_total: 0,
    });
    expect(web).toMatchObject({
      name: 'web',
      protocol: 'http1',
      lb_policy: 'least-request',
      requests_total: 5,
      requests_by_class: { none: 0, '1xx': 0, '2xx': 4, '3xx': 0, '4xx': 0, '5xx': 1 },
      limits: { max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3 },
    });

    // Weighted round robin: 1 of every 4 requests to the first endpoint.
    expect(api!.endpoints.map((e) => [e.port, e.zone, e.weight, e.requests_total, e.health.active, e.health.passive, e.failure_breaker])).toEqual([
      [ports.api1, HOSTILE_ZONE, 1, 1, 'healthy', 'ok', null],
      [ports.api2, '', 3, 3, 'healthy', 'ok', null],
    ]);
    expect(web!.endpoints).toHaveLength(1);
    expect(web!.endpoints[0]).toMatchObject({
      address: '127.0.0.1',
      port: ports.web,
      state: 'active',
      weight: 1,
      effective_weight: 1,
      health: { active: 'unchecked', passive: 'ok', ejected: false, ejected_until: null, ejection_remaining_ms: 0, times_ejected: 0 },
      active_requests: 0,
      failure_breaker: 'closed',
      requests_total: 5,
      connect_failures_total: 0,
    });
    // /stats lists the same endpoints as /clusters.
    const clusters = (await (await fetch(`${pillion.adminUrl}/clusters`)).json()) as { endpoints: unknown[] }[];
    const ignoreTimes = (e: unknown) => ({ ...(e as object), health: { ...(e as { health: object }).health, ejection_remaining_ms: 0 } });
    expect(clusters.map((c) => c.endpoints.map(ignoreTimes))).toEqual(s.clusters.map((c) => c.endpoints.map(ignoreTimes)));
  });
});

describe('GET /', () => {
  it('serves one self-contained page with the same data, every value escaped', async () => {
    await settledStats();
    const r = await fetch(`${pillion.adminUrl}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(r.headers.get('content-security-policy')).toMatch(/^default-src 'none'; script-src 'sha256-[^']+'; style-src 'sha256-[^']+'; connect-src 'self';/);
    const html = await r.text();
    // Nothing loaded from elsewhere: no src= or href= but the empty inline icon.
    expect(html.match(/\s(src|href)="[^"]*"/g)).toEqual([' href="data:,"']);
    for (const name of ['front', 'side']) expect(html).toContain(`<tr data-listener="${name}">`);
    for (const name of ['api', 'web']) expect(html).toContain(`<article class="cluster" data-cluster="${name}">`);
    expect(html).toContain(`<tr data-endpoint="127.0.0.1:${ports.api1}">`);
    expect(html).toContain(`<tr data-endpoint="127.0.0.1:${ports.web}">`);
    expect(html).toContain('<td data-field="active-health"><span class="badge ok">healthy</span></td>');
    expect(html).toContain('<td data-field="breaker"><span class="badge ok">closed</span></td>');
    expect(html).toContain('<td data-field="zone">z&lt;b id=&quot;injected&quot;&gt;&amp;&#39;&quot;&lt;/b&gt;</td>');
    expect(html).not.toContain('id="injected"');
    expect(html).not.toContain('<b ');
  });
});
