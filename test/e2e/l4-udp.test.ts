/**
 * UDP listeners end to end: the real CLI with two workers, real UDP upstreams and clients. Sessions
 * keep a client on one endpoint, replies come from the listener's port, sessions expire, oversized
 * datagrams are dropped and counted, and source-ip hashing keeps an address on one endpoint across
 * sessions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'node:dgram';
import { freePorts } from '../helpers/ports.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { accessLines, udpClient, udpTagged } from './l4-servers.js';
import { waitFor } from '../helpers/wait-for.js';

let pillion: PillionProcess;
const upstreams: Socket[] = [];
let rrPort: number;
let hashPort: number;
const clients: Awaited<ReturnType<typeof udpClient>>[] = [];

beforeAll(async () => {
  const [a, b, c, lRr, lHash, admin] = await freePorts(6);
  upstreams.push(await udpTagged('a', a!), await udpTagged('b', b!), await udpTagged('c', c!));
  rrPort = lRr!;
  hashPort = lHash!;
  const endpoints = [a, b, c].map((port) => ({ address: '127.0.0.1', port }));
  pillion = await startPillion({
    workers: 2,
    admin: { port: admin! },
    listeners: [
      { name: 'rr', protocol: 'udp', port: lRr, cluster: 'rr', session_timeout: '300ms', max_datagram_size: 100 },
      { name: 'hash', protocol: 'udp', port: lHash, cluster: 'hash', session_timeout: '200ms' },
    ],
    clusters: [
      { name: 'rr', endpoints: endpoints.slice(0, 2) },
      { name: 'hash', endpoints, lb: { policy: 'maglev', hash_on: 'source-ip' } },
    ],
  });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await pillion?.stop('SIGKILL');
  for (const u of upstreams) u.close();
});

async function client(address?: string) {
  const c = await udpClient(address);
  clients.push(c);
  return c;
}

const tags = (replies: { text: string }[]) => new Set(replies.map((r) => r.text.slice(0, r.text.indexOf(':'))));

describe('udp proxying', () => {
  it("keeps each client's session on one endpoint and answers from the listener's port", async () => {
    const cs = await Promise.all(Array.from({ length: 6 }, () => client()));
    for (let i = 0; i < 20; i++) for (const [k, c] of cs.entries()) c.send(rrPort, `c${k}-${i}`);
    await waitFor(() => cs.every((c) => c.replies.length === 20), { timeoutMs: 5000, message: 'all replies' });
    for (const [k, c] of cs.entries()) {
      expect(tags(c.replies).size).toBe(1);
      expect(c.replies.map((r) => r.text.slice(2)).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `c${k}-${i}`).sort());
      expect(new Set(c.replies.map((r) => r.from))).toEqual(new Set([rrPort]));
    }
    // six sessions over two endpoints in round robin: both are used
    expect(new Set(cs.flatMap((c) => [...tags(c.replies)]))).toEqual(new Set(['a', 'b']));
    const m = await pillion.metrics();
    expect(metric(m, 'pillion_udp_sessions_total', { listener: 'rr' })).toBe(6);
    expect(metric(m, 'pillion_udp_datagrams_received_total', { listener: 'rr' })).toBe(120);
    expect(metric(m, 'pillion_udp_datagrams_sent_total', { listener: 'rr' })).toBe(120);
  });

  it('expires sessions after session_timeout without traffic', async () => {
    await waitFor(async () => metric(await pillion.metrics(), 'pillion_udp_sessions_active', { listener: 'rr' }) === 0, { timeoutMs: 3000, message: 'sessions expired' });
    await waitFor(() => accessLines(pillion.output(), 'rr').length >= 6, { timeoutMs: 3000, message: 'session log lines' });
    const lines = accessLines(pillion.output(), 'rr');
    expect(lines[0]).toMatchObject({ protocol: 'udp', cluster: 'rr', datagrams_in: 20, datagrams_out: 20, end: 'idle-timeout' });
    // a returning client starts a new session
    const c = await client();
    c.send(rrPort, 'again');
    await waitFor(() => c.replies.length === 1, { timeoutMs: 3000, message: 'reply' });
    expect(metric(await pillion.metrics(), 'pillion_udp_sessions_total', { listener: 'rr' })).toBe(7);
  });

  it('drops datagrams over max_datagram_size and counts them', async () => {
    const c = await client();
    c.send(rrPort, Buffer.alloc(101, 0x41));
    c.send(rrPort, Buffer.alloc(60, 0x42));
    await waitFor(() => c.replies.length === 1, { timeoutMs: 3000, message: 'reply to the small datagram' });
    expect(c.replies[0]!.text.endsWith('B'.repeat(60))).toBe(true);
    await waitFor(async () => metric(await pillion.metrics(), 'pillion_udp_datagrams_dropped_total', { listener: 'rr', reason: 'oversized' }) === 1, { timeoutMs: 3000, message: 'drop counted' });
  });

  it('keeps an address on one endpoint across ports and sessions with source-ip hashing', async () => {
    const byAddress = new Map<string, Set<string>>();
    for (let round = 0; round < 2; round++) {
      for (let i = 1; i <= 10; i++) {
        const address = `127.0.0.${i}`;
        const c = await client(address);
        c.send(hashPort, 'q');
        await waitFor(() => c.replies.length === 1, { timeoutMs: 3000, message: `reply to ${address}` });
        const seen = byAddress.get(address) ?? new Set<string>();
        for (const t of tags(c.replies)) seen.add(t);
        byAddress.set(address, seen);
      }
      // let every session expire, so the second round starts new sessions from new ports
      await waitFor(async () => metric(await pillion.metrics(), 'pillion_udp_sessions_active', { listener: 'hash' }) === 0, { timeoutMs: 3000, message: 'hash sessions expired' });
    }
    for (const [address, seen] of byAddress) expect([address, seen.size]).toEqual([address, 1]);
    expect(new Set([...byAddress.values()].flatMap((s) => [...s])).size).toBeGreaterThan(1);
    expect(metric(await pillion.metrics(), 'pillion_udp_sessions_total', { listener: 'hash' })).toBe(20);
  });
});
