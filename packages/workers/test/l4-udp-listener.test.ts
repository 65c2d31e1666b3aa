/**
 * The UDP listener against real sockets, with clusters that pick by script and an injected clock for
 * session expiry: sessions and their stickiness, replies from the listener's address, expiry, limits,
 * drops and who owns the socket.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { UdpListener, sweepInterval, udpOwner } from '../src/l4/udp-listener.js';
import { waitFor } from '../../../test/helpers/wait-for.js';
import { TestHost, deadPort, udpTagged } from './l4-fixtures.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function upstreams(...tags: string[]) {
  const ups = await Promise.all(tags.map(udpTagged));
  cleanup.push(() => ups.forEach((u) => u.socket.close()));
  return ups;
}

async function proxy(ports: number[], listener: Record<string, unknown> = {}, opts: { thread?: number; workers?: number } = {}) {
  const host = new TestHost(
    {
      listeners: [{ name: 'dns', protocol: 'udp', port: 0, cluster: 'c', ...listener }],
      clusters: [{ name: 'c', endpoints: ports.map((port) => ({ address: '127.0.0.1', port })) }],
    },
    opts,
  );
  let now = 1_000_000;
  const l = new UdpListener(host.config.listeners[0] as never, 0, host, () => now);
  await l.listen();
  cleanup.push(() => l.close());
  const cluster = host.cluster('c')!;
  // Round robin over sessions: each new session takes the next endpoint.
  cluster.choose = (_req, attempt, n) => (n + attempt) % ports.length;
  return { host, l, cluster, advance: (ms: number) => (now += ms) };
}

/** A client socket that records replies with the address they came from. */
async function client() {
  const s: Socket = createSocket('udp4');
  const replies: { text: string; from: string }[] = [];
  s.on('message', (m, r) => replies.push({ text: String(m), from: `${r.address}:${r.port}` }));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  cleanup.push(() => s.close());
  return { s, replies, send: (port: number, text: string | Buffer) => s.send(text, port, '127.0.0.1') };
}

describe('udp listener', () => {
  it("keeps a client's datagrams on the endpoint its first datagram picked, replying from the listener's port", async () => {
    const [a, b] = await upstreams('a', 'b');
    const { host, l, cluster } = await proxy([a!.port, b!.port]);
    const one = await client();
    const two = await client();
    for (let i = 0; i < 5; i++) {
      one.send(l.port, `1-${i}`);
      two.send(l.port, `2-${i}`);
    }
    await waitFor(() => one.replies.length === 5 && two.replies.length === 5);
    const sorted = (r: { text: string }[]) => r.map((x) => x.text).sort();
    expect(sorted(one.replies)).toEqual(['a:1-0', 'a:1-1', 'a:1-2', 'a:1-3', 'a:1-4']);
    expect(sorted(two.replies)).toEqual(['b:2-0', 'b:2-1', 'b:2-2', 'b:2-3', 'b:2-4']);
    expect(new Set([...one.replies, ...two.replies].map((r) => r.from))).toEqual(new Set([`127.0.0.1:${l.port}`]));
    expect(cluster.picks).toHaveLength(2);
    expect(cluster.results.map((r) => r[1])).toEqual([200, 200]);
    expect(l.active).toBe(2);
    expect([host.stat(0, 'udp_sessions_active'), host.stat(0, 'udp_sessions_total'), host.stat(0, 'udp_datagrams_in'), host.stat(0, 'udp_datagrams_out')]).toEqual([2, 2, 10, 10]);
    expect(host.stat(0, 'downstream_bytes_in')).toBe(30);
    expect(host.stat(0, 'downstream_bytes_out')).toBe(50);
    expect([host.state.endpoint(0, 'rq_active'), host.state.endpoint(1, 'rq_active')]).toEqual([1, 1]);
  });

  it('ends a session after session_timeout without traffic; the next datagram starts a new one', async () => {
    const [a, b] = await upstreams('a', 'b');
    const { host, l, cluster, advance } = await proxy([a!.port, b!.port], { session_timeout: '10s' });
    const c = await client();
    c.send(l.port, 'x');
    await waitFor(() => c.replies.length === 1);
    advance(9_999);
    l.sweep();
    expect(l.active).toBe(1);
    advance(1);
    l.sweep();
    expect(l.active).toBe(0);
    expect(host.stat(0, 'udp_sessions_active')).toBe(0);
    expect(host.lines).toHaveLength(1);
    expect(host.lines[0]).toMatchObject({ listener: 'dns', protocol: 'udp', upstream: `127.0.0.1:${a!.port}`, datagrams_in: 1, datagrams_out: 1, bytes_in: 1, bytes_out: 3, duration_ms: 10_000, end: 'idle-timeout' });
    expect(host.state.endpoint(0, 'rq_active')).toBe(0);
    c.send(l.port, 'y');
    await waitFor(() => c.replies.length === 2);
    expect(c.replies[1]!.text).toBe('b:y');
    expect(cluster.picks).toHaveLength(2);
  });

  it('counts replies as activity: a session answered recently stays', async () => {
    // An upstream that answers only when told to, so the clock can move between request and reply.
    const up = createSocket('udp4');
    let asker: { port: number; address: string } | null = null;
    up.on('message', (_m, r) => (asker = r));
    await new Promise<void>((r) => up.bind(0, '127.0.0.1', () => r()));
    cleanup.push(() => up.close());
    const { l, advance } = await proxy([up.address().port], { session_timeout: '10s' });
    const c = await client();
    c.send(l.port, 'x');
    await waitFor(() => asker !== null);
    advance(8_000);
    up.send('late', asker!.port, asker!.address);
    await waitFor(() => c.replies.length === 1);
    advance(8_000);
    l.sweep();
    expect(l.active).toBe(1);
    advance(2_000);
    l.sweep();
    expect(l.active).toBe(0);
  });

  it('drops datagrams over max_datagram_size, both ways', async () => {
    const [a] = await upstreams('abcdef');
    const { host, l } = await proxy([a!.port], { max_datagram_size: 10 });
    const c = await client();
    c.send(l.port, Buffer.alloc(11, 1));
    c.send(l.port, 'abc'); // reply "abcdef:abc" is 10 bytes: passes
    c.send(l.port, 'abcd'); // reply of 11 bytes: dropped on the way back
    await waitFor(() => host.stat(0, 'udp_dropped_oversized') === 2);
    await waitFor(() => c.replies.length === 1);
    expect(c.replies[0]!.text).toBe('abcdef:abc');
    expect(a!.received).toEqual(['abc', 'abcd']);
    expect(host.stat(0, 'udp_datagrams_in')).toBe(3);
  });

  it('refuses new clients beyond max_sessions', async () => {
    const [a] = await upstreams('a');
    const { host, l } = await proxy([a!.port], { max_sessions: 1 });
    const one = await client();
    const two = await client();
    one.send(l.port, '1');
    await waitFor(() => one.replies.length === 1);
    two.send(l.port, '2');
    await waitFor(() => host.stat(0, 'udp_dropped_max_sessions') === 1);
    one.send(l.port, '3');
    await waitFor(() => one.replies.length === 2);
    expect(two.replies).toEqual([]);
  });

  it('drops datagrams when there is no endpoint to pick', async () => {
    const [a] = await upstreams('a');
    const { host, l, cluster } = await proxy([a!.port]);
    cluster.choose = () => -1;
    const c = await client();
    c.send(l.port, 'x');
    await waitFor(() => host.stat(0, 'udp_dropped_no_endpoint') === 1);
    expect(l.active).toBe(0);
  });

  it('ends the session when the endpoint refuses, reporting a connect failure', async () => {
    const dead = await deadPort();
    const { host, l, cluster } = await proxy([dead]);
    const c = await client();
    c.send(l.port, 'x');
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ end: 'upstream-error', upstream: `127.0.0.1:${dead}` });
    expect(cluster.results).toEqual([[`127.0.0.1:${dead}`, 'connect-failure']]);
    expect(host.stat(0, 'udp_dropped_upstream_error')).toBe(1);
    expect(l.active).toBe(0);
  });

  it('drains: sessions go on, new clients are dropped, close ends the rest', async () => {
    const [a] = await upstreams('a');
    const { host, l } = await proxy([a!.port]);
    const one = await client();
    one.send(l.port, '1');
    await waitFor(() => one.replies.length === 1);
    l.stopAccepting();
    const two = await client();
    two.send(l.port, '2');
    one.send(l.port, '3');
    await waitFor(() => one.replies.length === 2 && host.stat(0, 'udp_dropped_draining') === 1);
    expect(await l.idle(20)).toBe(1);
    l.close();
    expect(host.lines.map((x) => x.end)).toEqual(['drain']);
    expect(host.stat(0, 'udp_sessions_active')).toBe(0);
  });

  it('binds only in the owning worker', async () => {
    const [a] = await upstreams('a');
    const { l } = await proxy([a!.port], {}, { thread: 1, workers: 2 });
    expect(l.owner).toBe(false);
    expect(l.port).toBe(0);
  });
});

describe('udpOwner', () => {
  it.each([
    [0, 1, 0],
    [0, 2, 0],
    [1, 2, 1],
    [2, 2, 0],
    [5, 4, 1],
  ])('listener slot %i over %i workers is served by worker %i', (slot, workers, owner) => {
    expect(udpOwner(slot, workers)).toBe(owner);
  });
});

describe('sweepInterval', () => {
  it.each([
    [30_000, 1000],
    [2000, 500],
    [300, 75],
    [20, 10],
  ])('a %i ms session timeout is swept every %i ms', (timeout, every) => {
    expect(sweepInterval(timeout)).toBe(every);
  });
});
