/**
 * A worker thread that dies is replaced and the shared port keeps serving. The crash comes from the
 * test-only fault switch (PILLION_TEST_FAULTS=1), which is off in production.
 */
import { Agent, request } from 'undici';
import { afterAll, expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { metric, startPillion } from '../helpers/pillion.js';
import { simpleConfig } from '../helpers/configs.js';
import { closeServer, startUpstream } from '../helpers/upstreams.js';
import { waitFor } from '../helpers/wait-for.js';

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup) await c();
});

it('replaces a crashed worker thread and keeps the port serving', async () => {
  const [up, listen, admin] = await freePorts(3);
  const server = await startUpstream('u', up!);
  cleanup.push(() => closeServer(server));
  const pillion = await startPillion(
    simpleConfig({ listen: listen!, admin: admin!, upstreams: [up!], workers: 2 }),
    { env: { PILLION_TEST_FAULTS: '1' } },
  );
  cleanup.push(async () => void (await pillion.stop('SIGKILL')));

  const crash = await fetch(`${pillion.adminUrl}/debug/crash-worker?thread=0`, { method: 'POST' });
  expect(crash.status).toBe(202);

  // Keep sending on fresh connections while the thread dies and comes back. A connection the kernel
  // had already queued on the dying thread's listen socket is reset with it (SO_REUSEPORT does not
  // move queued connections unless net.ipv4.tcp_migrate_req=1), so at most a request or two sent at
  // the instant of the crash may fail; once the supervisor has seen the thread go, every request must
  // succeed, because the other worker still listens on the shared port.
  let failuresAtCrash = 0;
  let failuresAfter = 0;
  let sawOneWorker = false;
  const send = async () => {
    const agent = new Agent({ pipelining: 0 });
    try {
      const r = await request(`http://127.0.0.1:${listen}/x`, { dispatcher: agent });
      await r.body.text();
      if (r.statusCode === 200) return true;
    } catch {
      // counted below
    } finally {
      await agent.close();
    }
    return false;
  };
  await waitFor(
    async () => {
      if (!(await send())) {
        if (sawOneWorker) failuresAfter++;
        else failuresAtCrash++;
      }
      const workers = metric(await pillion.metrics(), 'pillion_workers');
      if (workers === 1) sawOneWorker = true;
      return sawOneWorker && workers === 2;
    },
    { timeoutMs: 15_000, intervalMs: 0, message: 'pillion_workers to drop to 1, then come back to 2' },
  );
  // And after the new thread is in: fresh connections land on both threads again, all served.
  for (let i = 0; i < 20; i++) if (!(await send())) failuresAfter++;
  expect(failuresAfter).toBe(0);
  expect(failuresAtCrash).toBeLessThanOrEqual(2);
  expect(pillion.output()).toContain('worker thread died; starting a new one');
  expect((await fetch(`${pillion.adminUrl}/ready`)).status).toBe(200);
  expect(await pillion.stop()).toBe(0);
});

it('has no crash endpoint without the fault switch', async () => {
  const [up, listen, admin] = await freePorts(3);
  const server = await startUpstream('u', up!);
  cleanup.push(() => closeServer(server));
  const pillion = await startPillion(simpleConfig({ listen: listen!, admin: admin!, upstreams: [up!], workers: 1 }));
  cleanup.push(async () => void (await pillion.stop('SIGKILL')));
  expect((await fetch(`${pillion.adminUrl}/debug/crash-worker?thread=0`, { method: 'POST' })).status).toBe(404);
  expect(await pillion.stop()).toBe(0);
});
