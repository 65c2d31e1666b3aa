/**
 * The endpoint pool over TLS against real node:https upstreams with certificates made in the test:
 * a connection counts only once its handshake is done and the certificate passed the cluster's checks
 * (CA, host name, allowed_sans); a refused certificate or a refused client certificate is a connect
 * failure naming the reason; sessions are resumed per endpoint; warm-up completes the handshake (and
 * verifies over TLS); new material (a rotated CA or client certificate) serves the next connection.
 *
 * The pool's time is a FakeClock; waitFor only waits for socket events.
 */
import { createServer, type Server } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HeaderList, SharedState, type ClusterTlsConfig } from '@pillion/core';
import { EndpointPool, type EndpointPoolOptions, type PoolLimits } from '../src/upstream/endpoint-pool.js';
import type { UpstreamExchange, UpstreamStream } from '../src/upstream/upstream-exchange.js';
import type { WarmupCheck } from '../src/upstream/warmup-probe.js';
import { ClusterTls } from '../src/worker/worker-tls.js';
import { createPki, type Pem, type TestPki } from '../../../test/helpers/certs.js';
import { waitFor } from '../../../test/helpers/wait-for.js';
import { FakeClock } from './fake-clock.js';
import { poolOptions } from './pool-fixtures.js';
import { seeded } from './lb-fixtures.js';

const API = 'spiffe://cluster.local/ns/default/sa/api';
const WEB = 'spiffe://cluster.local/ns/default/sa/web';

let pki: TestPki;
/** The upstream's certificate: DNS api.internal, IP 127.0.0.1, the api SPIFFE ID. */
let server: Pem;
/** A client certificate with the web SPIFFE ID, and another with a second one. */
let client: Pem;
let client2: Pem;

beforeAll(async () => {
  pki = await createPki();
  server = await pki.leaf({ dns: ['api.internal'], ips: ['127.0.0.1'], uris: [API], usage: 'server' });
  client = await pki.leaf({ cn: 'web', uris: [WEB], usage: 'client' });
  client2 = await pki.leaf({ cn: 'web2', uris: [`${WEB}-2`], usage: 'client' });
});

interface Upstream {
  server: Server;
  port: number;
  /** TCP connections accepted. */
  tcp: number;
  /** Handshakes completed, and of those resumed. */
  handshakes: number;
  resumed: number;
  /** The client certificate's URI SAN of each completed handshake ('' for none). */
  peers: string[];
  requests: string[];
}

const servers: Server[] = [];
const pools: EndpointPool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) p.close();
  await Promise.all(
    servers.splice(0).map((s) => {
      s.closeAllConnections();
      return new Promise((r) => s.close(r));
    }),
  );
});
afterAll(() => undefined);

/** An HTTPS upstream answering 200 "ok" (503 on /sick); `requireClient`: it asks for, and requires, a client certificate from the test CA. */
async function upstream(o: { cert?: Pem; requireClient?: boolean; maxVersion?: 'TLSv1.2' | 'TLSv1.3' } = {}): Promise<Upstream> {
  const cert = o.cert ?? server;
  const u: Upstream = { server: undefined as unknown as Server, port: 0, tcp: 0, handshakes: 0, resumed: 0, peers: [], requests: [] };
  u.server = createServer(
    { cert: cert.cert, key: cert.key, ca: pki.ca.cert, requestCert: o.requireClient ?? false, rejectUnauthorized: o.requireClient ?? false, maxVersion: o.maxVersion },
    (req, res) => {
      u.requests.push(req.url ?? '');
      res.statusCode = req.url === '/sick' ? 503 : 200;
      res.end('ok');
    },
  );
  u.server.keepAliveTimeout = 60_000;
  u.server.on('connection', () => u.tcp++);
  u.server.on('secureConnection', (s: TLSSocket) => {
    u.handshakes++;
    if (s.isSessionReused()) u.resumed++;
    u.peers.push(s.getPeerX509Certificate()?.subjectAltName ?? '');
  });
  u.server.on('tlsClientError', () => {});
  servers.push(u.server);
  await new Promise<void>((r) => u.server.listen(0, '127.0.0.1', () => r()));
  u.port = (u.server.address() as import('node:net').AddressInfo).port;
  return u;
}

function clusterTls(config: Partial<ClusterTlsConfig>, material: { ca?: string; cert?: Pem }): ClusterTls {
  const c = { min_version: 'TLSv1.2', alpn: [], ...config } as ClusterTlsConfig;
  const t = new ClusterTls('c', c);
  t.update(c, { ca: material.ca ?? null, cert: material.cert?.cert ?? null, key: material.cert?.key ?? null });
  return t;
}

function pool(port: number, tls: ClusterTls | (() => ClusterTls | undefined), o: Partial<EndpointPoolOptions & PoolLimits> = {}, clock = new FakeClock()) {
  const state = SharedState.create({ maxClusters: 1, maxEndpoints: 1, maxListeners: 1, maxThreads: 1 });
  const p = new EndpointPool(
    poolOptions(port, { connectTimeoutMs: 5000, tls: typeof tls === 'function' ? tls : () => tls, ...o }),
    state,
    state.statsWriter(0),
    { clock, random: seeded(3) },
  );
  pools.push(p);
  const stat = (name: Parameters<SharedState['clusterStat']>[1]) => state.clusterStat(0, name);
  return { p, state, stat };
}

/** An exchange that sends GET `path` and records how it went. */
class Client implements UpstreamExchange {
  status = 0;
  done = false;
  failure: string | null = null;
  error: string | null = null;
  constructor(private readonly path = '/') {}
  onConnection(conn: UpstreamStream): void {
    conn.sendRequest('GET', this.path, new HeaderList(['host', 'api.internal']), { kind: 'none', length: 0 }, null, true, null);
  }
  onConnectFailure(reason: string): void {
    this.failure = reason;
  }
  onResponseHead(status: number): void {
    this.status = status;
  }
  onInformational(): void {}
  onResponseBody(): void {}
  onResponseTrailers(): void {}
  onResponseComplete(): void {
    this.done = true;
  }
  onUpstreamError(_kind: string, detail: string): void {
    this.error = detail;
  }
  onUpstreamDrain(): void {}
  onReadDone(): void {}
}

/** Sends one request through the pool and waits for its end. */
async function request(p: EndpointPool, path = '/'): Promise<Client> {
  const c = new Client(path);
  expect(p.acquire(c, false)).toBeNull();
  await waitFor(() => c.done || c.failure !== null || c.error !== null, { message: `GET ${path} to finish` });
  return c;
}

describe('endpoint pool over TLS', () => {
  it('verifies the upstream by the CA and the address, counts the handshake, and reuses the connection', async () => {
    const u = await upstream();
    const { p, stat } = pool(u.port, clusterTls({ ca_file: 'ca.pem' }, { ca: pki.ca.cert }));
    const first = await request(p);
    expect(first.status).toBe(200);
    const second = await request(p);
    expect(second.status).toBe(200);
    expect(u.tcp).toBe(1);
    expect(u.handshakes).toBe(1);
    expect(stat('upstream_tls_handshakes')).toBe(1);
    expect(stat('upstream_tls_failures')).toBe(0);
    expect(stat('upstream_tls_handshake_ms')).toBeGreaterThan(0);
  });

  it('resumes the session on the next connection to the endpoint', async () => {
    const u = await upstream();
    const { p, stat } = pool(u.port, clusterTls({ ca_file: 'ca.pem', sni: 'api.internal' }, { ca: pki.ca.cert }), { maxRequestsPerConnection: 1 });
    expect((await request(p)).status).toBe(200);
    // TLS 1.3 sends the ticket after the handshake; the pool keeps it as it arrives.
    await waitFor(() => p.tls!.hasSession, { message: 'a session ticket from the upstream' });
    expect((await request(p)).status).toBe(200);
    expect(u.tcp).toBe(2);
    expect(u.resumed).toBe(1);
    expect(stat('upstream_tls_handshakes')).toBe(2);
    expect(stat('upstream_tls_resumed')).toBe(1);
  });

  it('refuses an upstream whose certificate is from another CA, naming the reason', async () => {
    const u = await upstream();
    const { p, stat, state } = pool(u.port, clusterTls({ ca_file: 'rogue.pem' }, { ca: pki.rogue.cert }));
    const c = await request(p);
    // The upstream sends its chain up to the test CA, which the rogue CA does not know.
    expect(c.failure).toBe('tls: self-signed certificate in certificate chain');
    expect(u.requests).toEqual([]);
    expect(stat('upstream_tls_failures')).toBe(1);
    expect(stat('upstream_tls_handshakes')).toBe(0);
    expect(stat('upstream_connect_failures')).toBe(1);
    expect(state.endpointStat(0, 'connect_failures')).toBe(1);
    expect(p.size).toBe(0);
  });

  it('refuses an expired certificate and one not valid yet', async () => {
    const day = 24 * 3600 * 1000;
    const expired = await upstream({ cert: await pki.leaf({ ips: ['127.0.0.1'], notBefore: new Date(Date.now() - 10 * day), notAfter: new Date(Date.now() - day), usage: 'server' }) });
    const early = await upstream({ cert: await pki.leaf({ ips: ['127.0.0.1'], notBefore: new Date(Date.now() + day), notAfter: new Date(Date.now() + 10 * day), usage: 'server' }) });
    const a = pool(expired.port, clusterTls({ ca_file: 'ca.pem' }, { ca: pki.ca.cert }));
    expect((await request(a.p)).failure).toBe('tls: certificate has expired');
    const b = pool(early.port, clusterTls({ ca_file: 'ca.pem' }, { ca: pki.ca.cert }));
    expect((await request(b.p)).failure).toBe('tls: certificate is not yet valid');
    expect(a.stat('upstream_tls_failures') + b.stat('upstream_tls_failures')).toBe(2);
  });

  it('checks the host name against sni', async () => {
    const u = await upstream();
    const ok = pool(u.port, clusterTls({ ca_file: 'ca.pem', sni: 'api.internal' }, { ca: pki.ca.cert }));
    expect((await request(ok.p)).status).toBe(200);
    const bad = pool(u.port, clusterTls({ ca_file: 'ca.pem', sni: 'other.internal' }, { ca: pki.ca.cert }));
    const c = await request(bad.p);
    expect(c.failure).toBe("tls: Hostname/IP does not match certificate's altnames: Host: other.internal. is not in the cert's altnames: DNS:api.internal, IP Address:127.0.0.1, URI:" + API);
    expect(bad.stat('upstream_tls_failures')).toBe(1);
    expect(u.requests).toEqual(['/']);
  });

  it('checks an address the supervisor resolved from a host name under that name (no sni set)', async () => {
    const u = await upstream();
    const ok = pool(u.port, clusterTls({ ca_file: 'ca.pem' }, { ca: pki.ca.cert }), { tlsName: 'api.internal' });
    expect((await request(ok.p)).status).toBe(200);
    const bad = pool(u.port, clusterTls({ ca_file: 'ca.pem' }, { ca: pki.ca.cert }), { tlsName: 'other.internal' });
    expect((await request(bad.p)).failure).toContain('Host: other.internal. is not in the cert');
  });

  it('accepts the upstream by its SPIFFE URI SAN with allowed_sans, and refuses one outside them', async () => {
    const u = await upstream();
    const ok = pool(u.port, clusterTls({ ca_file: 'ca.pem', sni: 'anything.example', allowed_sans: ['spiffe://cluster.local/ns/default/sa/*'] }, { ca: pki.ca.cert }));
    expect((await request(ok.p)).status).toBe(200);
    const bad = pool(u.port, clusterTls({ ca_file: 'ca.pem', allowed_sans: ['spiffe://cluster.local/ns/default/sa/db'] }, { ca: pki.ca.cert }));
    const c = await request(bad.p);
    expect(c.failure).toBe(`tls: upstream certificate SANs (DNS:api.internal, IP Address:127.0.0.1, URI:${API}) match none of allowed_sans`);
    expect(bad.stat('upstream_tls_failures')).toBe(1);
  });

  it('presents the client certificate to an upstream that requires one', async () => {
    const u = await upstream({ requireClient: true });
    const { p, stat } = pool(u.port, clusterTls({ ca_file: 'ca.pem', cert_file: 'c.pem', key_file: 'c.key' }, { ca: pki.ca.cert, cert: client }));
    expect((await request(p)).status).toBe(200);
    expect(u.peers).toEqual([`URI:${WEB}`]);
    expect(stat('upstream_tls_failures')).toBe(0);
  });

  it('TLS 1.3: an upstream refusing the missing client certificate after the handshake is a connect failure', async () => {
    const u = await upstream({ requireClient: true });
    const { p, stat, state } = pool(u.port, clusterTls({ ca_file: 'ca.pem' }, { ca: pki.ca.cert }));
    const c = await request(p);
    expect(c.failure).toBe('tls: tlsv13 alert certificate required');
    expect(c.error).toBeNull();
    expect(u.requests).toEqual([]);
    expect(stat('upstream_tls_failures')).toBe(1);
    expect(stat('upstream_connect_failures')).toBe(1);
    expect(state.endpointStat(0, 'connect_failures')).toBe(1);
    await waitFor(() => p.size === 0, { message: 'the refused connection to leave the pool' });
  });

  it('TLS 1.2: the same refusal comes during the handshake', async () => {
    const u = await upstream({ requireClient: true, maxVersion: 'TLSv1.2' });
    const { p, stat } = pool(u.port, clusterTls({ ca_file: 'ca.pem' }, { ca: pki.ca.cert }));
    const c = await request(p);
    expect(c.failure).toBe('tls: sslv3 alert handshake failure');
    expect(stat('upstream_tls_failures')).toBe(1);
    expect(stat('upstream_tls_handshakes')).toBe(0);
  });

  it('a handshake that never finishes fails at connect_timeout as a TLS failure', async () => {
    // Accepts TCP and never answers the ClientHello.
    let accepted = 0;
    let closed = 0;
    const silent = createNetServer((s) => {
      accepted++;
      s.on('error', () => {});
      s.on('close', () => closed++);
      s.resume(); // reads (and drops) the ClientHello, so the close is seen
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const port = (silent.address() as import('node:net').AddressInfo).port;
    const clock = new FakeClock();
    const { p, stat } = pool(port, clusterTls({ ca_file: 'ca.pem' }, { ca: pki.ca.cert }), { connectTimeoutMs: 500 }, clock);
    const c = new Client();
    expect(p.acquire(c, false)).toBeNull();
    await waitFor(() => accepted === 1, { message: 'the TCP connection' });
    clock.advance(500);
    expect(c.failure).toBe('tls: handshake timeout');
    await waitFor(() => stat('upstream_tls_failures') === 1, { message: 'the failure to be counted' });
    await waitFor(() => closed === 1, { message: 'the connection to be closed' });
    await new Promise((r) => silent.close(r));
  });

  it('warm-up completes the handshake, verifies over TLS, and the first request opens nothing new', async () => {
    const u = await upstream();
    const check: WarmupCheck = { path: '/health', headers: new HeaderList(['host', 'api.internal']), accepts: (s) => s === 200 };
    const { p, state } = pool(u.port, clusterTls({ ca_file: 'ca.pem' }, { ca: pki.ca.cert }), {
      warmup: { connections: 3, concurrency: 3, backoffBaseMs: 10, backoffMaxMs: 100, check },
    });
    p.warm();
    await waitFor(() => p.isWarm, { message: 'the pool to be warm' });
    expect(u.handshakes).toBe(3);
    expect(u.requests).toEqual(['/health', '/health', '/health']);
    expect(state.endpoint(0, 'warm_connections')).toBe(3);
    expect(state.clusterStat(0, 'upstream_tls_handshakes')).toBe(3);
    expect((await request(p)).status).toBe(200);
    expect(u.tcp).toBe(3);
    expect(u.handshakes).toBe(3);
  });

  it('warm-up against an upstream refusing the client certificate backs off instead of reconnecting at once', async () => {
    const u = await upstream({ requireClient: true });
    const clock = new FakeClock();
    const { p, stat } = pool(u.port, clusterTls({ ca_file: 'ca.pem' }, { ca: pki.ca.cert }), { warmup: { connections: 1, concurrency: 1, backoffBaseMs: 50, backoffMaxMs: 200, check: null } }, clock);
    p.warm();
    await waitFor(() => stat('upstream_tls_failures') === 1 && p.size === 0, { message: 'the refusal' });
    // Nothing reconnects until the backoff has passed.
    expect(u.tcp).toBe(1);
    expect(clock.untilNext()).not.toBeNull();
    clock.advance(clock.untilNext()!);
    await waitFor(() => stat('upstream_tls_failures') === 2 && p.size === 0, { message: 'the second refusal' });
    expect(u.tcp).toBe(2);
    expect(p.isWarm).toBe(false);
  });

  it('uses new material for new connections: a rotated client certificate, and no session across contexts', async () => {
    const u = await upstream({ requireClient: true });
    const config = { min_version: 'TLSv1.2', alpn: [], ca_file: 'ca.pem', cert_file: 'c.pem', key_file: 'c.key' } as ClusterTlsConfig;
    const tls = clusterTls(config, { ca: pki.ca.cert, cert: client });
    const { p, stat } = pool(u.port, tls, { maxRequestsPerConnection: 1 });
    expect((await request(p)).status).toBe(200);
    await waitFor(() => p.tls!.hasSession, { message: 'a session ticket' });
    expect(tls.update(config, { ca: pki.ca.cert, cert: client2.cert, key: client2.key })).toBe(true);
    expect((await request(p)).status).toBe(200);
    expect(u.peers).toEqual([`URI:${WEB}`, `URI:${WEB}-2`]);
    // The session came from the old context: the new one made a full handshake.
    expect(u.resumed).toBe(0);
    expect(stat('upstream_tls_resumed')).toBe(0);
  });

  it('fails to connect, never in plaintext, when no material is loaded for the cluster', async () => {
    const u = await upstream();
    const { p, stat } = pool(u.port, () => undefined);
    const c = await request(p);
    expect(c.failure).toBe('tls: no TLS material is loaded for the cluster');
    expect(u.tcp).toBe(0);
    expect(stat('upstream_connect_failures')).toBe(1);
  });
});
