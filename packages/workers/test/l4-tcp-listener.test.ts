/**
 * The TCP listener against real sockets, with clusters that pick by script: attempts and results,
 * half-close, resets, timeouts, breakers, the shared counters and the access log.
 */
import { connect, createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { nativeReusePort } from '../src/l4/listen-shared.js';
import { TcpListener } from '../src/l4/tcp-listener.js';
import { waitFor } from '../../../test/helpers/wait-for.js';
import { TestHost, blackhole, closeServer, deadPort, listen, tcpEcho } from './l4-fixtures.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function proxy(ports: number[], listener: Record<string, unknown> = {}, cluster: Record<string, unknown> = {}) {
  const host = new TestHost({
    listeners: [{ name: 'db', protocol: 'tcp', port: 0, cluster: 'c', ...listener }],
    clusters: [{ name: 'c', endpoints: ports.map((port) => ({ address: '127.0.0.1', port })), ...cluster }],
  });
  const l = new TcpListener(host.config.listeners[0] as never, 0, host);
  await l.listen();
  cleanup.push(() => l.close());
  return { host, l, cluster: host.cluster('c')!, port: l.port };
}

async function echo() {
  const e = await tcpEcho();
  cleanup.push(() => {
    for (const s of e.sockets) s.destroy();
    return closeServer(e.server);
  });
  return e;
}

/** Sends `data`, ends, and collects the reply until the proxy ends or resets the connection. */
function exchange(port: number, data: string | Buffer): Promise<{ reply: Buffer; error?: string }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('data', (d) => chunks.push(d));
    s.on('error', (e: NodeJS.ErrnoException) => resolve({ reply: Buffer.concat(chunks), error: e.code }));
    s.on('close', () => resolve({ reply: Buffer.concat(chunks) }));
    s.end(data);
  });
}

function opened(port: number): Promise<Socket> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', () => {});
    s.resume(); // consume what arrives, so 'close' follows the proxy's FIN
    cleanup.push(() => s.destroy());
  });
}

describe('tcp listener', () => {
  it('pipes bytes both ways, byte for byte, and logs one line per connection', async () => {
    const e = await echo();
    const { host, port } = await proxy([e.port]);
    const payload = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 131 + 7) & 0xff;
    const { reply, error } = await exchange(port, payload);
    expect(error).toBeUndefined();
    expect(reply.equals(payload)).toBe(true);
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ listener: 'db', protocol: 'tcp', cluster: 'c', upstream: `127.0.0.1:${e.port}`, attempts: 1, bytes_in: payload.length, bytes_out: payload.length, end: 'closed' });
    expect(host.lines[0]!.client).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(host.stat(0, 'tcp_connections_total')).toBe(1);
    expect(host.stat(0, 'downstream_bytes_in')).toBe(payload.length);
    expect(host.stat(0, 'downstream_bytes_out')).toBe(payload.length);
    expect(host.state.threadListenerStat(0, 0, 'tcp_connections_active')).toBe(0);
  });

  it('tries the next endpoint when a connect fails, reporting each result to the cluster', async () => {
    const e = await echo();
    const dead = await deadPort();
    const { host, cluster, port } = await proxy([dead, e.port]);
    expect((await exchange(port, 'ping')).reply.toString()).toBe('ping');
    expect(cluster.picks.map((p) => p.attempt)).toEqual([0, 1]);
    expect(cluster.results).toEqual([
      [`127.0.0.1:${dead}`, 'connect-failure'],
      [`127.0.0.1:${e.port}`, 200],
    ]);
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ upstream: `127.0.0.1:${e.port}`, attempts: 2, end: 'closed' });
    expect(host.state.clusterStat(0, 'upstream_connect_failures')).toBe(1);
  });

  it('gives up after connect_attempts and closes the client', async () => {
    const [a, b] = [await deadPort(), await deadPort()];
    const { host, cluster, port } = await proxy([a, b], { connect_attempts: 2 });
    const { reply } = await exchange(port, 'ping');
    expect(reply.length).toBe(0);
    expect(cluster.picks.map((p) => p.attempt)).toEqual([0, 1]);
    expect(cluster.results.map((r) => r[1])).toEqual(['connect-failure', 'connect-failure']);
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ attempts: 2, end: 'connect-failure' });
    expect(host.lines[0]!.upstream).toBeUndefined();
    expect(host.stat(0, 'tcp_no_endpoint')).toBe(1);
  });

  it('closes the client when the cluster has no endpoint to pick', async () => {
    const e = await echo();
    const { host, cluster, port } = await proxy([e.port]);
    cluster.choose = () => -1;
    expect((await exchange(port, 'ping')).reply.length).toBe(0);
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ attempts: 1, end: 'no-endpoint' });
  });

  it('counts a connect that outlasts connect_timeout as a timeout and moves on', async () => {
    const hole = await blackhole();
    cleanup.push(() => hole.child.kill('SIGKILL'));
    const e = await echo();
    const { cluster, port } = await proxy([hole.port, e.port], {}, { connect_timeout: '150ms' });
    const started = Date.now();
    expect((await exchange(port, 'late')).reply.toString()).toBe('late');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(cluster.results).toEqual([
      [`127.0.0.1:${hole.port}`, 'timeout'],
      [`127.0.0.1:${e.port}`, 200],
    ]);
  });

  it('passes a half-close on: the upstream answers after the client has finished sending', async () => {
    // The upstream reads everything up to the client's FIN, then answers with what it got, reversed.
    const upstream = createServer({ allowHalfOpen: true }, (s) => {
      const got: Buffer[] = [];
      s.on('data', (d) => got.push(d));
      s.on('end', () => s.end(Buffer.from(Buffer.concat(got).toString().split('').reverse().join(''))));
    });
    const up = await listen(upstream);
    cleanup.push(() => closeServer(upstream));
    const { port } = await proxy([up]);
    expect((await exchange(port, 'abcdef')).reply.toString()).toBe('fedcba');
  });

  it('passes a half-close the other way: the client keeps sending after the upstream has ended', async () => {
    let lateData = '';
    const upstream = createServer({ allowHalfOpen: true }, (s) => {
      s.end('bye');
      s.on('data', (d) => (lateData += d));
    });
    const up = await listen(upstream);
    cleanup.push(() => closeServer(upstream));
    const { host, port } = await proxy([up]);
    const c = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    c.setEncoding('utf8');
    let reply = '';
    c.on('data', (d) => (reply += d));
    await new Promise((r) => c.once('end', r));
    expect(reply).toBe('bye');
    c.end('still here');
    await waitFor(() => lateData === 'still here');
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ end: 'closed', bytes_in: 10, bytes_out: 3 });
  });

  it('resets the client when the upstream resets', async () => {
    const upstream = createServer((s) => s.once('data', () => s.resetAndDestroy()));
    const up = await listen(upstream);
    cleanup.push(() => closeServer(upstream));
    const { host, port } = await proxy([up]);
    const c = connect(port, '127.0.0.1');
    c.write('boom');
    const code = await new Promise((r) => {
      c.on('error', (e: NodeJS.ErrnoException) => r(e.code));
      c.on('close', () => r('closed without error'));
    });
    expect(code).toBe('ECONNRESET');
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ end: 'upstream-reset' });
  });

  it('closes a connection idle for idle_timeout', async () => {
    const e = await echo();
    const { host, port } = await proxy([e.port], { idle_timeout: '100ms' });
    const c = await opened(port);
    c.write('x');
    await new Promise((r) => c.once('close', r));
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ end: 'idle-timeout', bytes_in: 1, bytes_out: 1 });
    expect(host.stat(0, 'tcp_idle_timeouts')).toBe(1);
  });

  it('closes a busy connection at max_connection_duration', async () => {
    const e = await echo();
    const { host, port } = await proxy([e.port], { max_connection_duration: '200ms', idle_timeout: '1s' });
    const c = await opened(port);
    const ticker = setInterval(() => c.write('tick'), 20);
    await new Promise((r) => c.once('close', r));
    clearInterval(ticker);
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ end: 'max-duration' });
    expect(host.lines[0]!.duration_ms as number).toBeGreaterThanOrEqual(190);
    expect(host.stat(0, 'tcp_max_duration_reached')).toBe(1);
  });

  it("refuses connections over the listener's max_connections", async () => {
    const e = await echo();
    const { host, port } = await proxy([e.port], { max_connections: 2 });
    await opened(port);
    await opened(port);
    await waitFor(() => host.stat(0, 'tcp_connections_active') === 2);
    expect((await exchange(port, 'third')).reply.length).toBe(0);
    expect(host.stat(0, 'tcp_rejected_max_connections')).toBe(1);
    expect(host.lines.find((l) => l.end === 'overflow')).toBeDefined();
  });

  it("refuses connections over the cluster's circuit_breaker.max_connections", async () => {
    const e = await echo();
    const { host, port } = await proxy([e.port], {}, { circuit_breaker: { max_connections: 1 } });
    const first = await opened(port);
    first.write('a');
    await waitFor(() => host.state.cluster(0, 'cx_active') === 1);
    expect((await exchange(port, 'second')).reply.length).toBe(0);
    expect(host.state.clusterStat(0, 'cb_reject_max_connections')).toBe(1);
    await waitFor(() => host.lines.some((l) => l.end === 'cluster-overflow'));
  });

  it('holds the endpoint\'s active counters while a connection is open', async () => {
    const e = await echo();
    const { host, port } = await proxy([e.port]);
    const c = await opened(port);
    c.write('hello');
    await new Promise((r) => c.once('data', r));
    expect([host.state.endpoint(0, 'cx_active'), host.state.endpoint(0, 'rq_active'), host.state.cluster(0, 'cx_active')]).toEqual([1, 1, 1]);
    c.end();
    await waitFor(() => host.lines.length === 1);
    expect([host.state.endpoint(0, 'cx_active'), host.state.endpoint(0, 'rq_active'), host.state.cluster(0, 'cx_active')]).toEqual([0, 0, 0]);
  });

  it('drains: stops accepting, lets open connections finish, then closes the rest', async () => {
    const e = await echo();
    const { host, l, port } = await proxy([e.port]);
    const a = await opened(port);
    const b = await opened(port);
    a.write('a');
    await waitFor(() => l.active === 2);
    l.stopAccepting();
    const refused = await new Promise((r) => connect(port, '127.0.0.1').on('error', (err: NodeJS.ErrnoException) => r(err.code)).on('connect', () => r('accepted')));
    expect(refused).toBe('ECONNREFUSED');
    a.end();
    await waitFor(() => l.active === 1);
    expect(await l.idle(50)).toBe(1);
    l.close();
    expect(l.active).toBe(0);
    await new Promise((r) => (b.destroyed ? r(null) : b.once('close', r)));
    expect(host.lines.map((x) => x.end).sort()).toEqual(['closed', 'drain']);
    expect(host.state.endpoint(0, 'cx_active')).toBe(0);
  });
});

describe('listenShared', () => {
  it.each([
    ['18.20.4', false],
    ['20.20.2', false],
    ['22.11.0', false],
    ['22.12.0', true],
    ['23.1.0', true],
    ['24.0.0', true],
  ])('on Node %s lets net set SO_REUSEPORT itself: %s', (version, native) => {
    expect(nativeReusePort(version)).toBe(native);
  });

  it('lets two listeners share one port and spreads connections over both', async () => {
    const e = await echo();
    const host = new TestHost({
      listeners: [{ name: 'db', protocol: 'tcp', port: await deadPort(), cluster: 'c' }],
      clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: e.port }] }],
    });
    const cfg = host.config.listeners[0] as never;
    const one = new TcpListener(cfg, 0, host);
    const two = new TcpListener(cfg, 0, host);
    await one.listen();
    await two.listen();
    cleanup.push(() => one.close(), () => two.close());
    const sockets = await Promise.all(Array.from({ length: 40 }, () => opened(one.port)));
    await waitFor(() => one.active + two.active === 40);
    expect(one.active).toBeGreaterThan(0);
    expect(two.active).toBeGreaterThan(0);
    for (const s of sockets) s.destroy();
  });
});

