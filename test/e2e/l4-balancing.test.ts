/**
 * Connection-level balancing end to end: source-ip affinity with ring-hash and maglev (clients bind
 * different 127.x addresses), and least-request counting open connections across both workers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { hello, whoami, type TcpServer } from './l4-servers.js';
import { waitFor } from '../helpers/wait-for.js';

let pillion: PillionProcess;
const servers: TcpServer[] = [];
let ports: Record<'ring' | 'maglev' | 'least', number>;

beforeAll(async () => {
  const [a, b, c, lRing, lMaglev, lLeast, admin] = await freePorts(7);
  servers.push(await whoami('a', a!), await whoami('b', b!), await whoami('c', c!));
  ports = { ring: lRing!, maglev: lMaglev!, least: lLeast! };
  const endpoints = [a, b, c].map((port) => ({ address: '127.0.0.1', port }));
  pillion = await startPillion({
    workers: 2,
    admin: { port: admin! },
    access_log: { enabled: false },
    listeners: [
      { name: 'ring', protocol: 'tcp', port: lRing, cluster: 'ring' },
      { name: 'maglev', protocol: 'tcp', port: lMaglev, cluster: 'maglev' },
      { name: 'least', protocol: 'tcp', port: lLeast, cluster: 'least' },
    ],
    clusters: [
      { name: 'ring', endpoints, lb: { policy: 'ring-hash', hash_on: 'source-ip' } },
      { name: 'maglev', endpoints, lb: { policy: 'maglev', hash_on: 'source-ip' } },
      { name: 'least', endpoints: endpoints.slice(0, 2), lb: { policy: 'least-request', choices: 2 } },
    ],
  });
});

afterAll(async () => {
  await pillion?.stop('SIGKILL');
  await Promise.all(servers.map((s) => s.close()));
});

/** For each client address 127.0.0.1 .. 127.0.0.N, the endpoints its `perClient` connections reached. */
async function spread(port: number, clients: number, perClient: number): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  for (let i = 1; i <= clients; i++) {
    const address = `127.0.0.${i}`;
    const names = await Promise.all(Array.from({ length: perClient }, () => hello(port, address)));
    for (const h of names) h.socket.destroy();
    out.set(address, new Set(names.map((h) => h.name)));
  }
  return out;
}

describe('source-ip affinity', () => {
  it.each(['ring', 'maglev'] as const)('%s: every connection from one address reaches the same endpoint', async (policy) => {
    const seen = await spread(ports[policy], 16, 6);
    for (const [address, names] of seen) expect([address, names.size]).toEqual([address, 1]);
    // different addresses hash to different endpoints
    const used = new Set([...seen.values()].flatMap((s) => [...s]));
    expect(used.size).toBeGreaterThan(1);
    // and the mapping holds on a second round
    const again = await spread(ports[policy], 16, 2);
    for (const [address, names] of again) expect([...names]).toEqual([...seen.get(address)!]);
  });
});

describe('least-request', () => {
  it('counts open connections: new ones go to the endpoint with fewer open', async () => {
    const held = [];
    for (let i = 0; i < 4; i++) held.push(await hello(ports.least));
    expect(held.map((h) => h.name).sort()).toEqual(['a', 'a', 'b', 'b']);
    // close a's connections: b keeps 2 open, a has none
    for (const h of held.filter((x) => x.name === 'a')) h.socket.destroy();
    await waitFor(async () => metric(await pillion.metrics(), 'pillion_upstream_connections_active', { cluster: 'least' }) === 2, { timeoutMs: 3000, message: 'connections to a closed' });
    const next = [];
    for (let i = 0; i < 2; i++) next.push(await hello(ports.least));
    // round robin would alternate; least-request fills a up to b's count
    expect(next.map((h) => h.name)).toEqual(['a', 'a']);
    for (const h of [...held, ...next]) h.socket.destroy();
  });
});
