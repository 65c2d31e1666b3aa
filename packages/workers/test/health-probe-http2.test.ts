/**
 * The HTTP check of a cluster whose protocol is HTTP/2, against real servers on 127.0.0.1: h2c to a
 * cleartext node:http2 server (which an HTTP/1.1 check cannot talk to), h2 to a TLS HTTP/2 server with
 * the cluster's certificates, and auto, which speaks whatever ALPN agrees on (h2 with a server that
 * offers it, HTTP/1.1 with one that does not). A TCP check of an h2 cluster offers h2 by ALPN. Every
 * check closes its session, whichever way it ended.
 */
import { createServer as createHttpsServer } from 'node:https';
import {
  createSecureServer,
  createServer as createH2Server,
  type Http2SecureServer,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from 'node:http2';
import type { AddressInfo, Server } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseExpectedStatuses, type ClusterTlsConfig, type UpstreamProtocol } from '@pillion/core';
import { runProbe, type ProbeSpec } from '../src/supervisor/health-probe.js';
import { ClusterTls } from '../src/worker/worker-tls.js';
import { createPki, type Pem, type TestPki } from '../../../test/helpers/certs.js';
import { waitFor } from '../../../test/helpers/wait-for.js';

let pki: TestPki;
let serverPem: Pem;
let roguePem: Pem;

beforeAll(async () => {
  pki = await createPki();
  serverPem = await pki.leaf({ dns: ['api.internal'], ips: ['127.0.0.1'], usage: 'server' });
  roguePem = await pki.leaf({ dns: ['api.internal'], ips: ['127.0.0.1'], issuer: 'rogue', usage: 'server' });
});

/** What a server saw: path, authority (or Host), HTTP version. */
interface Seen {
  path: string;
  authority: string;
  version: string;
}

const servers: Server[] = [];
/** Sessions still open on the HTTP/2 servers of the test. */
const sessions = new Set<ServerHttp2Session>();
afterEach(async () => {
  await waitFor(() => sessions.size === 0, { message: 'every check session to close' });
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** Answers /health 200, /hang never, everything else 503; records what it saw. */
function handler(seen: Seen[]) {
  return (req: Http2ServerRequest | IncomingMessage, res: Http2ServerResponse | ServerResponse) => {
    seen.push({ path: req.url ?? '', authority: (req.headers[':authority'] as string | undefined) ?? req.headers.host ?? '', version: req.httpVersion });
    if (req.url === '/hang') return;
    res.statusCode = req.url === '/health' ? 200 : 503;
    res.end('body the check does not read');
  };
}

async function listen(s: Server, seenSessions = true): Promise<number> {
  servers.push(s);
  if (seenSessions) {
    s.on('session', (session: ServerHttp2Session) => {
      sessions.add(session);
      session.on('close', () => sessions.delete(session));
      session.on('error', () => {});
    });
  }
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return (s.address() as AddressInfo).port;
}

function h2c(seen: Seen[]): Promise<number> {
  const s: Http2Server = createH2Server(handler(seen));
  return listen(s as unknown as Server);
}

function h2Tls(seen: Seen[], o: { pem?: Pem; allowHTTP1?: boolean } = {}): Promise<number> {
  const pem = o.pem ?? serverPem;
  const s: Http2SecureServer = createSecureServer({ cert: pem.cert, key: pem.key, allowHTTP1: o.allowHTTP1 ?? false }, handler(seen));
  s.on('tlsClientError', () => {});
  return listen(s as unknown as Server);
}

function http1Tls(seen: Seen[]): Promise<number> {
  const s = createHttpsServer({ cert: serverPem.cert, key: serverPem.key }, handler(seen));
  s.on('tlsClientError', () => {});
  return listen(s, false);
}

function clusterTls(config: Partial<ClusterTlsConfig> = {}): ClusterTls {
  const c = { min_version: 'TLSv1.2', alpn: [], ca_file: 'ca.pem', ...config } as ClusterTlsConfig;
  const t = new ClusterTls('c', c);
  t.update(c, { ca: pki.ca.cert, cert: null, key: null });
  return t;
}

const http = (protocol: UpstreamProtocol, o: { path?: string; host?: string; tls?: ClusterTls } = {}): ProbeSpec => ({
  kind: 'http',
  path: o.path ?? '/health',
  host: o.host,
  statuses: parseExpectedStatuses(['200']),
  tls: o.tls,
  protocol,
});

describe('HTTP check over h2c', () => {
  it('speaks HTTP/2 with prior knowledge and judges the status', async () => {
    const seen: Seen[] = [];
    const port = await h2c(seen);
    expect(await runProbe(http('h2c'), '127.0.0.1', port, 2000)).toEqual({ ok: true, detail: 'status 200' });
    expect(await runProbe(http('h2c', { path: '/other', host: 'svc.local' }), '127.0.0.1', port, 2000)).toEqual({ ok: false, detail: 'status 503' });
    expect(seen).toEqual([
      { path: '/health', authority: `127.0.0.1:${port}`, version: '2.0' },
      { path: '/other', authority: 'svc.local', version: '2.0' },
    ]);
  });

  it('an HTTP/1.1 check cannot talk to an h2c-only server', async () => {
    const seen: Seen[] = [];
    const port = await h2c(seen);
    expect(await runProbe(http('http1'), '127.0.0.1', port, 2000)).toMatchObject({ ok: false });
    expect(seen).toEqual([]);
  });

  it('fails at the timeout when the answer never comes', async () => {
    const port = await h2c([]);
    expect(await runProbe(http('h2c', { path: '/hang' }), '127.0.0.1', port, 200)).toEqual({ ok: false, detail: 'timeout after 200ms' });
  });

  it('fails when nothing listens', async () => {
    const port = await h2c([]);
    await new Promise((r) => servers.pop()!.close(r));
    expect(await runProbe(http('h2c'), '127.0.0.1', port, 2000)).toEqual({ ok: false, detail: `ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:${port}` });
  });
});

describe('HTTP check over TLS HTTP/2', () => {
  it('h2: speaks HTTP/2 with the cluster TLS', async () => {
    const seen: Seen[] = [];
    const port = await h2Tls(seen);
    expect(await runProbe(http('h2', { tls: clusterTls() }), '127.0.0.1', port, 2000)).toEqual({ ok: true, detail: 'status 200' });
    expect(seen).toEqual([{ path: '/health', authority: `127.0.0.1:${port}`, version: '2.0' }]);
  });

  it('h2: fails on a certificate the cluster refuses', async () => {
    const port = await h2Tls([], { pem: roguePem });
    expect(await runProbe(http('h2', { tls: clusterTls() }), '127.0.0.1', port, 2000)).toEqual({ ok: false, detail: 'tls: unable to verify the first certificate' });
  });

  it('auto: h2 with a server that offers both, HTTP/1.1 with one that offers only HTTP/1.1', async () => {
    const both: Seen[] = [];
    const bothPort = await h2Tls(both, { allowHTTP1: true });
    expect(await runProbe(http('auto', { tls: clusterTls() }), '127.0.0.1', bothPort, 2000)).toEqual({ ok: true, detail: 'status 200' });
    expect(both.map((s) => s.version)).toEqual(['2.0']);
    const one: Seen[] = [];
    const onePort = await http1Tls(one);
    expect(await runProbe(http('auto', { tls: clusterTls() }), '127.0.0.1', onePort, 2000)).toEqual({ ok: true, detail: 'status 200' });
    expect(await runProbe(http('auto', { tls: clusterTls(), path: '/other' }), '127.0.0.1', onePort, 2000)).toEqual({ ok: false, detail: 'status 503' });
    expect(one).toEqual([
      { path: '/health', authority: `127.0.0.1:${onePort}`, version: '1.1' },
      { path: '/other', authority: `127.0.0.1:${onePort}`, version: '1.1' },
    ]);
  });

  it('a TCP check of an h2 cluster offers h2 by ALPN', async () => {
    const port = await h2Tls([]);
    const tls = clusterTls();
    expect(await runProbe({ kind: 'tcp', tls, alpn: ['h2'] }, '127.0.0.1', port, 2000)).toEqual({ ok: true, detail: 'handshake done' });
  });
});

