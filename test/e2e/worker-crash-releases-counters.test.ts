/**
 * A worker thread that dies gives back the shared counters it held: its upstream connections (closed
 * with it) and its requests in flight stop counting for the cluster and the endpoint, so the breakers
 * and /clusters see what is really open. Before, every connection of the dead thread's pool stayed
 * in `upstream_connections_active` and the endpoint's `active_connections` for good. The crash comes
 * from the test-only fault switch (PILLION_TEST_FAULTS=1).
 */
import type { Server } from 'node:http';
import { Agent, request } from 'undici';
import { afterAll, expect, it } from 'vitest';
import { simpleConfig } from '../helpers/configs.js';
import { metric, startPillion } from '../helpers/pillion.js';
import { freePorts } from '../helpers/ports.js';
import { closeServer, startUpstream } from '../helpers/upstreams.js';
import { waitFor } from '../helpers/wait-for.js';

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup) await c();
});

const openConnections = (s: Server) => new Promise<number>((resolve, reject) => s.getConnections((err, n) => (err ? reject(err) : resolve(n))));

/** One request on a connection of its own, so the kernel spreads them over both threads. */
async function once(url: string): Promise<number | string> {
  const agent = new Agent({ pipelining: 0 });
  try {
    const r = await request(url, { dispatcher: agent });
    await r.body.text();
    return r.statusCode;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await agent.destroy();
  }
}

it('releases the connections and requests of a worker thread that died', async () => {
  const [up, listen, admin] = await freePorts(3);
  const server = await startUpstream('u', up!);
  cleanup.push(() => closeServer(server));
  const pillion = await startPillion(simpleConfig({ listen: listen!, admin: admin!, upstreams: [up!], workers: 2 }), { env: { PILLION_TEST_FAULTS: '1' } });
  cleanup.push(async () => void (await pillion.stop('SIGKILL')));
  const base = `http://127.0.0.1:${listen}`;
  const clusterView = async () => {
    const body = (await (await fetch(`${pillion.adminUrl}/clusters`)).json()) as { active_requests: number; active_connections: number; endpoints: { active_requests: number; active_connections: number }[] }[];
    return body[0]!;
  };

  // Slow requests on both threads keep a connection each busy in both pools when the thread dies.
  const slow = Array.from({ length: 30 }, () => once(`${base}/slow?ms=1500`));
  await waitFor(async () => metric(await pillion.metrics(), 'pillion_upstream_requests_active', { cluster: 'c' }) === 30, { timeoutMs: 10_000, message: '30 requests in flight' });

  expect((await fetch(`${pillion.adminUrl}/debug/crash-worker?thread=0`, { method: 'POST' })).status).toBe(202);
  let sawOne = false;
  await waitFor(
    async () => {
      const n = metric(await pillion.metrics(), 'pillion_workers');
      if (n === 1) sawOne = true;
      return sawOne && n === 2;
    },
    { timeoutMs: 15_000, message: 'the worker to die and be replaced' },
  );
  const outcomes = await Promise.all(slow);
  // The requests of the thread that died were lost with it; the other thread's were answered.
  const answered = outcomes.filter((o) => o === 200).length;
  expect(answered).toBeGreaterThan(0);
  expect(answered).toBeLessThan(30);

  // Nothing is in flight now; the counters must say so, and count only the connections still open.
  await waitFor(
    async () => {
      const text = await pillion.metrics();
      const view = await clusterView();
      const open = await openConnections(server);
      return (
        metric(text, 'pillion_upstream_requests_active', { cluster: 'c' }) === 0 &&
        metric(text, 'pillion_upstream_connections_active', { cluster: 'c' }) === open &&
        view.active_requests === 0 &&
        view.active_connections === open &&
        view.endpoints[0]!.active_requests === 0 &&
        view.endpoints[0]!.active_connections === open
      );
    },
    { timeoutMs: 5000, message: 'the shared counters to match the connections really open' },
  );
  expect(pillion.output()).toContain('released the shared counters the dead worker thread held');
  expect(await once(`${base}/`)).toBe(200);
  expect(await pillion.stop()).toBe(0);
});
