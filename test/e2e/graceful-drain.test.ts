/**
 * SIGTERM while a request is in flight: /ready turns 503, the port stops accepting, the request
 * finishes with its full response, and the process exits 0.
 */
import { request } from 'node:http';
import { afterAll, expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { simpleConfig } from '../helpers/configs.js';
import { startPillion } from '../helpers/pillion.js';
import { closeServer, startUpstream } from '../helpers/upstreams.js';
import { waitFor } from '../helpers/wait-for.js';

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup) await c();
});

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

it('lets an in-flight request finish on SIGTERM, then exits 0', async () => {
  const [up, listen, admin] = await freePorts(3);
  const server = await startUpstream('slow', up!);
  cleanup.push(() => closeServer(server));
  let arrived = 0;
  server.on('request', () => arrived++);
  const pillion = await startPillion(simpleConfig({ listen: listen!, admin: admin!, upstreams: [up!], workers: 2, top: { drain_timeout: '10s' } }));
  cleanup.push(async () => void (await pillion.stop('SIGKILL')));

  const slow = get(`http://127.0.0.1:${listen}/slow?ms=1500`);
  await waitFor(() => arrived === 1, { message: 'the request to reach the upstream' });
  const t0 = Date.now();
  pillion.child.kill('SIGTERM');
  await waitFor(async () => (await fetch(`${pillion.adminUrl}/ready`)).status === 503, { timeoutMs: 3000, message: '/ready to turn 503' });
  // New connections are refused once the listeners closed (until then one may still be served).
  await waitFor(
    () => get(`http://127.0.0.1:${listen}/`).then(
      () => false,
      (e: Error) => /ECONNREFUSED|ECONNRESET|socket hang up/.test(e.message),
    ),
    { timeoutMs: 3000, message: 'new connections to be refused' },
  );

  const res = await slow;
  expect(res.status).toBe(200);
  expect(JSON.parse(res.body).upstream).toBe('slow');
  expect(await pillion.exited).toBe(0);
  expect(Date.now() - t0).toBeLessThan(8000);
  expect(pillion.output()).toContain('"msg":"drained"');
});

it('starts a drain from POST /drain', async () => {
  const [up, listen, admin] = await freePorts(3);
  const server = await startUpstream('u', up!);
  cleanup.push(() => closeServer(server));
  const pillion = await startPillion(simpleConfig({ listen: listen!, admin: admin!, upstreams: [up!], workers: 1 }));
  cleanup.push(async () => void (await pillion.stop('SIGKILL')));
  expect((await get(`http://127.0.0.1:${listen}/`)).status).toBe(200);
  expect((await fetch(`${pillion.adminUrl}/drain`, { method: 'POST' })).status).toBe(202);
  expect(await pillion.exited).toBe(0);
});
