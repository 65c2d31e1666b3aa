/**
 * Regression, as reported: two endpoints, the second answering 503 to everything, least-request,
 * outlier detection after 5 consecutive 5xx, retries on 503. The fifth 503 ejects the endpoint
 * between a request's first attempt and its retry; the retry used to walk on from the first
 * attempt's index into the old two-host set, read past the one-host set and kill the worker thread
 * (`Cannot read properties of undefined (reading 'slot') at ClusterBalancer.pick`), cutting every
 * request that thread held, the other cluster's too. Now every request is answered, sequential or
 * in parallel, while the endpoint is ejected, returns and is ejected again.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { freePorts } from '../helpers/ports.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { startRawUpstream, type RawUpstream } from '../helpers/raw.js';
import { waitFor } from '../helpers/wait-for.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function upstream(port: number, status: number, body: string): Promise<RawUpstream> {
  const reason = status === 200 ? 'OK' : 'Service Unavailable';
  const u = await startRawUpstream(port, (_head, socket) => {
    socket.write(`HTTP/1.1 ${status} ${reason}\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
  });
  cleanup.push(() => u.close());
  return u;
}

/** One request; its status, or what went wrong when no HTTP answer came (the empty reply of the report). */
async function get(agent: Agent, url: string): Promise<string> {
  try {
    const r = await request(url, { dispatcher: agent });
    const body = await r.body.text();
    return `${r.statusCode} ${body}`;
  } catch (e) {
    return `no answer: ${(e as Error).message}`;
  }
}

/** Runs `concurrency` request loops against `url` until `stop` is set; every outcome, in order. */
function loops(agent: Agent, url: string, concurrency: number, stop: { now: boolean }): Promise<string[]> {
  const out: string[] = [];
  const loop = async () => {
    while (!stop.now) out.push(await get(agent, url));
  };
  return Promise.all(Array.from({ length: concurrency }, loop)).then(() => out);
}

describe('a retry after the cluster shrank under the request', () => {
  it('answers every request and keeps every worker alive while the 503 endpoint is ejected and returns', async () => {
    const [good, bad, other, listen, admin] = await freePorts(5);
    await upstream(good!, 200, 'good');
    const failing = await upstream(bad!, 503, 'busy');
    await upstream(other!, 200, 'other');
    const retry = { attempts: 2, on: ['connect-failure', 'reset', '503'], backoff: { base: '1ms', max: '5ms' } };
    const p: PillionProcess = await startPillion({
      workers: 2,
      admin: { port: admin! },
      access_log: { enabled: false },
      listeners: [
        {
          name: 'web',
          protocol: 'http',
          port: listen,
          routes: [
            { match: { prefix: '/other' }, cluster: 'other' },
            { match: { prefix: '/' }, cluster: 'c', retry },
          ],
        },
      ],
      clusters: [
        {
          name: 'c',
          // The failing endpoint second: its index, 1, is past the end of the set left after its ejection.
          endpoints: [
            { address: '127.0.0.1', port: good },
            { address: '127.0.0.1', port: bad },
          ],
          lb: { policy: 'least-request' },
          // Short ejections, so the parallel phase sees the endpoint come back and be ejected again.
          outlier_detection: { consecutive_5xx: 5, base_ejection_time: '150ms', max_ejection_time: '150ms' },
        },
        { name: 'other', endpoints: [{ address: '127.0.0.1', port: other }] },
      ],
    });
    cleanup.push(() => p.stop());
    const ejections = async () => metric(await p.metrics(), 'pillion_outlier_ejections_total', { cluster: 'c' }) ?? 0;
    const answered = (r: string) => r.startsWith('200 ') || r.startsWith('503 ');

    // The other cluster's traffic runs in parallel throughout: a dying thread would cut some of it.
    const stopOther = { now: false };
    const otherAgent = new Agent({ connections: 4 });
    const otherResults = loops(otherAgent, `http://127.0.0.1:${listen}/other`, 4, stopOther);
    cleanup.push(async () => {
      stopOther.now = true;
      await otherResults;
      await otherAgent.close();
    });

    // Sequential, like the report's curls, each on its own connection, until the first ejection and 10 more.
    const sequential: string[] = [];
    let after = -1;
    for (let i = 0; i < 300 && after < 10; i++) {
      const agent = new Agent({ pipelining: 0 });
      sequential.push(await get(agent, `http://127.0.0.1:${listen}/seq-${i}`));
      await agent.close();
      if (after >= 0) after++;
      else if ((await ejections()) >= 1) after = 0;
    }

    // Parallel, until the endpoint has come back and been ejected twice more under load.
    const stop = { now: false };
    const agent = new Agent({ connections: 8 });
    const parallel = loops(agent, `http://127.0.0.1:${listen}/par`, 8, stop);
    const ejectedAgain = await waitFor(async () => (await ejections()) >= 3, { timeoutMs: 20_000, intervalMs: 25 }).then(
      () => true,
      () => false,
    );
    stop.now = true;
    const parallelResults = await parallel;
    stopOther.now = true;
    const others = await otherResults;
    await agent.close();

    expect(p.output().split('\n').filter((line) => line.includes('worker thread failed'))).toEqual([]);
    expect(after, 'the failing endpoint was never ejected').toBe(10);
    expect(sequential.filter((r) => !answered(r))).toEqual([]);
    expect(ejectedAgain, 'the endpoint was not ejected again under parallel load').toBe(true);
    expect(failing.requests.length).toBeGreaterThanOrEqual(15);
    expect(parallelResults.length).toBeGreaterThan(0);
    expect(parallelResults.filter((r) => !answered(r))).toEqual([]);
    expect(others.length).toBeGreaterThan(0);
    expect(others.filter((r) => r !== '200 other')).toEqual([]);
  });
});
