/**
 * Load balancing as one process: two worker threads pick from the same SharedState, so round robin
 * alternates exactly across requests that land on different workers, least request sees requests in
 * flight on every worker, and a hash key maps to one endpoint whichever worker takes it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freshRequest, startControlledUpstream, startLoad, type ControlledUpstream } from '../helpers/controlled-upstream.js';
import { waitFor } from '../helpers/wait-for.js';

let pillion: PillionProcess;
let ups: ControlledUpstream[];
let base: string;

beforeAll(async () => {
  const [a, b, fast, slow, listen, admin] = await freePorts(6);
  ups = await Promise.all([
    startControlledUpstream('a', a!),
    startControlledUpstream('b', b!),
    startControlledUpstream('fast', fast!),
    startControlledUpstream('slow', slow!),
  ]);
  ups[3]!.delayMs = 60;
  const ep = (port: number) => ({ address: '127.0.0.1', port });
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
          { match: { prefix: '/rr' }, cluster: 'rr' },
          { match: { prefix: '/hash' }, cluster: 'hash' },
          { match: { prefix: '/slow-rr' }, cluster: 'slow-rr' },
          { match: { prefix: '/slow-lr' }, cluster: 'slow-lr' },
        ],
      },
    ],
    clusters: [
      { name: 'rr', endpoints: [ep(a!), ep(b!)] },
      { name: 'hash', endpoints: [ep(a!), ep(b!)], lb: { policy: 'maglev', hash_on: 'header:x-user' } },
      { name: 'slow-rr', endpoints: [ep(fast!), ep(slow!)] },
      { name: 'slow-lr', endpoints: [ep(fast!), ep(slow!)], lb: { policy: 'least-request' } },
    ],
  });
  base = `http://127.0.0.1:${listen}`;
});

afterAll(async () => {
  expect(await pillion?.stop()).toBe(0);
  await Promise.all((ups ?? []).map((u) => u.stop()));
});

function perWorker(text: string): number[] {
  return [0, 1].map((w) => metric(text, 'pillion_worker_requests_total', { worker: String(w) }) ?? 0);
}

describe('one balancer for the whole process', () => {
  it('global round robin strictly alternates over fresh connections spread across both workers', async () => {
    const before = perWorker(await pillion.metrics());
    const seen: string[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await freshRequest(`${base}/rr`);
      expect(r.status).toBe(200);
      seen.push(r.upstream);
    }
    const after = perWorker(await pillion.metrics());
    // Both workers took some of the requests...
    expect(after[0]! - before[0]!).toBeGreaterThan(0);
    expect(after[1]! - before[1]!).toBeGreaterThan(0);
    // ...and still the endpoints alternate exactly.
    for (let i = 1; i < seen.length; i++) expect(seen[i]).not.toBe(seen[i - 1]);
    expect(seen.filter((u) => u === 'a').length).toBe(20);
  });

  it('least request sends a slow endpoint clearly fewer requests than round robin does', async () => {
    const share = async (path: string) => {
      const load = startLoad(`${base}${path}`, 6);
      await waitFor(() => load.result.upstreams.length >= 200, { timeoutMs: 10_000, message: `200 answers on ${path}` });
      const r = await load.stop();
      expect(r.failures).toEqual([]);
      return r.upstreams.filter((u) => u === 'slow').length / r.upstreams.length;
    };
    const rr = await share('/slow-rr');
    const lr = await share('/slow-lr');
    expect(rr).toBeGreaterThan(0.4);
    expect(lr).toBeLessThan(rr / 2);
  });

  it('a hash key goes to the same endpoint whichever worker takes the request', async () => {
    for (const user of ['alice', 'bob', 'carol', 'dave']) {
      const first = await freshRequest(`${base}/hash`, { 'x-user': user });
      for (let i = 0; i < 5; i++) expect((await freshRequest(`${base}/hash`, { 'x-user': user })).upstream).toBe(first.upstream);
    }
  });
});
