/**
 * A drain tells keep-alive clients to go: while the listener drains, every proxied HTTP/1.1 response
 * carries `connection: close`, so a client that keeps sending on its open connections stops, and the
 * drain ends with the requests in flight. Before, such clients were served on their open connections
 * until drain_timeout, and the request each had in flight then was cut.
 */
import { Agent, request } from 'node:http';
import { afterAll, expect, it } from 'vitest';
import { simpleConfig } from '../helpers/configs.js';
import { startPillion } from '../helpers/pillion.js';
import { freePorts } from '../helpers/ports.js';
import { closeServer, startUpstream } from '../helpers/upstreams.js';
import { waitFor } from '../helpers/wait-for.js';

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup) await c();
});

interface Outcome {
  status: number;
  connection: string | undefined;
  error?: string;
}

function get(agent: Agent, url: string): Promise<Outcome> {
  return new Promise((resolve) => {
    request(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
      res.on('error', (e) => resolve({ status: 0, connection: undefined, error: e.message }));
    })
      .on('error', (e) => resolve({ status: 0, connection: undefined, error: e.message }))
      .end();
  });
}

for (const codec of ['uws', 'http1-strict'] as const) {
  it(`closes keep-alive connections after their next response while draining (${codec})`, async () => {
    const [up, listen, admin] = await freePorts(3);
    const server = await startUpstream('u', up!);
    cleanup.push(() => closeServer(server));
    const pillion = await startPillion(
      simpleConfig({ listen: listen!, admin: admin!, upstreams: [up!], workers: 1, listener: { codec }, top: { drain_timeout: '60s' } }),
    );
    cleanup.push(async () => void (await pillion.stop('SIGKILL')));

    // Four keep-alive clients sending one request after another until a request fails (the listener
    // is closed and their connection is gone).
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    cleanup.push(async () => agent.destroy());
    let signalled = false;
    /** Each lane's outcomes from the signal on; the lane ends at its first failure. */
    const lane = async (): Promise<Outcome[]> => {
      const seen: Outcome[] = [];
      for (;;) {
        const o = await get(agent, `http://127.0.0.1:${listen}/slow?ms=50`);
        if (signalled) seen.push(o);
        if (o.status !== 200) return seen;
      }
    };
    const lanes = Promise.all([lane(), lane(), lane(), lane()]);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${admin}/metrics`).then((r) => r.text())).includes('pillion_requests_total{listener="web",cluster="c",code_class="2xx"}'), {
      message: 'the clients to be served',
    });
    signalled = true;
    pillion.child.kill('SIGTERM');

    // The drain ends long before its 60 s timeout: each client is told connection: close and goes.
    expect(await pillion.exited).toBe(0);
    expect(pillion.output()).not.toContain('drain timeout reached');
    let closed = 0;
    for (const seen of await lanes) {
      // Nothing was cut mid-response: each lane ended at its only failure, a request that found no
      // connection. After a response that said close, the client opened a new connection, which the
      // closed listener refused; only a connection whose last response came before the drain began
      // may be closed under a request just sent on it (the keep-alive race every server has).
      expect(seen.filter((o) => o.status !== 200)).toHaveLength(1);
      const last = seen.at(-1)!;
      const before = seen.at(-2);
      if (before?.connection === 'close') {
        closed++;
        expect(last.error).toMatch(/ECONNREFUSED/);
      } else expect(last.error).toMatch(/ECONNREFUSED|ECONNRESET|socket hang up/);
    }
    expect(closed).toBeGreaterThan(0);
  }, 30_000);
}
