/**
 * Passive outlier detection counted across workers: an endpoint answering 503 is ejected after
 * consecutive_5xx failures, whichever workers saw them, and returns by itself after the ejection time.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freshRequest, startControlledUpstream, type ControlledUpstream } from '../helpers/controlled-upstream.js';
import { waitFor } from '../helpers/wait-for.js';

const EJECTION_MS = 1000;

let pillion: PillionProcess;
let a: ControlledUpstream;
let b: ControlledUpstream;
let base: string;

beforeAll(async () => {
  const [pa, pb, listen, admin] = await freePorts(4);
  [a, b] = await Promise.all([startControlledUpstream('a', pa!), startControlledUpstream('b', pb!)]);
  pillion = await startPillion({
    workers: 2,
    admin: { port: admin! },
    access_log: { enabled: false },
    listeners: [{ name: 'web', protocol: 'http', port: listen, routes: [{ match: { prefix: '/' }, cluster: 'api' }] }],
    clusters: [
      {
        name: 'api',
        endpoints: [{ address: '127.0.0.1', port: pa }, { address: '127.0.0.1', port: pb }],
        outlier_detection: { consecutive_5xx: 3, base_ejection_time: `${EJECTION_MS}ms`, max_ejection_percent: 50 },
      },
    ],
  });
  base = `http://127.0.0.1:${listen}`;
});

afterAll(async () => {
  expect(await pillion?.stop()).toBe(0);
  await Promise.all([a?.stop(), b?.stop()]);
});

async function endpointView(port: number): Promise<any> {
  const clusters = (await (await fetch(`${pillion.adminUrl}/clusters`)).json()) as any[];
  return clusters[0].endpoints.find((e: any) => e.port === port);
}

it('ejects an endpoint answering 503 and takes it back after the ejection time', async () => {
  b.status = 503;
  // Round robin alternates, so b answers every other request; fresh connections spread them over both workers.
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await freshRequest(`${base}/`)).status);
  expect(statuses.filter((s) => s === 503).length).toBe(3);
  const ejectedAt = Date.now();

  const view = await endpointView(b.port);
  expect(view.health.passive).toBe('ejected');
  expect(view.health.ejected).toBe(true);
  expect(Date.parse(view.health.ejected_until)).toBeGreaterThan(Date.now());
  expect((await endpointView(a.port)).health.passive).toBe('ok');
  const text = await pillion.metrics();
  expect(metric(text, 'pillion_outlier_ejections_total', { cluster: 'api' })).toBe(1);
  expect(metric(text, 'pillion_endpoint_healthy', { cluster: 'api', endpoint: `127.0.0.1:${b.port}` })).toBe(0);

  // While ejected, every request goes to a, from both workers.
  for (let i = 0; i < 10; i++) expect(await freshRequest(`${base}/`)).toEqual({ status: 200, upstream: 'a' });

  b.status = 200;
  await waitFor(async () => (await freshRequest(`${base}/`)).upstream === 'b', { message: 'b to take requests again' });
  const elapsed = Date.now() - ejectedAt;
  expect(elapsed).toBeGreaterThanOrEqual(EJECTION_MS - 100);
  expect(elapsed).toBeLessThan(EJECTION_MS + 2000);
  expect((await endpointView(b.port)).health.passive).toBe('ok');
  expect(pillion.output()).toContain('endpoint ejected by outlier detection');
});
