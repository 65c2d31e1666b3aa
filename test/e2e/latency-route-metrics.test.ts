/**
 * The per-cluster latency, per-route, per-endpoint and retry-reason series end to end, with known
 * traffic: three requests on route "a" to cluster A (the first answered 503, retried, then 200), two
 * on an unnamed route (so "route-1") to cluster B, and one no route matches. Then a reload that
 * reorders the routes: a named route keeps its series, a new name starts its own.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metric, metricSum, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freePorts } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait-for.js';

let pillion: PillionProcess;
let listen: number;
let portA: number;
let portB: number;
const servers: Server[] = [];
let hitsA = 0;
let config: Record<string, unknown>;

async function httpServer(port: number, handler: Parameters<typeof createServer>[1]): Promise<void> {
  const s = createServer(handler);
  await new Promise<void>((r) => s.listen(port, '127.0.0.1', () => r()));
  servers.push(s);
}

beforeAll(async () => {
  const ports = await freePorts(4);
  [portA, portB, listen] = [ports[0]!, ports[1]!, ports[2]!];
  await httpServer(portA, (_req, res) => {
    res.statusCode = ++hitsA === 1 ? 503 : 200;
    res.end('a');
  });
  await httpServer(portB, (_req, res) => res.end('b'));
  config = {
    workers: 2,
    admin: { port: ports[3]! },
    access_log: { enabled: false },
    listeners: [
      {
        name: 'web',
        protocol: 'http',
        port: listen,
        routes: [
          { name: 'a', match: { prefix: '/a' }, cluster: 'A', retry: { attempts: 1, on: ['503'], backoff: { base: '1ms', max: '2ms' } } },
          { match: { prefix: '/b' }, cluster: 'B' },
        ],
      },
    ],
    clusters: [
      { name: 'A', endpoints: [{ address: '127.0.0.1', port: portA }] },
      { name: 'B', endpoints: [{ address: '127.0.0.1', port: portB }] },
    ],
  };
  pillion = await startPillion(config as { admin: { port: number } });
});

afterAll(async () => {
  await pillion?.stop();
  for (const s of servers) await new Promise((r) => (s.closeAllConnections(), s.close(r)));
});

describe('latency, route, endpoint and retry-reason metrics', () => {
  it('count known traffic exactly', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`http://127.0.0.1:${listen}/a/${i}`);
      expect(r.status).toBe(200);
      await r.text();
    }
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`http://127.0.0.1:${listen}/b?id=${i}`);
      expect(r.status).toBe(200);
      await r.text();
    }
    const unrouted = await fetch(`http://127.0.0.1:${listen}/nowhere`);
    expect(unrouted.status).toBe(404);
    await unrouted.text();
    expect(hitsA).toBe(4);

    const text = await waitFor(
      async () => {
        const t = await pillion.metrics();
        return metric(t, 'pillion_requests_total', { listener: 'web', cluster: '', code_class: '4xx' }) === 1 && metricSum(t, 'pillion_route_requests_total') === 5 && t;
      },
      { message: 'all six requests to be counted' },
    );
    // Per route: names from the config, `route-N` for an unnamed one; the unrouted 404 is in neither.
    expect(metric(text, 'pillion_route_requests_total', { listener: 'web', route: 'a', code_class: '2xx' })).toBe(3);
    expect(metric(text, 'pillion_route_requests_total', { listener: 'web', route: 'route-1', code_class: '2xx' })).toBe(2);
    expect(metricSum(text, 'pillion_route_requests_total', { code_class: '5xx' })).toBe(0);
    expect(metric(text, 'pillion_route_request_duration_seconds_count', { listener: 'web', route: 'a' })).toBe(3);
    expect(metric(text, 'pillion_route_request_duration_seconds_bucket', { listener: 'web', route: 'a', le: '+Inf' })).toBe(3);
    expect(metric(text, 'pillion_route_request_duration_seconds_count', { listener: 'web', route: 'route-1' })).toBe(2);

    // Per cluster: every attempt that got a head (the retried 503 too) has a first-byte time; only
    // relayed, completed responses a total; every attempt handed a connection a pool wait.
    expect(metric(text, 'pillion_upstream_first_byte_seconds_count', { cluster: 'A' })).toBe(4);
    expect(metric(text, 'pillion_upstream_first_byte_seconds_bucket', { cluster: 'A', le: '+Inf' })).toBe(4);
    expect(metric(text, 'pillion_upstream_request_duration_seconds_count', { cluster: 'A' })).toBe(3);
    expect(metric(text, 'pillion_upstream_pool_wait_seconds_count', { cluster: 'A' })).toBe(4);
    expect(metric(text, 'pillion_upstream_first_byte_seconds_count', { cluster: 'B' })).toBe(2);
    expect(metric(text, 'pillion_upstream_request_duration_seconds_count', { cluster: 'B' })).toBe(2);
    expect(metric(text, 'pillion_upstream_pool_wait_seconds_count', { cluster: 'B' })).toBe(2);
    // Buckets are cumulative and end at the count.
    const firstByteA = [...text.matchAll(/^pillion_upstream_first_byte_seconds_bucket\{[^}]*cluster="A"[^}]*\} (\S+)$/gm)].map((m) => Number(m[1]));
    expect(firstByteA.length).toBe(16);
    expect(firstByteA).toEqual([...firstByteA].sort((x, y) => x - y));
    expect(firstByteA.at(-1)).toBe(4);

    // Per endpoint: attempts by response class.
    const a = `127.0.0.1:${portA}`;
    const b = `127.0.0.1:${portB}`;
    expect(metric(text, 'pillion_endpoint_responses_total', { cluster: 'A', endpoint: a, code_class: '2xx' })).toBe(3);
    expect(metric(text, 'pillion_endpoint_responses_total', { cluster: 'A', endpoint: a, code_class: '5xx' })).toBe(1);
    expect(metric(text, 'pillion_endpoint_responses_total', { cluster: 'B', endpoint: b, code_class: '2xx' })).toBe(2);
    expect(metricSum(text, 'pillion_endpoint_responses_total', { code_class: 'none' })).toBe(0);

    // Retries by reason add up to retries_total.
    expect(metric(text, 'pillion_retries_by_reason_total', { cluster: 'A', reason: 'status' })).toBe(1);
    expect(metricSum(text, 'pillion_retries_by_reason_total', { cluster: 'A' })).toBe(1);
    expect(metric(text, 'pillion_retries_total', { cluster: 'A' })).toBe(1);
    expect(metricSum(text, 'pillion_retries_by_reason_total', { cluster: 'B' })).toBe(0);
    for (const reason of ['connect-failure', 'reset', 'refused', 'timeout', 'status', 'grpc-status']) {
      expect(metric(text, 'pillion_retries_by_reason_total', { cluster: 'B', reason })).toBe(0);
    }
  });

  it('keep a named route\'s series across a reload that reorders the routes; a new name starts at zero', async () => {
    const before = await pillion.metrics();
    const aBefore = metric(before, 'pillion_route_requests_total', { listener: 'web', route: 'a', code_class: '2xx' })!;
    const listener = (config.listeners as Record<string, unknown>[])[0]!;
    // /b now goes to cluster A (its answers say "a") on an unnamed first route: "route-0"; "a" moves to index 1.
    const next = {
      ...config,
      listeners: [{ ...listener, routes: [{ match: { prefix: '/b' }, cluster: 'A' }, (listener.routes as unknown[])[0]] }],
    };
    const args = pillion.child.spawnargs;
    writeFileSync(args[args.indexOf('--config') + 1]!, JSON.stringify(next));
    pillion.child.kill('SIGHUP');
    // Until every worker runs the new config a /b request may still take the old route: count both.
    let oldRoute = 0;
    let newRoute = 0;
    await waitFor(
      async () => {
        const body = await (await fetch(`http://127.0.0.1:${listen}/b`)).text();
        if (body === 'a') newRoute++;
        else oldRoute++;
        return body === 'a' && newRoute >= 1;
      },
      { message: 'a /b request served by the reloaded route' },
    );
    const r = await fetch(`http://127.0.0.1:${listen}/a/after`);
    expect(r.status).toBe(200);
    await r.text();
    const text = await waitFor(
      async () => {
        const t = await pillion.metrics();
        const counted =
          metric(t, 'pillion_route_requests_total', { listener: 'web', route: 'a', code_class: '2xx' }) === aBefore + 1 &&
          metric(t, 'pillion_route_requests_total', { listener: 'web', route: 'route-0', code_class: '2xx' }) === newRoute &&
          metricSum(t, 'pillion_requests_total', { listener: 'web', cluster: 'B' }) === 2 + oldRoute;
        return counted && t;
      },
      { message: 'the requests after the reload to be counted' },
    );
    expect(aBefore).toBe(3);
    expect(metric(text, 'pillion_route_requests_total', { listener: 'web', route: 'route-0', code_class: '2xx' })).toBe(newRoute);
    expect(metric(text, 'pillion_route_request_duration_seconds_count', { listener: 'web', route: 'a' })).toBe(4);
    // "route-1" is no longer in the config: its series is gone (its slot stays reserved for the name).
    expect(metric(text, 'pillion_route_requests_total', { listener: 'web', route: 'route-1' })).toBeUndefined();
    expect(metricSum(text, 'pillion_requests_total', { listener: 'web', cluster: 'B' })).toBe(2 + oldRoute);
  });
});
