/**
 * Timeouts and limits end to end: a slow upstream gets 504, an unreachable one 503, a body over the
 * limit 413 (by Content-Length up front, or mid-stream for chunked bodies); the access log has a line per
 * request with what an operator needs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Server } from 'node:http';
import { freePorts } from '../helpers/ports.js';
import { metric, metricSum, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { rawRequest } from '../helpers/raw.js';
import { closeServer, startUpstream } from '../helpers/upstreams.js';
import { waitFor } from '../helpers/wait-for.js';

let pillion: PillionProcess;
let upstream: Server;
let listen: number;
let base: string;

beforeAll(async () => {
  const [up, dead, l, admin] = await freePorts(4);
  listen = l!;
  upstream = await startUpstream('u', up!);
  pillion = await startPillion({
    workers: 1,
    admin: { port: admin },
    listeners: [
      {
        name: 'web',
        protocol: 'http',
        port: listen,
        limits: { max_request_body_bytes: 1000 },
        routes: [
          { match: { prefix: '/slow' }, cluster: 'live', timeout: '300ms' },
          { match: { prefix: '/dead' }, cluster: 'dead' },
          { match: { prefix: '/' }, cluster: 'live' },
        ],
      },
    ],
    clusters: [
      { name: 'live', endpoints: [{ address: '127.0.0.1', port: up }] },
      { name: 'dead', endpoints: [{ address: '127.0.0.1', port: dead }], connect_timeout: '500ms' },
    ],
  });
  base = `http://127.0.0.1:${listen}`;
});

afterAll(async () => {
  await pillion?.stop();
  await closeServer(upstream);
});

describe('timeouts', () => {
  it('answers 504 when the route timeout passes before the upstream answers', async () => {
    const t0 = Date.now();
    const r = await fetch(`${base}/slow?ms=3000`);
    expect(r.status).toBe(504);
    expect(r.headers.get('server')).toBe('pillion');
    expect(await r.text()).toBe('upstream timeout\n');
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(metric(await pillion.metrics(), 'pillion_upstream_timeouts_total', { cluster: 'live' })).toBe(1);
  });

  it('answers 503 when no endpoint accepts a connection', async () => {
    const r = await fetch(`${base}/dead`);
    expect(r.status).toBe(503);
    expect(await r.text()).toMatch(/^no healthy upstream: upstream connect failure/);
    const m = await pillion.metrics();
    const failures = metric(m, 'pillion_upstream_connect_failures_total', { cluster: 'dead' })!;
    expect(failures).toBeGreaterThanOrEqual(1);
    // The endpoint that refused is named, with every failure the cluster counted.
    expect(metricSum(m, 'pillion_endpoint_connect_failures_total', { cluster: 'dead' })).toBe(failures);
    const clusters = (await (await fetch(`${pillion.adminUrl}/clusters`)).json()) as { name: string; endpoints: { connect_failures_total: number }[] }[];
    expect(clusters.find((c) => c.name === 'dead')!.endpoints[0]!.connect_failures_total).toBe(failures);
  });
});

describe('body limit', () => {
  it('answers 413 up front when Content-Length is over the limit', async () => {
    const r = await rawRequest(listen, `POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n${'x'.repeat(1001)}`);
    expect(r.status).toBe(413);
    expect(r.closedByPeer).toBe(true);
  });

  it('answers 413 when a chunked body grows past the limit', async () => {
    const chunk = 'x'.repeat(600);
    const r = await rawRequest(listen, [`POST /slow?ms=500 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n`, `258\r\n${chunk}\r\n`, `258\r\n${chunk}\r\n0\r\n\r\n`]);
    expect(r.status).toBe(413);
  });

  it('passes a body at the limit', async () => {
    const r = await fetch(`${base}/echo`, { method: 'POST', body: 'y'.repeat(1000) });
    expect(r.status).toBe(200);
    expect((await r.text()).length).toBe(1000);
  });
});

describe('access log', () => {
  it('writes one JSON line per request with method, path, status, upstream, timing and bytes', async () => {
    await fetch(`${base}/logged?q=1`, { headers: { 'x-request-id': 'log-me-1' } });
    const line = await waitFor(
      () =>
        pillion
          .output()
          .split('\n')
          .filter((l) => l.includes('"request_id":"log-me-1"'))
          .map((l) => JSON.parse(l) as Record<string, unknown>)[0],
      { timeoutMs: 3000, intervalMs: 50, message: 'the access-log line' },
    );
    expect(line).toMatchObject({ listener: 'web', method: 'GET', path: '/logged?q=1', status: 200, cluster: 'live', client: '127.0.0.1', bytes_in: 0 });
    expect(line.upstream).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(typeof line.duration_ms).toBe('number');
    expect(line.bytes_out).toBeGreaterThan(0);
  });
});
