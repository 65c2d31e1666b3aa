/**
 * HTTP/2 to endpoints over TLS (cluster protocol h2 and auto) against real node:http2 and node:https
 * servers with certificates made in the test: ALPN offers h2 (and http/1.1 for auto), the endpoint's
 * certificate is checked as for HTTP/1.1 pools, warm-up completes the handshake before any request,
 * and `auto` serves an endpoint that chose HTTP/1.1 with HTTP/1.1 connections.
 */
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterTlsConfig } from '@pillion/core';
import { ClusterTls } from '../src/worker/worker-tls.js';
import { createPki, type Pem, type TestPki } from '../../../test/helpers/certs.js';
import { waitFor } from '../../../test/helpers/wait-for.js';
import { closePools, closeServers, get, h2Pool, h2Upstream, request } from './h2-fixtures.js';

let pki: TestPki;
let server: Pem;
let client: Pem;

beforeAll(async () => {
  pki = await createPki();
  server = await pki.leaf({ dns: ['api.internal'], ips: ['127.0.0.1'], usage: 'server' });
  client = await pki.leaf({ cn: 'web', usage: 'client' });
});

const https: HttpsServer[] = [];
afterEach(async () => {
  closePools();
  await closeServers();
  await Promise.all(
    https.splice(0).map((s) => {
      s.closeAllConnections();
      return new Promise((r) => s.close(r));
    }),
  );
});
afterAll(() => undefined);

function clusterTls(config: Partial<ClusterTlsConfig> = {}, cert?: Pem): () => ClusterTls {
  const c = { min_version: 'TLSv1.2', alpn: [], ...config } as ClusterTlsConfig;
  const t = new ClusterTls('c', c);
  t.update(c, { ca: pki.ca.cert, cert: cert?.cert ?? null, key: cert?.key ?? null });
  return () => t;
}

/** An HTTPS (HTTP/1.1) server answering "h1 <path>"; `alpn`: the protocols it selects from (none: no ALPN). */
async function http1Server(alpn?: string[]): Promise<{ port: number; requests: string[]; handshakes: number }> {
  const info = { port: 0, requests: [] as string[], handshakes: 0 };
  const s = createHttpsServer({ cert: server.cert, key: server.key, ALPNProtocols: alpn }, (req, res) => {
    info.requests.push(req.url ?? '');
    res.end(`h1 ${req.url}`);
  });
  s.on('secureConnection', () => info.handshakes++);
  https.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  info.port = (s.address() as AddressInfo).port;
  return info;
}

describe('protocol h2', () => {
  it('offers h2 by ALPN, checks the certificate, and multiplexes over one TLS session with https as :scheme', async () => {
    const u = await h2Upstream({ tls: { ...server } });
    let alpn: string | false | null = null;
    u.server.on('secureConnection', (s: TLSSocket) => (alpn = s.alpnProtocol));
    const { pool, stat } = h2Pool(u.port, { protocol: 'h2', tls: clusterTls() });
    const rs = Array.from({ length: 5 }, (_, i) => request(pool, get(`/t${i}`)));
    await waitFor(() => rs.every((r) => r.settled));
    expect(rs.map((r) => r.text)).toEqual(rs.map((_, i) => `ok /t${i}`));
    expect(alpn).toBe('h2');
    expect(u.sessions.length).toBe(1);
    expect(u.streams[0]!.headers[':scheme']).toBe('https');
    expect(stat('upstream_tls_handshakes')).toBe(1);
    expect(stat('upstream_h2_sessions')).toBe(1);
  });

  it('fails setup when the certificate does not match allowed_sans, naming the reason', async () => {
    const u = await h2Upstream({ tls: { ...server } });
    const { pool, stat } = h2Pool(u.port, { protocol: 'h2', tls: clusterTls({ allowed_sans: ['spiffe://cluster.local/ns/x/sa/other'] }) });
    const r = request(pool, get('/'));
    await waitFor(() => r.settled);
    expect(r.failure).toMatch(/^tls: upstream certificate SANs .* match none of allowed_sans$/);
    expect(u.streams.length).toBe(0);
    expect(stat('upstream_connect_failures')).toBe(1);
    expect(stat('upstream_tls_failures')).toBe(1);
  });

  it('fails setup when the endpoint does not choose h2 by ALPN', async () => {
    const h1 = await http1Server(['http/1.1']);
    const { pool } = h2Pool(h1.port, { protocol: 'h2', tls: clusterTls() });
    const r = request(pool, get('/'));
    await waitFor(() => r.settled);
    expect(r.failure).toMatch(/^tls: /);
    expect(h1.requests).toEqual([]);
  });

  it('reports an endpoint that refuses the client certificate after the handshake as a TLS connect failure', async () => {
    const { createSecureServer } = await import('node:http2');
    const strict = createSecureServer({ cert: server.cert, key: server.key, ca: pki.ca.cert, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'], minVersion: 'TLSv1.3' });
    strict.on('stream', (s) => (s.respond({ ':status': 200 }), s.end('ok')));
    strict.on('tlsClientError', () => {});
    await new Promise<void>((r) => strict.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (strict.address() as AddressInfo).port;
      const { pool, stat } = h2Pool(port, { protocol: 'h2', tls: clusterTls() });
      const r = request(pool, get('/'));
      await waitFor(() => r.settled);
      expect(r.failure).toMatch(/^tls: .*certificate required/);
      expect(stat('upstream_connect_failures')).toBe(1);
      // With the client certificate it goes through.
      const ok = h2Pool(port, { protocol: 'h2', tls: clusterTls({}, client) });
      const r2 = request(ok.pool, get('/'));
      await waitFor(() => r2.settled);
      expect(r2.text).toBe('ok');
    } finally {
      closePools();
      await new Promise((r) => strict.close(r));
    }
  });

  it('warm-up completes the TLS handshake and the session before the first request', async () => {
    const u = await h2Upstream({ tls: { ...server } });
    let handshakes = 0;
    u.server.on('secureConnection', () => handshakes++);
    const warmup = { connections: 1, concurrency: 1, backoffBaseMs: 10, backoffMaxMs: 100, check: null };
    const { pool, stat } = h2Pool(u.port, { protocol: 'h2', tls: clusterTls(), warmup });
    pool.warm();
    await waitFor(() => pool.isWarm, { message: 'the pool to report itself warm' });
    expect(handshakes).toBe(1);
    expect(stat('upstream_tls_handshakes')).toBe(1);
    expect(u.streams.length).toBe(0);
    const r = request(pool, get('/'));
    expect(r.stream).not.toBeNull(); // the warm session took it at once
    await waitFor(() => r.complete);
    expect(handshakes).toBe(1);
  });
});

describe('protocol auto', () => {
  it('uses HTTP/2 sessions when the endpoint chooses h2', async () => {
    const u = await h2Upstream({ tls: { ...server, alpn: ['h2', 'http/1.1'], allowHTTP1: true } });
    let alpn: string | false | null = null;
    u.server.on('secureConnection', (s: TLSSocket) => (alpn = s.alpnProtocol));
    const { pool, stat } = h2Pool(u.port, { protocol: 'auto', tls: clusterTls() });
    const rs = [request(pool, get('/a')), request(pool, get('/b'))];
    await waitFor(() => rs.every((r) => r.settled));
    expect(rs.map((r) => r.text)).toEqual(['ok /a', 'ok /b']);
    expect(alpn).toBe('h2');
    expect(pool.http1).toBeNull();
    expect(u.streams.length).toBe(2);
    expect(stat('upstream_h2_sessions')).toBe(1);
  });

  it('warms the endpoint with HTTP/1.1 connections once it chose HTTP/1.1', async () => {
    const h1 = await http1Server(['http/1.1']);
    const warmup = { connections: 2, concurrency: 2, backoffBaseMs: 10, backoffMaxMs: 100, check: null };
    const { pool, state, stat } = h2Pool(h1.port, { protocol: 'auto', tls: clusterTls(), warmup }, { sessionsPerEndpoint: 1 });
    pool.warm();
    await waitFor(() => pool.isWarm, { message: 'the HTTP/1.1 pool to report itself warm' });
    expect(pool.http1).not.toBeNull();
    expect(pool.idleCount).toBe(2);
    expect(state.endpoint(0, 'warm_pools')).toBe(1);
    // The one TLS connection that asked (and was closed), then the HTTP/1.1 pool's two.
    expect(stat('upstream_tls_handshakes')).toBe(3);
    expect(stat('upstream_connect_failures')).toBe(0);
    const r = request(pool, get('/w'));
    expect(r.stream).not.toBeNull();
    await waitFor(() => r.settled);
    expect(r.text).toBe('h1 /w');
  });

  for (const [name, alpn] of [['http/1.1', ['http/1.1']], ['no protocol', undefined]] as const) {
    it(`serves the endpoint with HTTP/1.1 connections when it chooses ${name}`, async () => {
      const h1 = await http1Server(alpn ? [...alpn] : undefined);
      const { pool, stat } = h2Pool(h1.port, { protocol: 'auto', tls: clusterTls() });
      const rs = [request(pool, get('/a')), request(pool, get('/b'))];
      await waitFor(() => rs.every((r) => r.settled));
      expect(rs.map((r) => [r.status, r.text])).toEqual([
        [200, 'h1 /a'],
        [200, 'h1 /b'],
      ]);
      // The exchange sees the stream come from the pool it asked.
      expect(rs.every((r) => r.stream!.pool === pool)).toBe(true);
      expect(pool.http1).not.toBeNull();
      expect(stat('upstream_h2_sessions')).toBe(0);
      expect(stat('upstream_connect_failures')).toBe(0);
      // From then on every request goes over HTTP/1.1, on the HTTP/1.1 pool's keep-alive connections.
      await waitFor(() => pool.idleCount > 0);
      const later = request(pool, get('/c'));
      await waitFor(() => later.settled);
      expect(later.text).toBe('h1 /c');
      expect(h1.requests).toEqual(['/a', '/b', '/c']);
      expect(pool.pending).toBe(0);
    });
  }
});
