/**
 * HTTP listeners with `tls`, end to end: the real CLI, certificates made in the test and written to
 * files, Node HTTPS clients. The certificate is chosen by SNI (exact name, wildcard, default for any
 * other name or none), a client that verifies the name refuses the default for a name it does not
 * cover, `min_version: TLSv1.3` refuses a TLS 1.2-only client, a handshake that never starts is
 * dropped after `handshake_timeout`, plain HTTP on the TLS port gets nothing, requests go upstream with
 * `x-forwarded-proto: https`, and every failure is counted by reason.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, writePem, type TestPki } from '../helpers/certs.js';
import { freePorts } from '../helpers/ports.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { commonName, httpsGet } from '../helpers/tls-client.js';
import { waitFor } from '../helpers/wait-for.js';

let pillion: PillionProcess;
let upstream: Server;
let pki: TestPki;
let ports: { web: number; modern: number };

beforeAll(async () => {
  pki = await createPki();
  const dir = mkdtempSync(join(tmpdir(), 'pillion-tls-listener-'));
  const fallback = writePem(dir, 'default', await pki.leaf({ cn: 'default.test', dns: ['default.test'], usage: 'server' }));
  const exact = writePem(dir, 'exact', await pki.leaf({ cn: 'api.example.com', dns: ['api.example.com'], usage: 'server' }));
  const wildcard = writePem(dir, 'wildcard', await pki.leaf({ cn: 'apps.example.com', dns: ['*.apps.example.com'], usage: 'server' }));
  const [up, web, modern, admin] = await freePorts(4);
  upstream = createServer((req, res) => res.end(JSON.stringify({ headers: req.headers, url: req.url })));
  await new Promise<void>((r) => upstream.listen(up, '127.0.0.1', () => r()));
  ports = { web: web!, modern: modern! };
  const routes = [{ match: { prefix: '/' }, cluster: 'up' }];
  pillion = await startPillion({
    workers: 1,
    admin: { port: admin! },
    access_log: { enabled: false },
    listeners: [
      {
        name: 'web',
        protocol: 'http',
        port: web,
        routes,
        tls: {
          certificates: [fallback, { ...exact, server_names: ['api.example.com'] }, { ...wildcard, server_names: ['*.apps.example.com'] }],
          handshake_timeout: '300ms',
        },
      },
      { name: 'modern', protocol: 'http', port: modern, routes, tls: { certificates: [fallback], min_version: 'TLSv1.3' } },
    ],
    clusters: [{ name: 'up', endpoints: [{ address: '127.0.0.1', port: up }] }],
  });
});

afterAll(async () => {
  await pillion?.stop();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
});

const failures = async (listener: string, reason: string) => metric(await pillion.metrics(), 'pillion_tls_handshake_failures_total', { listener, reason });

describe('server certificates by SNI', () => {
  it.each([
    ['an exact server name', 'api.example.com', 'api.example.com'],
    ['an exact name in another case', 'API.Example.COM', 'api.example.com'],
    ['a name under a wildcard', 'shop.apps.example.com', 'apps.example.com'],
    ['a deeper name under a wildcard', 'a.b.apps.example.com', 'apps.example.com'],
    ['the wildcard suffix itself (not covered)', 'apps.example.com', 'default.test'],
    ['an unknown name', 'unknown.example.org', 'default.test'],
    ['no SNI at all', '', 'default.test'],
  ])('%s gets its certificate', async (_what, servername, cn) => {
    const r = await httpsGet(ports.web, { servername, ca: pki.ca.cert });
    expect(r.status).toBe(200);
    expect(commonName(r.peer)).toBe(cn);
  });

  it('a client that checks the name refuses the default certificate for a name it does not cover', async () => {
    await expect(httpsGet(ports.web, { servername: 'api.example.com', ca: pki.ca.cert, checkName: 'verify' })).resolves.toMatchObject({ status: 200 });
    const before = (await failures('web', 'handshake')) ?? 0;
    await expect(httpsGet(ports.web, { servername: 'wrong.example.org', ca: pki.ca.cert, checkName: 'verify' })).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    await waitFor(async () => (await failures('web', 'handshake')) === before + 1, { message: 'the refused handshake to be counted' });
  });

  it('requests go upstream with x-forwarded-proto https; handshakes are counted', async () => {
    const before = metric(await pillion.metrics(), 'pillion_tls_handshakes_total', { listener: 'web' }) ?? 0;
    const r = await httpsGet(ports.web, { servername: 'api.example.com', ca: pki.ca.cert, path: '/x?y=1', headers: { 'x-forwarded-proto': 'http' } });
    const seen = JSON.parse(r.body) as { headers: Record<string, string>; url: string };
    expect(seen.url).toBe('/x?y=1');
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(r.protocol).toBe('TLSv1.3');
    expect(metric(await pillion.metrics(), 'pillion_tls_handshakes_total', { listener: 'web' })).toBe(before + 1);
  });
});

describe('versions, timeouts and non-TLS clients', () => {
  it('min_version TLSv1.3 refuses a TLS 1.2-only client and serves a TLS 1.3 one', async () => {
    await expect(httpsGet(ports.modern, { ca: pki.ca.cert, maxVersion: 'TLSv1.2' })).rejects.toMatchObject({ code: 'EPROTO', message: expect.stringMatching(/protocol version/) });
    await waitFor(async () => (await failures('modern', 'handshake')) === 1, { message: 'the TLS 1.2 handshake to be counted' });
    const r = await httpsGet(ports.modern, { ca: pki.ca.cert });
    expect(r.status).toBe(200);
    expect(r.protocol).toBe('TLSv1.3');
  });

  it('the default minimum, TLS 1.2, serves a TLS 1.2-only client', async () => {
    const r = await httpsGet(ports.web, { ca: pki.ca.cert, maxVersion: 'TLSv1.2' });
    expect(r.status).toBe(200);
    expect(r.protocol).toBe('TLSv1.2');
  });

  it('a client that never starts its handshake is dropped after handshake_timeout and counted', async () => {
    const started = performance.now();
    const socket = connect(ports.web, '127.0.0.1');
    await new Promise<void>((resolve) => socket.on('close', () => resolve()).on('error', () => undefined));
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(waited).toBeLessThan(5000);
    await waitFor(async () => (await failures('web', 'timeout')) === 1, { message: 'the handshake timeout to be counted' });
  });

  it('plain HTTP on a TLS port gets no HTTP answer, and the connection is counted as a failed handshake', async () => {
    const before = (await failures('modern', 'handshake')) ?? 0;
    const reply = await new Promise<string>((resolve) => {
      const socket = connect(ports.modern, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
      let data = '';
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => (data += d));
      socket.on('close', () => resolve(data));
      socket.on('error', () => undefined);
    });
    expect(reply).not.toMatch(/^HTTP\//);
    await waitFor(async () => (await failures('modern', 'handshake')) === before + 1, { message: 'the plain-text connection to be counted' });
  });
});
