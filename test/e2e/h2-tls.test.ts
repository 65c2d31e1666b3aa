/**
 * HTTP/2 on HTTP listeners with `tls`, end to end: the real CLI, certificates made in the test, an
 * HTTP/1.1 upstream that answers with the request it received. With the default `tls.alpn` one port
 * serves a node:http2 client (h2 by ALPN) and an HTTPS client (http/1.1, and one offering no ALPN);
 * with `alpn: [http/1.1]` a client that only speaks h2 gets no HTTP/2; client certificates are
 * required of h2 connections as of HTTP/1.1 ones, and the upstream sees the same
 * x-forwarded-client-cert either way.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, writePem, type Pem, type TestPki } from '../helpers/certs.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freePorts } from '../helpers/ports.js';
import { httpsGet } from '../helpers/tls-client.js';
import { waitFor } from '../helpers/wait-for.js';
import { h2Connect, h2Request, type H2Session } from './h2-clients.js';

const PROXY = 'spiffe://cluster.local/ns/default/sa/pillion';
const WEB = 'spiffe://cluster.local/ns/default/sa/web';

let pillion: PillionProcess;
let upstream: Server;
let pki: TestPki;
let client: Pem;
let rogue: Pem;
let ports: { both: number; h1only: number; mtls: number };
const sessions: H2Session[] = [];

interface Seen {
  url: string;
  headers: Record<string, string>;
}

beforeAll(async () => {
  pki = await createPki();
  const dir = mkdtempSync(join(tmpdir(), 'pillion-h2-tls-'));
  const server = writePem(dir, 'server', await pki.leaf({ cn: 'localhost', dns: ['localhost'], uris: [PROXY], usage: 'server' }));
  const ca_file = join(dir, 'ca.pem');
  writeFileSync(ca_file, pki.ca.cert);
  client = await pki.leaf({ cn: 'web', uris: [WEB], usage: 'client' });
  rogue = await pki.leaf({ cn: 'web', uris: [WEB], usage: 'client', issuer: 'rogue' });
  const [up, admin, both, h1only, mtls] = await freePorts(5);
  ports = { both: both!, h1only: h1only!, mtls: mtls! };
  upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(JSON.stringify({ url: req.url, headers: req.headers })));
  });
  await new Promise<void>((r) => upstream.listen(up, '127.0.0.1', () => r()));
  const routes = [{ match: { prefix: '/' }, cluster: 'up' }];
  pillion = await startPillion({
    workers: 1,
    admin: { port: admin! },
    access_log: { enabled: false },
    listeners: [
      { name: 'both', protocol: 'http', port: ports.both, routes, tls: { certificates: [server] } },
      { name: 'h1only', protocol: 'http', port: ports.h1only, routes, tls: { certificates: [server], alpn: ['http/1.1'] } },
      {
        name: 'mtls',
        protocol: 'http',
        port: ports.mtls,
        routes,
        tls: { certificates: [server], client_certificate: { ca_file, allowed_sans: ['spiffe://cluster.local/ns/default/*'] }, forward_client_cert: 'sanitize_set' },
      },
    ],
    clusters: [{ name: 'up', endpoints: [{ address: '127.0.0.1', port: up }] }],
  });
});

afterAll(async () => {
  for (const s of sessions) s.session.destroy();
  await pillion?.stop();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
});

async function h2(port: number, options: { cert?: Pem; alpn?: string[] } = {}): Promise<H2Session> {
  const s = await h2Connect(`https://localhost:${port}`, {
    ca: pki.ca.cert,
    host: '127.0.0.1',
    servername: 'localhost',
    ...(options.cert ? { cert: options.cert.cert, key: options.cert.key } : {}),
    ...(options.alpn ? { ALPNProtocols: options.alpn } : {}),
  });
  sessions.push(s);
  return s;
}

/** An HTTPS request offering `alpn` (none: no ALPN extension at all); the protocol agreed and the answer. */
function https(port: number, alpn: string[] | null, path = '/'): Promise<{ alpn: string | false | null; status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path, servername: 'localhost', ca: pki.ca.cert, agent: false, ...(alpn ? { ALPNProtocols: alpn } : {}) },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ alpn: (res.socket as TLSSocket).alpnProtocol, status: res.statusCode!, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('the default alpn: h2 and http/1.1 on one port', () => {
  it('a node:http2 client gets h2 by ALPN; the upstream sees x-forwarded-proto https; counted as an HTTP/2 connection', async () => {
    const { session } = await h2(ports.both);
    expect(session.alpnProtocol).toBe('h2');
    const r = await h2Request(session, { ':path': '/h2?x=1' });
    expect(r.status).toBe(200);
    const seen = JSON.parse(r.body.toString()) as Seen;
    expect(seen.url).toBe('/h2?x=1');
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(seen.headers.host).toBe(`localhost:${ports.both}`);
    expect(metric(await pillion.metrics(), 'pillion_h2_connections_total', { listener: 'both' })).toBeGreaterThanOrEqual(1);
  });

  it('an HTTPS client offering http/1.1 gets HTTP/1.1 on the same port', async () => {
    const r = await https(ports.both, ['http/1.1'], '/h1');
    expect(r.alpn).toBe('http/1.1');
    expect(r.status).toBe(200);
    expect((JSON.parse(r.body) as Seen).url).toBe('/h1');
  });

  it('a client offering no ALPN at all gets HTTP/1.1', async () => {
    const r = await https(ports.both, null, '/no-alpn');
    expect(r.alpn).toBe(false);
    expect(r.status).toBe(200);
    expect((JSON.parse(r.body) as Seen).url).toBe('/no-alpn');
  });

  it('h2 and HTTP/1.1 clients at once, many requests each: every answer is its own', async () => {
    const { session } = await h2(ports.both);
    const results = await Promise.all([
      ...Array.from({ length: 40 }, (_, i) => h2Request(session, { ':path': `/mixed/h2/${i}` }).then((r) => [`/mixed/h2/${i}`, (JSON.parse(r.body.toString()) as Seen).url])),
      ...Array.from({ length: 10 }, (_, i) => https(ports.both, ['http/1.1'], `/mixed/h1/${i}`).then((r) => [`/mixed/h1/${i}`, (JSON.parse(r.body) as Seen).url])),
    ]);
    for (const [asked, answered] of results) expect(answered).toBe(asked);
  });
});

describe('alpn: [http/1.1]', () => {
  it('a client that offers only h2 gets no HTTP/2 session', async () => {
    const outcome = await h2(ports.h1only, { alpn: ['h2'] }).then(
      async ({ session }) => `h2 session (${String(session.alpnProtocol)}): ${(await h2Request(session, { ':path': '/' })).status}`,
      (e: Error & { code?: string }) => e.code ?? e.message,
    );
    // No protocol in common: the server ends the handshake with the no_application_protocol alert.
    expect(outcome).toBe('ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL');
  });

  it('HTTPS clients are served HTTP/1.1, with or without ALPN', async () => {
    expect(await https(ports.h1only, ['h2', 'http/1.1'])).toMatchObject({ alpn: 'http/1.1', status: 200 });
    expect(await https(ports.h1only, null)).toMatchObject({ alpn: false, status: 200 });
  });
});

describe('client certificates on h2 connections', () => {
  const failures = async (reason: string) => metric(await pillion.metrics(), 'pillion_tls_handshake_failures_total', { listener: 'mtls', reason }) ?? 0;

  it('without a certificate: refused before any request is served, counted as no_client_certificate', async () => {
    const before = await failures('no_client_certificate');
    const outcome = await h2(ports.mtls).then(
      ({ session }) => h2Request(session, { ':path': '/no-cert' }).then((r) => `answered ${r.status}`, (e: Error) => `request failed: ${e.message}`),
      (e: Error) => `connect failed: ${e.message}`,
    );
    // The TLS 1.3 handshake completes, then the connection is closed before the client's SETTINGS are answered.
    expect(outcome).toMatch(/^connect failed: /);
    await waitFor(async () => (await failures('no_client_certificate')) === before + 1, { message: 'the refusal to be counted' });
  });

  it('with a certificate from another CA: refused, counted as client_certificate_invalid', async () => {
    const before = await failures('client_certificate_invalid');
    const outcome = await h2(ports.mtls, { cert: rogue }).then(
      ({ session }) => h2Request(session, { ':path': '/rogue' }).then((r) => `answered ${r.status}`, (e: Error) => `request failed: ${e.message}`),
      (e: Error) => `connect failed: ${e.message}`,
    );
    // The TLS 1.3 handshake completes, then the connection is closed before the client's SETTINGS are answered.
    expect(outcome).toMatch(/^connect failed: /);
    await waitFor(async () => (await failures('client_certificate_invalid')) === before + 1, { message: 'the refusal to be counted' });
  });

  it('with a valid certificate: served over h2, and the upstream gets the same x-forwarded-client-cert as over HTTP/1.1', async () => {
    const { session } = await h2(ports.mtls, { cert: client });
    expect(session.alpnProtocol).toBe('h2');
    // A value the client sends itself is replaced (sanitize_set).
    const r = await h2Request(session, { ':path': '/mtls', 'x-forwarded-client-cert': 'By=spiffe://evil.example/sa/x;Hash=00' });
    expect(r.status).toBe(200);
    const overH2 = (JSON.parse(r.body.toString()) as Seen).headers['x-forwarded-client-cert'];
    const h1 = await httpsGet(ports.mtls, { servername: 'localhost', ca: pki.ca.cert, cert: client.cert, key: client.key, path: '/mtls' });
    expect(h1.status).toBe(200);
    const overH1 = (JSON.parse(h1.body) as Seen).headers['x-forwarded-client-cert'];
    expect(overH1).toMatch(new RegExp(`^By=${PROXY};Hash=[0-9a-f]{64};Subject="CN=web";URI=${WEB}$`));
    expect(overH2).toBe(overH1);
  });
});
