/**
 * What an operator gets without a `retry` or `outlier_detection` block: as reported, 20 of 40
 * requests failed with one of two endpoints on a closed port, although the README listed retry and
 * ejection defaults. Now a route retries a connect failure once by default, and a cluster ejects an
 * endpoint after 5 gateway failures in a row; `attempts: 0` and both consecutive rules at 0 turn
 * them off, which brings the failures back.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { freePorts } from '../helpers/ports.js';
import { metricSum, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { startRawUpstream } from '../helpers/raw.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function setup(extra: { route?: Record<string, unknown>; cluster?: Record<string, unknown> }): Promise<{ p: PillionProcess; url: string; closed: number }> {
  const [up, closed, listen, admin] = await freePorts(4);
  const u = await startRawUpstream(up!, (_head, socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
  cleanup.push(() => u.close());
  const p = await startPillion({
    workers: 2,
    admin: { port: admin! },
    listeners: [{ name: 'web', protocol: 'http', port: listen, routes: [{ match: { prefix: '/' }, cluster: 'api', ...extra.route }] }],
    clusters: [{ name: 'api', endpoints: [up, closed].map((port) => ({ address: '127.0.0.1', port })), ...extra.cluster }],
  });
  cleanup.push(() => p.stop('SIGKILL'));
  return { p, url: `http://127.0.0.1:${listen}/`, closed: closed! };
}

/** 40 sequential requests on one keep-alive connection: how many answered 200. */
async function fortyRequests(url: string): Promise<number> {
  const agent = new Agent({ connections: 1 });
  let ok = 0;
  for (let i = 0; i < 40; i++) {
    const r = await request(url, { dispatcher: agent });
    await r.body.text();
    if (r.statusCode === 200) ok++;
  }
  await agent.close();
  return ok;
}

type ClustersView = { name: string; endpoints: { port: number; health: { passive: string; ejected: boolean } }[] }[];

async function endpointHealth(p: PillionProcess, port: number) {
  const view = (await (await fetch(`${p.adminUrl}/clusters`)).json()) as ClustersView;
  return view.find((c) => c.name === 'api')!.endpoints.find((e) => e.port === port)!.health;
}

describe('defaults without retry and outlier_detection blocks', () => {
  it('answers every request: connect failures are retried, and the closed endpoint is ejected', async () => {
    const { p, url, closed } = await setup({});
    expect(await fortyRequests(url)).toBe(40);
    const m = await p.metrics();
    // Connect failures until the ejection; each one retried to the other endpoint.
    const failures = metricSum(m, 'pillion_upstream_connect_failures_total', { cluster: 'api' });
    expect(failures).toBeGreaterThanOrEqual(5);
    expect(failures).toBeLessThan(20);
    expect(metricSum(m, 'pillion_retries_total', { cluster: 'api' })).toBe(failures);
    expect(await endpointHealth(p, closed)).toMatchObject({ passive: 'ejected', ejected: true });
  });

  it('fails half the requests with both turned off', async () => {
    const { p, url, closed } = await setup({ route: { retry: { attempts: 0 } }, cluster: { outlier_detection: { consecutive_5xx: 0, consecutive_gateway_failure: 0 } } });
    expect(await fortyRequests(url)).toBe(20);
    expect(await endpointHealth(p, closed)).toMatchObject({ passive: 'unchecked', ejected: false });
  });
});
