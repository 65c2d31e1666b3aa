/**
 * A TCP listener with `tls_passthrough` against real sockets (a stand-in worker, real TLS upstreams):
 * the ClientHello's SNI picks the cluster and the TLS bytes pass untouched (the client completes its
 * handshake with the upstream's own certificate); unknown names, missing SNI, clients that do not
 * speak TLS, slow and split ClientHellos; the routing rule itself exactly.
 */
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TcpListener } from '../src/l4/tcp-listener.js';
import { passthroughCluster, type TlsPassthroughConfig } from '../src/l4/tls-passthrough.js';
import { createPki, type TestPki } from '../../../test/helpers/certs.js';
import { waitFor } from '../../../test/helpers/wait-for.js';
import { TestHost, deadPort } from './l4-fixtures.js';
import { Trickle, cnOf, tlsExchange, tlsTagged } from './l4-tls-fixtures.js';

describe('passthroughCluster', () => {
  const p: TlsPassthroughConfig = {
    routes: [
      { server_names: ['a.example', 'a2.example'], cluster: 'a' },
      { server_names: ['*.wild.example'], cluster: 'wild' },
      { server_names: ['x.wild.example'], cluster: 'never' },
    ],
    default_cluster: 'fallback',
  };

  it.each([
    ['a.example', 'a'],
    ['a2.example', 'a'],
    ['x.wild.example', 'wild'],
    ['deep.x.wild.example', 'wild'],
    ['wild.example', 'fallback'],
    ['b.example', 'fallback'],
    ['', 'fallback'],
  ])('routes %j to %s', (name, cluster) => {
    expect(passthroughCluster(p, name)).toBe(cluster);
  });

  it('gives no cluster for an unmatched name or no SNI when there is no default_cluster', () => {
    const q: TlsPassthroughConfig = { routes: p.routes };
    expect(passthroughCluster(q, 'b.example')).toBeUndefined();
    expect(passthroughCluster(q, '')).toBeUndefined();
    expect(passthroughCluster(q, 'a.example')).toBe('a');
  });
});

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

let pki: TestPki;
type Upstream = Awaited<ReturnType<typeof tlsTagged>>;
let up: Record<'a' | 'b' | 'wild' | 'fallback', Upstream>;

beforeAll(async () => {
  pki = await createPki();
  up = {
    a: await tlsTagged('a', await pki.leaf({ cn: 'a.example', dns: ['a.example'], usage: 'server' })),
    b: await tlsTagged('b', await pki.leaf({ cn: 'b.example', dns: ['b.example'], usage: 'server' })),
    wild: await tlsTagged('wild', await pki.leaf({ cn: '*.wild.example', dns: ['*.wild.example'], usage: 'server' })),
    fallback: await tlsTagged('fallback', await pki.leaf({ cn: 'fallback.example', dns: ['fallback.example'], usage: 'server' })),
  };
});

afterAll(async () => {
  await Promise.all(Object.values(up ?? {}).map((u) => u.close()));
});

async function proxy(opts: { defaultCluster?: boolean; listener?: Record<string, unknown>; deadFirst?: number } = {}) {
  const cluster = (name: keyof typeof up) => ({
    name,
    endpoints: [...(opts.deadFirst !== undefined ? [{ address: '127.0.0.1', port: opts.deadFirst }] : []), { address: '127.0.0.1', port: up[name].port }],
  });
  const host = new TestHost({
    listeners: [
      {
        name: 'egress',
        protocol: 'tcp',
        port: 0,
        tls_passthrough: {
          routes: [
            { server_names: ['a.example'], cluster: 'a' },
            { server_names: ['b.example'], cluster: 'b' },
            { server_names: ['*.wild.example'], cluster: 'wild' },
          ],
          ...(opts.defaultCluster === false ? {} : { default_cluster: 'fallback' }),
        },
        ...opts.listener,
      },
    ],
    clusters: [cluster('a'), cluster('b'), cluster('wild'), cluster('fallback')],
  });
  const l = new TcpListener(host.config.listeners[0] as never, 0, host);
  await l.listen();
  cleanup.push(() => l.close());
  return { host, l, port: l.port };
}

const trusted = (servername?: string) => ({ ca: pki.ca.cert, servername, checkServerIdentity: () => undefined });

describe('tcp listener with tls_passthrough', () => {
  it.each([
    ['a.example', 'a', 'a.example'],
    ['b.example', 'b', 'b.example'],
    ['api.wild.example', 'wild', '*.wild.example'],
    ['unknown.example', 'fallback', 'fallback.example'],
  ] as const)('sends SNI %s to cluster %s, whose own certificate the client sees', async (sni, name, cn) => {
    const { host, port } = await proxy();
    const r = await tlsExchange(port, trusted(sni), 'ping');
    expect(r.error).toBeUndefined();
    expect(r.cn).toBe(cn);
    expect(r.reply.toString()).toBe(`${name}:ping`);
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ listener: 'egress', cluster: name, upstream: `127.0.0.1:${up[name].port}`, sni, end: 'closed', attempts: 1 });
    expect(host.lines[0]!.bytes_in as number).toBeGreaterThan(100);
  });

  it('sends the ClientHello to the next endpoint when a connect fails', async () => {
    const dead = await deadPort();
    const { host, port } = await proxy({ deadFirst: dead });
    const r = await tlsExchange(port, trusted('b.example'), 'retry');
    expect(r.cn).toBe('b.example');
    expect(r.reply.toString()).toBe('b:retry');
    expect(host.cluster('b')!.results).toEqual([
      [`127.0.0.1:${dead}`, 'connect-failure'],
      [`127.0.0.1:${up.b.port}`, 200],
    ]);
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ cluster: 'b', attempts: 2, end: 'closed', sni: 'b.example' });
  });

  it('sends a ClientHello without SNI to default_cluster', async () => {
    const { host, port } = await proxy();
    const r = await tlsExchange(port, trusted(undefined), 'x');
    expect(r.reply.toString()).toBe('fallback:x');
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]!.sni).toBeUndefined();
  });

  it('closes a connection whose SNI has no route when there is no default_cluster', async () => {
    const { host, port } = await proxy({ defaultCluster: false });
    const before = Object.values(up).map((u) => u.accepted());
    const r = await tlsExchange(port, { ca: pki.ca.cert, servername: 'unknown.example' }, 'x');
    expect(r.secure).toBe(false);
    expect(r.reply.length).toBe(0);
    expect(host.stat(0, 'tls_passthrough_no_route')).toBe(1);
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ end: 'no-route', sni: 'unknown.example', attempts: 0 });
    expect(Object.values(up).map((u) => u.accepted())).toEqual(before);
    expect(host.stat(0, 'tcp_connections_active')).toBe(0);
  });

  it('closes a client that does not speak TLS', async () => {
    const { host, port } = await proxy();
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.resume();
    s.write('GET / HTTP/1.1\r\nhost: a.example\r\n\r\n');
    await new Promise((r) => s.once('close', r));
    expect(host.stat(0, 'tls_passthrough_not_tls')).toBe(1);
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ end: 'not-tls', attempts: 0 });
  });

  it('routes a ClientHello that arrives a few bytes at a time', async () => {
    const { port } = await proxy();
    const trickle = new Trickle(port, 5);
    const r = await new Promise<{ cn: string; reply: string }>((resolve, reject) => {
      const s = tlsConnect({ socket: trickle, ca: pki.ca.cert, servername: 'b.example' }, () => s.end('split'));
      let reply = '';
      s.on('data', (d: Buffer) => (reply += d));
      s.on('error', reject);
      s.on('end', () => resolve({ cn: cnOf(s), reply }));
    });
    expect(r).toEqual({ cn: 'b.example', reply: 'b:split' });
    expect(trickle.writes).toBeGreaterThan(20);
  });

  it('closes a connection whose ClientHello is not complete in time', async () => {
    const { host, l, port } = await proxy();
    l.clientHelloTimeoutMs = 200;
    const started = Date.now();
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.resume();
    s.write(Buffer.from([22, 3, 1, 0, 200, 1]));
    await new Promise((r) => s.once('close', r));
    expect(Date.now() - started).toBeGreaterThanOrEqual(180);
    expect(host.stat(0, 'tls_failed_timeout')).toBe(1);
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ end: 'tls-failed', tls_error: 'timeout', bytes_in: 6 });
  });

  it('logs a client that leaves before its ClientHello without counting it as a failure', async () => {
    const { host, l, port } = await proxy();
    const s = connect(port, '127.0.0.1', () => s.end());
    s.on('error', () => {});
    s.resume();
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ end: 'closed', attempts: 0 });
    expect([host.stat(0, 'tls_passthrough_not_tls'), host.stat(0, 'tls_passthrough_no_route'), host.stat(0, 'tls_failed_timeout')]).toEqual([0, 0, 0]);
    expect(l.active).toBe(0);
  });

  it('counts connections whose ClientHello is being read under max_connections, and closes them with the listener', async () => {
    const { host, l, port } = await proxy({ listener: { max_connections: 1 } });
    const waiting = connect(port, '127.0.0.1');
    waiting.on('error', () => {});
    waiting.resume();
    await waitFor(() => l.active === 1);
    const r = await tlsExchange(port, { ca: pki.ca.cert, servername: 'a.example' }, 'x');
    expect(r.reply.length).toBe(0);
    expect(host.stat(0, 'tcp_rejected_max_connections')).toBe(1);
    l.close();
    await new Promise((r) => (waiting.destroyed ? r(null) : waiting.once('close', r)));
    expect(host.lines.map((x) => x.end).sort()).toEqual(['drain', 'overflow']);
    expect(host.state.threadListenerStat(0, 0, 'tcp_connections_active')).toBe(0);
  });

  it('proxies a long passthrough session both ways with the idle timer of the listener', async () => {
    const { host, port } = await proxy({ listener: { idle_timeout: '300ms' } });
    const s = tlsConnect({ host: '127.0.0.1', port, ca: pki.ca.cert, servername: 'a.example' });
    s.on('error', () => {});
    let got = '';
    s.on('data', (d: Buffer) => (got += d));
    await waitFor(() => got === 'a:');
    s.write('one');
    await waitFor(() => got === 'a:one');
    await new Promise((r) => s.once('close', r));
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ end: 'idle-timeout', cluster: 'a', sni: 'a.example' });
    expect(host.stat(0, 'tcp_idle_timeouts')).toBe(1);
  });
});
