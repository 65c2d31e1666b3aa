/**
 * UDP with `hash_on: source-ip`, no health check and outlier detection turned off: when the endpoint
 * a client hashes to dies, the datagram that finds it dead is lost, and the client's next datagrams
 * (from the same port or another) go to another endpoint instead of the dead one again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'node:dgram';
import { freePorts } from '../helpers/ports.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { udpClient, udpTagged } from './l4-servers.js';
import { waitFor } from '../helpers/wait-for.js';

let pillion: PillionProcess;
const upstreams = new Map<string, Socket>();
let listenPort: number;
const clients: Awaited<ReturnType<typeof udpClient>>[] = [];

beforeAll(async () => {
  const [a, b, c, listen, admin] = await freePorts(5);
  for (const [tag, port] of [['a', a!], ['b', b!], ['c', c!]] as const) upstreams.set(tag, await udpTagged(tag, port));
  listenPort = listen!;
  pillion = await startPillion({
    workers: 2,
    admin: { port: admin! },
    listeners: [{ name: 'hash', protocol: 'udp', port: listen, cluster: 'hash', session_timeout: '5s' }],
    clusters: [
      {
        name: 'hash',
        endpoints: [a, b, c].map((port) => ({ address: '127.0.0.1', port })),
        lb: { policy: 'maglev', hash_on: 'source-ip' },
        outlier_detection: { consecutive_5xx: 0, consecutive_gateway_failure: 0 },
      },
    ],
  });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await pillion?.stop('SIGKILL');
  for (const u of upstreams.values()) u.close();
});

async function client(address: string) {
  const c = await udpClient(address);
  clients.push(c);
  return c;
}

const tagOf = (text: string) => text.slice(0, text.indexOf(':'));

describe('udp source-ip hashing when the hashed endpoint dies', () => {
  it('loses the datagram that found it dead, then sends the client elsewhere', async () => {
    const address = '127.0.0.7';
    const first = await client(address);
    first.send(listenPort, 'q1');
    await waitFor(() => first.replies.length === 1, { message: 'the first reply' });
    const hashed = tagOf(first.replies[0]!.text);
    upstreams.get(hashed)!.close();
    upstreams.delete(hashed);

    // The next datagram goes to the dead endpoint, which refuses it (ICMP port unreachable): lost, counted.
    first.send(listenPort, 'q2');
    await waitFor(async () => (metric(await pillion.metrics(), 'pillion_udp_datagrams_dropped_total', { listener: 'hash', reason: 'upstream_error' }) ?? 0) >= 1, {
      message: 'the datagram to the dead endpoint counted as dropped',
    });
    // The same client's next datagram, and a new port of the same address, reach another endpoint.
    first.send(listenPort, 'q3');
    await waitFor(() => first.replies.length === 2, { message: 'a reply after the failure' });
    const other = await client(address);
    other.send(listenPort, 'q4');
    await waitFor(() => other.replies.length === 1, { message: 'a reply to a new port of the address' });
    const after = [first.replies[1]!.text, other.replies[0]!.text].map(tagOf);
    expect(after.every((t) => t !== hashed && upstreams.has(t))).toBe(true);
    expect(first.replies[1]!.text).toBe(`${after[0]}:q3`);
  });
});
