/**
 * Endpoints and weights changed at run time through the admin API: replacing a cluster's endpoints
 * under load loses no request, a removed endpoint finishes what it has before its slot is freed, and
 * a weight change shows in the very next requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freshRequest, startControlledUpstream, startLoad, type ControlledUpstream, type LoadResult } from '../helpers/controlled-upstream.js';
import { waitFor } from '../helpers/wait-for.js';

let pillion: PillionProcess;
let ups: ControlledUpstream[];
let base: string;
const ep = (u: ControlledUpstream, extra: Record<string, unknown> = {}) => ({ address: '127.0.0.1', port: u.port, ...extra });

beforeAll(async () => {
  const ports = await freePorts(7);
  ups = await Promise.all(['a', 'b', 'c', 'd', 'slow'].map((n, i) => startControlledUpstream(n, ports[i]!)));
  ups[4]!.delayMs = 700;
  const [a, b, , , slow] = ups;
  pillion = await startPillion({
    workers: 2,
    admin: { port: ports[6]! },
    access_log: { enabled: false },
    listeners: [
      {
        name: 'web',
        protocol: 'http',
        port: ports[5],
        routes: [
          { match: { prefix: '/drain' }, cluster: 'drain' },
          { match: { prefix: '/w' }, cluster: 'weighted' },
          { match: { prefix: '/' }, cluster: 'api' },
        ],
      },
    ],
    clusters: [
      { name: 'api', endpoints: [ep(a!), ep(b!)] },
      { name: 'drain', endpoints: [ep(slow!)] },
      { name: 'weighted', endpoints: [ep(a!), ep(b!)] },
    ],
  });
  base = `http://127.0.0.1:${ports[5]}`;
});

afterAll(async () => {
  expect(await pillion?.stop()).toBe(0);
  await Promise.all((ups ?? []).map((u) => u.stop()));
});

function admin(method: string, path: string, body: unknown): Promise<{ status: number; json: any }> {
  return fetch(`${pillion.adminUrl}${path}`, { method, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }).then(async (r) => ({
    status: r.status,
    json: await r.json(),
  }));
}

/** Whether the last `n` answers of a load all came from `upstreams`: the change reached every worker the load talks to. */
function settledOn(load: LoadResult, upstreams: string[], n = 20): boolean {
  const tail = load.upstreams.slice(-n);
  return tail.length === n && tail.every((u) => upstreams.includes(u));
}

async function clusterView(name: string): Promise<any> {
  const clusters = (await (await fetch(`${pillion.adminUrl}/clusters`)).json()) as any[];
  return clusters.find((c) => c.name === name);
}

describe('PUT /clusters/NAME/endpoints', () => {
  it('replaces endpoints under load without losing a request', async () => {
    const [a, b, c, d] = ups;
    const load = startLoad(`${base}/`, 4);
    await waitFor(() => settledOn(load.result, ['a', 'b']), { message: 'the load to be under way' });
    expect((await admin('PUT', '/clusters/api/endpoints', [ep(c!), ep(d!)])).status).toBe(200);
    await waitFor(() => settledOn(load.result, ['c', 'd']), { message: 'the load to move to c and d' });
    const mark = load.result.upstreams.length;
    await waitFor(() => load.result.upstreams.length >= mark + 40, { message: '40 more answers' });
    expect(new Set(load.result.upstreams.slice(mark))).toEqual(new Set(['c', 'd']));
    expect((await admin('PUT', '/clusters/api/endpoints', [ep(a!), ep(c!)])).status).toBe(200);
    await waitFor(() => settledOn(load.result, ['a', 'c']), { message: 'the load to move to a and c' });
    const mark2 = load.result.upstreams.length;
    await waitFor(() => load.result.upstreams.length >= mark2 + 40, { message: '40 more answers' });
    const r = await load.stop();
    expect(r.failures).toEqual([]);
    expect(r.ok).toBeGreaterThan(100);
    expect(new Set(r.upstreams.slice(mark2))).toEqual(new Set(['a', 'c']));
    // Removed endpoints stay listed (draining) until the sweeper frees their slots.
    await waitFor(async () => (await clusterView('api')).endpoints.length === 2, { message: 'the removed endpoints to leave /clusters' });
    expect((await clusterView('api')).endpoints.map((e: any) => e.port).sort()).toEqual([a!.port, c!.port].sort());
    expect(((await (await fetch(`${pillion.adminUrl}/config`)).json()) as any).clusters[0].endpoints.map((e: any) => e.port)).toEqual([a!.port, c!.port]);
    void b;
  });

  it('lets a removed endpoint finish its request, then frees its slot', async () => {
    const [, , c, , slow] = ups;
    const inFlight = freshRequest(`${base}/drain`);
    await waitFor(() => slow!.requests > 0, { timeoutMs: 2000, message: 'the request to reach the slow endpoint' });
    expect((await admin('PUT', '/clusters/drain/endpoints', [ep(c!)])).status).toBe(200);
    const during = await clusterView('drain');
    const old = during.endpoints.find((e: any) => e.port === slow!.port);
    expect(old.state).toBe('draining');
    expect(old.active_requests).toBe(1);
    // New requests go to the new endpoint while the old one finishes.
    expect((await freshRequest(`${base}/drain`)).upstream).toBe('c');
    expect(await inFlight).toEqual({ status: 200, upstream: 'slow' });
    await waitFor(async () => (await clusterView('drain')).endpoints.length === 1, { timeoutMs: 3000, message: 'the drained endpoint to leave the cluster' });
    expect(pillion.output()).toContain('removed endpoint drained; slot freed');
  });

  it('refuses bad bodies with the path of each problem', async () => {
    const r = await admin('PUT', '/clusters/api/endpoints', [{ address: '127.0.0.1', port: 70000 }, { port: 1 }]);
    expect(r.status).toBe(400);
    expect(r.json.problems).toEqual([
      { path: '[0].port', message: 'must be <= 65535' },
      { path: '[1].address', message: 'is required' },
    ]);
    expect((await admin('PUT', '/clusters/nope/endpoints', [])).status).toBe(404);
    const notJson = await fetch(`${pillion.adminUrl}/clusters/api/endpoints`, { method: 'PUT', body: '{' });
    expect(notJson.status).toBe(400);
  });
});

describe('POST /clusters/NAME/endpoints/ADDRESS:PORT/weight', () => {
  it('sets one weight, and the next requests follow it', async () => {
    const [a, b] = ups;
    const r = await admin('POST', `/clusters/weighted/endpoints/127.0.0.1:${a!.port}/weight`, { weight: 3 });
    expect(r.status).toBe(200);
    expect(r.json.weight).toBe(3);
    const seen: string[] = [];
    for (let i = 0; i < 40; i++) seen.push((await freshRequest(`${base}/w`)).upstream);
    expect(seen.filter((u) => u === 'a').length).toBe(30);
    const view = (await clusterView('weighted')).endpoints.find((e: any) => e.port === a!.port);
    expect(view.weight).toBe(3);
    expect(view.effective_weight).toBe(3);
    expect((await admin('POST', `/clusters/weighted/endpoints/127.0.0.1:${a!.port}/weight`, { weight: 0 })).status).toBe(400);
    expect((await admin('POST', `/clusters/weighted/endpoints/127.0.0.1:1/weight`, { weight: 2 })).status).toBe(404);
    const text = await pillion.metrics();
    expect(metric(text, 'pillion_endpoint_requests_total', { cluster: 'weighted', endpoint: `127.0.0.1:${b!.port}` })).toBe(10);
  });
});
