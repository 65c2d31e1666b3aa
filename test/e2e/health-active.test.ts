/**
 * Active health checks, run once by the supervisor, seen by both workers at once: an endpoint that
 * dies is taken out within interval x unhealthy_threshold (plus slack) and comes back when it
 * recovers; an HTTP check fails on an unexpected status too.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freshRequest, startControlledUpstream, type ControlledUpstream } from '../helpers/controlled-upstream.js';
import { waitFor } from '../helpers/wait-for.js';

const INTERVAL = 100;
const THRESHOLD = 2;
/** Scheduling on a busy 2-core machine, the check's own time, and the polling of /clusters. */
const SLACK = 1200;

let pillion: PillionProcess;
let a: ControlledUpstream;
let b: ControlledUpstream;
let base: string;

beforeAll(async () => {
  const [pa, pb, listen, admin] = await freePorts(4);
  [a, b] = await Promise.all([startControlledUpstream('a', pa!), startControlledUpstream('b', pb!)]);
  const endpoints = [{ address: '127.0.0.1', port: pa }, { address: '127.0.0.1', port: pb }];
  const timing = { interval: `${INTERVAL}ms`, timeout: '200ms', healthy_threshold: THRESHOLD, unhealthy_threshold: THRESHOLD };
  pillion = await startPillion({
    workers: 2,
    admin: { port: admin! },
    access_log: { enabled: false },
    listeners: [{ name: 'web', protocol: 'http', port: listen, routes: [{ match: { prefix: '/tcp' }, cluster: 'tcp' }, { match: { prefix: '/' }, cluster: 'http' }] }],
    clusters: [
      { name: 'http', endpoints, health_check: { http: { path: '/health' }, ...timing } },
      { name: 'tcp', endpoints, health_check: { tcp: {}, ...timing } },
    ],
  });
  base = `http://127.0.0.1:${listen}`;
});

afterAll(async () => {
  expect(await pillion?.stop()).toBe(0);
  await Promise.all([a?.stop(), b?.stop()]);
});

async function activeHealth(cluster: string, port: number): Promise<string> {
  const clusters = (await (await fetch(`${pillion.adminUrl}/clusters`)).json()) as any[];
  return clusters.find((c) => c.name === cluster).endpoints.find((e: any) => e.port === port).health.active;
}

async function upstreamsOf(path: string, n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const r = await freshRequest(`${base}${path}`);
    expect(r.status).toBe(200);
    seen.add(r.upstream);
  }
  return seen;
}

it('is ready only after the first checks, with every endpoint healthy', async () => {
  expect(await activeHealth('http', a.port)).toBe('healthy');
  expect(await activeHealth('tcp', b.port)).toBe('healthy');
  expect(await upstreamsOf('/', 6)).toEqual(new Set(['a', 'b']));
});

it('takes a dead endpoint out within interval x threshold and brings it back when it recovers', async () => {
  await b.stop();
  const stoppedAt = performance.now();
  await waitFor(async () => (await activeHealth('http', b.port)) === 'unhealthy' && (await activeHealth('tcp', b.port)) === 'unhealthy', { message: 'b to turn unhealthy in both clusters' });
  expect(performance.now() - stoppedAt).toBeLessThan(INTERVAL * THRESHOLD + SLACK);
  // Every worker stopped using it at once: no request fails, all go to a.
  expect(await upstreamsOf('/', 10)).toEqual(new Set(['a']));
  expect(await upstreamsOf('/tcp', 6)).toEqual(new Set(['a']));
  const text = await pillion.metrics();
  expect(metric(text, 'pillion_endpoint_healthy', { cluster: 'http', endpoint: `127.0.0.1:${b.port}` })).toBe(0);
  expect(metric(text, 'pillion_endpoint_healthy', { cluster: 'http', endpoint: `127.0.0.1:${a.port}` })).toBe(1);
  expect(pillion.output()).toContain('endpoint failed health checks');

  await b.start();
  const startedAt = performance.now();
  await waitFor(async () => (await activeHealth('http', b.port)) === 'healthy' && (await activeHealth('tcp', b.port)) === 'healthy', { message: 'b to turn healthy in both clusters' });
  expect(performance.now() - startedAt).toBeLessThan(INTERVAL * THRESHOLD + SLACK);
  expect(await upstreamsOf('/', 6)).toEqual(new Set(['a', 'b']));
});

it('fails an http check on an unexpected status while the tcp check still passes', async () => {
  a.healthStatus = 503;
  await waitFor(async () => (await activeHealth('http', a.port)) === 'unhealthy', { message: 'a to fail its http check' });
  expect(await activeHealth('tcp', a.port)).toBe('healthy');
  expect(await upstreamsOf('/', 6)).toEqual(new Set(['b']));
  a.healthStatus = 200;
  await waitFor(async () => (await activeHealth('http', a.port)) === 'healthy', { message: 'a to pass its http check again' });
});
