/**
 * A TCP listener with `tls` against real sockets (a stand-in worker, real certificates): TLS is
 * terminated and the plaintext proxied; certificates by SNI; client certificates verified and refused
 * by reason; handshake timeouts and failures; resumption with shared ticket keys; rotation; resets,
 * half-closes, drain and max_connections with handshakes in progress.
 */
import { randomBytes } from 'node:crypto';
import { connect, createServer } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TcpListener } from '../src/l4/tcp-listener.js';
import { createPki, type Pem, type TestPki } from '../../../test/helpers/certs.js';
import { waitFor } from '../../../test/helpers/wait-for.js';
import { TestHost, closeServer, listen, tcpEcho } from './l4-fixtures.js';
import { fingerprintOf, listenerMaterial, tlsConfig, tlsExchange, tlsOpen } from './l4-tls-fixtures.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const WEB = 'spiffe://cluster.local/ns/default/sa/web';
let pki: TestPki;
let server: Pem;
let other: Pem;
let client: { good: Pem; wrongSan: Pem; rogue: Pem; expired: Pem };

beforeAll(async () => {
  pki = await createPki();
  server = await pki.leaf({ cn: 'db.test', dns: ['db.test'], usage: 'server' });
  other = await pki.leaf({ cn: 'other.test', dns: ['other.test'], usage: 'server' });
  client = {
    good: await pki.leaf({ cn: 'web', uris: [WEB], usage: 'client' }),
    wrongSan: await pki.leaf({ cn: 'batch', uris: ['spiffe://cluster.local/ns/batch/sa/job'], usage: 'client' }),
    rogue: await pki.leaf({ cn: 'web', uris: [WEB], usage: 'client', issuer: 'rogue' }),
    expired: await pki.leaf({ cn: 'web', uris: [WEB], usage: 'client', notBefore: new Date(Date.now() - 10 * 86400_000), notAfter: new Date(Date.now() - 86400_000) }),
  };
});

interface Setup {
  tls?: Record<string, unknown>;
  listener?: Record<string, unknown>;
  certs?: { pem: Pem; names?: string[] }[];
  ca?: string | null;
  ticketKeys?: Buffer;
}

async function proxy(ports: number[], s: Setup = {}) {
  const certs = s.certs ?? [{ pem: server }];
  const host = new TestHost({
    listeners: [{ name: 'db', protocol: 'tcp', port: 0, cluster: 'c', tls: tlsConfig(certs.length, s.tls, certs.map((c) => c.names ?? [])), ...s.listener }],
    clusters: [{ name: 'c', endpoints: ports.map((port) => ({ address: '127.0.0.1', port })) }],
  });
  host.setTls({ listeners: { db: listenerMaterial(certs, s.ca ?? null, s.ticketKeys) }, clusters: {} });
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

const trust = () => ({ ca: pki.ca.cert, servername: 'db.test' });
const MTLS = { client_certificate: { ca_file: 'ca.pem', mode: 'require', allowed_sans: ['spiffe://cluster.local/ns/default/*'] } };

describe('tcp listener with tls', () => {
  it('terminates TLS and proxies the plaintext both ways, byte for byte', async () => {
    const e = await echo();
    const { host, port } = await proxy([e.port]);
    const payload = randomBytes(1024 * 1024);
    const r = await tlsExchange(port, trust(), payload);
    expect(r.error).toBeUndefined();
    expect(r.cn).toBe('db.test');
    expect(r.reply.equals(payload)).toBe(true);
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ listener: 'db', protocol: 'tcp', cluster: 'c', upstream: `127.0.0.1:${e.port}`, attempts: 1, bytes_in: payload.length, bytes_out: payload.length, end: 'closed', sni: 'db.test' });
    expect(host.lines[0]!.client_identity).toBeUndefined();
    expect(host.stat(0, 'tls_handshakes')).toBe(1);
    expect(host.stat(0, 'tls_resumed')).toBe(0);
    expect(host.stat(0, 'downstream_bytes_in')).toBe(payload.length);
    expect(host.stat(0, 'tcp_connections_active')).toBe(0);
  });

  it('presents the certificate for the SNI name (exact or wildcard), the default for other names and without SNI', async () => {
    const e = await echo();
    const { port } = await proxy([e.port], { certs: [{ pem: server }, { pem: other, names: ['other.test', '*.wild.test'] }] });
    const cn = async (servername?: string) => (await tlsExchange(port, { ca: pki.ca.cert, servername, checkServerIdentity: () => undefined }, 'x')).cn;
    expect(await cn('other.test')).toBe('other.test');
    expect(await cn('a.wild.test')).toBe('other.test');
    expect(await cn('unknown.test')).toBe('db.test');
    expect(await cn(undefined)).toBe('db.test');
  });

  it("offers the listener's ALPN protocols", async () => {
    const e = await echo();
    const { port } = await proxy([e.port], { tls: { alpn: ['redis', 'resp3'] } });
    const r = await tlsExchange(port, { ...trust(), ALPNProtocols: ['resp3'] }, 'x');
    expect(r.alpn).toBe('resp3');
  });

  it('mTLS: proxies a client with a valid certificate and logs its identity', async () => {
    const e = await echo();
    const { host, port } = await proxy([e.port], { tls: MTLS, ca: pki.ca.cert });
    const r = await tlsExchange(port, { ...trust(), cert: client.good.cert, key: client.good.key }, 'hello');
    expect(r.reply.toString()).toBe('hello');
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ end: 'closed', client_identity: WEB });
    expect(host.stat(0, 'tls_handshakes')).toBe(1);
  });

  it.each([
    ['no certificate', 'none', 'tls_failed_no_client_certificate', 'no_client_certificate'],
    ['a certificate from another CA', 'rogue', 'tls_failed_client_certificate_invalid', 'client_certificate_invalid'],
    ['an expired certificate', 'expired', 'tls_failed_client_certificate_invalid', 'client_certificate_invalid'],
    ['a SAN outside allowed_sans', 'wrongSan', 'tls_failed_client_san_not_allowed', 'client_san_not_allowed'],
  ] as const)('mTLS require: refuses a client with %s, never connecting upstream', async (_what, which, stat, reason) => {
    const e = await echo();
    const { host, cluster, port } = await proxy([e.port], { tls: MTLS, ca: pki.ca.cert });
    const pem = which === 'none' ? {} : { cert: client[which].cert, key: client[which].key };
    const r = await tlsExchange(port, { ...trust(), ...pem }, 'secret');
    expect(r.reply.length).toBe(0);
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ end: 'tls-failed', tls_error: reason, attempts: 0 });
    expect(host.stat(0, stat)).toBe(1);
    expect(cluster.picks).toEqual([]);
    expect(host.stat(0, 'tcp_connections_active')).toBe(0);
  });

  it('mTLS optional: a client without a certificate is proxied without identity; an invalid one is refused', async () => {
    const e = await echo();
    const { host, port } = await proxy([e.port], { tls: { client_certificate: { ca_file: 'ca.pem', mode: 'optional' } }, ca: pki.ca.cert });
    expect((await tlsExchange(port, trust(), 'anon')).reply.toString()).toBe('anon');
    expect((await tlsExchange(port, { ...trust(), cert: client.rogue.cert, key: client.rogue.key }, 'rogue')).reply.length).toBe(0);
    await waitFor(() => host.lines.length === 2);
    expect(host.lines[0]).toMatchObject({ end: 'closed' });
    expect(host.lines[0]!.client_identity).toBeUndefined();
    expect(host.lines[1]).toMatchObject({ end: 'tls-failed', tls_error: 'client_certificate_invalid' });
  });

  it('closes a connection whose handshake outlasts handshake_timeout', async () => {
    const e = await echo();
    const { host, l, port } = await proxy([e.port], { tls: { handshake_timeout: '200ms' } });
    const started = Date.now();
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.resume();
    await new Promise((r) => s.once('close', r));
    expect(Date.now() - started).toBeGreaterThanOrEqual(180);
    expect(host.stat(0, 'tls_failed_timeout')).toBe(1);
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ end: 'tls-failed', tls_error: 'timeout' });
    expect(l.active).toBe(0);
  });

  it('counts a client that does not speak TLS as a failed handshake', async () => {
    const e = await echo();
    const { host, port } = await proxy([e.port]);
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.resume();
    s.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    await new Promise((r) => s.once('close', r));
    await waitFor(() => host.stat(0, 'tls_failed_handshake') === 1);
    expect(host.stat(0, 'tls_handshakes')).toBe(0);
  });

  it('ends a connection whose client closes during the handshake at once, not at the timeout', async () => {
    const e = await echo();
    const { host, l, port } = await proxy([e.port], { tls: { handshake_timeout: '20s' } });
    const s = connect(port, '127.0.0.1', () => s.end());
    s.on('error', () => {});
    s.resume();
    await waitFor(() => host.stat(0, 'tls_failed_handshake') === 1, { timeoutMs: 3000 });
    await waitFor(() => l.active === 0);
    expect(host.stat(0, 'tls_failed_timeout')).toBe(0);
  });

  it('resumes sessions with the ticket keys every worker shares', async () => {
    const e = await echo();
    const ticketKeys = randomBytes(48);
    const one = await proxy([e.port], { ticketKeys });
    const two = await proxy([e.port], { ticketKeys });
    const first = await tlsExchange(one.port, trust(), 'a');
    expect(first.session).toBeDefined();
    const again = await tlsExchange(two.port, { ...trust(), session: first.session }, 'b');
    expect(again.reply.toString()).toBe('b');
    expect(again.resumed).toBe(true);
    expect(two.host.stat(0, 'tls_handshakes')).toBe(1);
    expect(two.host.stat(0, 'tls_resumed')).toBe(1);
  });

  it('serves new handshakes with a rotated certificate while open connections go on', async () => {
    const e = await echo();
    const { host, port } = await proxy([e.port]);
    const open = await tlsOpen(port, trust());
    cleanup.push(() => open.destroy());
    expect(fingerprintOf(open.getPeerX509Certificate()!.toString())).toBe(fingerprintOf(server.cert));
    const next = await pki.leaf({ cn: 'db.test', dns: ['db.test'], usage: 'server' });
    host.setTls({ listeners: { db: listenerMaterial([{ pem: next }]) }, clusters: {} });
    const fresh = await tlsOpen(port, trust());
    cleanup.push(() => fresh.destroy());
    expect(fingerprintOf(fresh.getPeerX509Certificate()!.toString())).toBe(fingerprintOf(next.cert));
    open.write('still');
    const got = await new Promise<string>((r) => open.once('data', (d: Buffer) => r(d.toString())));
    expect(got).toBe('still');
  });

  it("resets the client's connection when the upstream resets", async () => {
    const upstream = createServer((s) => s.once('data', () => s.resetAndDestroy()));
    const up = await listen(upstream);
    cleanup.push(() => closeServer(upstream));
    const { host, port } = await proxy([up]);
    const r = await tlsExchange(port, trust(), 'boom');
    expect(r.error).toBe('ECONNRESET');
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ end: 'upstream-reset' });
  });

  it('passes a half-close on: the upstream answers after the client has finished sending', async () => {
    const upstream = createServer({ allowHalfOpen: true }, (s) => {
      const got: Buffer[] = [];
      s.on('data', (d) => got.push(d));
      s.on('end', () => s.end(Buffer.from(Buffer.concat(got)).reverse()));
    });
    const up = await listen(upstream);
    cleanup.push(() => closeServer(upstream));
    const { host, port } = await proxy([up]);
    const r = await tlsExchange(port, trust(), 'abcdef');
    expect(r.reply.toString()).toBe('fedcba');
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ end: 'closed' });
  });

  it('closes a TLS connection idle for idle_timeout', async () => {
    const e = await echo();
    const { host, port } = await proxy([e.port], { listener: { idle_timeout: '200ms' } });
    const s = await tlsOpen(port, trust());
    s.on('error', () => {});
    s.write('x');
    await new Promise((r) => s.once('data', r));
    s.resume();
    await new Promise((r) => s.once('close', r));
    await waitFor(() => host.lines.length === 1);
    expect(host.lines[0]).toMatchObject({ end: 'idle-timeout', bytes_in: 1, bytes_out: 1, sni: 'db.test' });
    expect(host.stat(0, 'tcp_idle_timeouts')).toBe(1);
  });

  it('counts connections in their handshake under max_connections, and closes them with the listener', async () => {
    const e = await echo();
    const { host, l, port } = await proxy([e.port], { listener: { max_connections: 1 } });
    const waiting = connect(port, '127.0.0.1');
    waiting.on('error', () => {});
    waiting.resume();
    await waitFor(() => l.active === 1);
    const r = await tlsExchange(port, trust(), 'x');
    expect(r.reply.length).toBe(0);
    expect(host.stat(0, 'tcp_rejected_max_connections')).toBe(1);
    l.close();
    expect(l.active).toBe(0);
    await new Promise((r) => (waiting.destroyed ? r(null) : waiting.once('close', r)));
    expect(host.lines.map((x) => x.end).sort()).toEqual(['drain', 'overflow']);
    expect(host.state.threadListenerStat(0, 0, 'tcp_connections_active')).toBe(0);
  });
});
