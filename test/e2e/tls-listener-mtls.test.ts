/**
 * Mutual TLS on HTTP listeners, end to end: the real CLI, a CA, a rogue CA and client certificates
 * with SPIFFE URI SANs made in the test, Node HTTPS clients and undici. `client_certificate.mode:
 * require` refuses a client without a certificate, with one from another CA, an expired one, and one
 * outside `allowed_sans`, and serves a valid one; `optional` serves a client without one (no identity)
 * and still refuses an invalid one. The verified identity routes requests (`match.client_identity`:
 * a mismatch is 403, no identity is 403), reaches filters (the SDK's `clientIdentity`) and the access
 * log, and goes upstream in `x-forwarded-client-cert` in each `forward_client_cert` mode; a header the
 * client sent itself never passes on a listener that does not forward it. Refusals are counted by reason.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identityOf, xfccElement } from '@pillion/core';
import { compileCached } from '../../packages/sdk/test/helpers/compile-cached.js';
import { createPki, writePem, type Pem, type TestPki } from '../helpers/certs.js';
import { freePorts } from '../helpers/ports.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { httpsGet } from '../helpers/tls-client.js';
import { waitFor } from '../helpers/wait-for.js';

const PROXY = 'spiffe://cluster.local/ns/default/sa/pillion';
const WEB = 'spiffe://cluster.local/ns/default/sa/web';
const ADMIN = 'spiffe://cluster.local/ns/default/sa/admin';
const INJECTED = 'By=spiffe://evil.example/sa/x;Hash=00ff';
const CLIENT_IDENTITY_FILTER = fileURLToPath(new URL('../../packages/workers/test/fixtures/client-identity.ts', import.meta.url));

let pillion: PillionProcess;
let upstream: Server;
let pki: TestPki;
let clients: Record<'web' | 'admin' | 'batch' | 'otherNs' | 'rogue' | 'expired', Pem>;
type Name = 'mtls' | 'optional' | 'forwardOnly' | 'append' | 'set' | 'plain';
let ports: Record<Name, number>;

beforeAll(async () => {
  pki = await createPki();
  const dir = mkdtempSync(join(tmpdir(), 'pillion-tls-mtls-'));
  const server = writePem(dir, 'server', await pki.leaf({ cn: 'localhost', dns: ['localhost'], uris: [PROXY], usage: 'server' }));
  const ca_file = join(dir, 'ca.pem');
  writeFileSync(ca_file, pki.ca.cert);
  const wasm = join(dir, 'client-identity.wasm');
  writeFileSync(wasm, await compileCached(CLIENT_IDENTITY_FILTER));
  const day = 86400_000;
  clients = {
    web: await pki.leaf({ cn: 'web', uris: [WEB], usage: 'client' }),
    admin: await pki.leaf({ cn: 'admin', uris: [ADMIN], usage: 'client' }),
    batch: await pki.leaf({ cn: 'batch', dns: ['batch.internal'], usage: 'client' }),
    otherNs: await pki.leaf({ cn: 'web', uris: ['spiffe://cluster.local/ns/other/sa/web'], usage: 'client' }),
    rogue: await pki.leaf({ cn: 'web', uris: [WEB], usage: 'client', issuer: 'rogue' }),
    expired: await pki.leaf({ cn: 'web', uris: [WEB], usage: 'client', notBefore: new Date(Date.now() - 10 * day), notAfter: new Date(Date.now() - day) }),
  };
  const [up, admin, ...listen] = await freePorts(8);
  const names: Name[] = ['mtls', 'optional', 'forwardOnly', 'append', 'set', 'plain'];
  ports = Object.fromEntries(names.map((n, i) => [n, listen[i]!])) as Record<Name, number>;
  upstream = createServer((req, res) => res.end(JSON.stringify(req.headers)));
  await new Promise<void>((r) => upstream.listen(up, '127.0.0.1', () => r()));

  const certificates = [server];
  const require = { ca_file, mode: 'require', allowed_sans: ['spiffe://cluster.local/ns/default/*'] };
  const all = [{ match: { prefix: '/' }, cluster: 'up' }];
  const filters = [{ wasm, name: 'identity' }];
  pillion = await startPillion({
    workers: 1,
    admin: { port: admin! },
    listeners: [
      {
        name: 'mtls',
        protocol: 'http',
        port: ports.mtls,
        filters,
        tls: { certificates, client_certificate: require },
        routes: [
          { name: 'admin', match: { prefix: '/admin', client_identity: { exact: ADMIN } }, cluster: 'up' },
          { name: 'api', match: { prefix: '/api', client_identity: { prefix: 'spiffe://cluster.local/ns/default/' } }, cluster: 'up' },
        ],
      },
      {
        name: 'optional',
        protocol: 'http',
        port: ports.optional,
        filters,
        tls: { certificates, client_certificate: { ca_file, mode: 'optional' }, forward_client_cert: 'sanitize_set' },
        routes: [{ name: 'private', match: { prefix: '/private', client_identity: { regex: '.*' } }, cluster: 'up' }, ...all],
      },
      { name: 'forward-only', protocol: 'http', port: ports.forwardOnly, routes: all, tls: { certificates, client_certificate: require, forward_client_cert: 'forward_only' } },
      { name: 'append', protocol: 'http', port: ports.append, routes: all, tls: { certificates, client_certificate: require, forward_client_cert: 'append_forward' } },
      { name: 'set', protocol: 'http', port: ports.set, routes: all, tls: { certificates, client_certificate: require, forward_client_cert: 'sanitize_set' } },
      { name: 'plain', protocol: 'http', port: ports.plain, routes: all },
    ],
    clusters: [{ name: 'up', endpoints: [{ address: '127.0.0.1', port: up }] }],
  });
});

afterAll(async () => {
  await pillion?.stop();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
});

/** A request with the client certificate `who` (none: no certificate); the upstream's view of the headers. */
async function call(listener: Name, who: keyof typeof clients | null, path = '/api/x', headers: Record<string, string> = {}) {
  const c = who === null ? {} : { cert: clients[who].cert, key: clients[who].key };
  const r = await httpsGet(ports[listener], { servername: 'localhost', ca: pki.ca.cert, path, headers, ...c });
  return { status: r.status, body: r.body, seen: r.status === 200 ? (JSON.parse(r.body) as Record<string, string>) : {} };
}

const failures = async (listener: string, reason: string) => metric(await pillion.metrics(), 'pillion_tls_handshake_failures_total', { listener, reason }) ?? 0;
const element = (who: keyof typeof clients) => xfccElement(identityOf(new X509Certificate(clients[who].cert)), PROXY);

describe('client_certificate mode require', () => {
  it('serves a client with a valid certificate; its identity reaches filters and the access log', async () => {
    const r = await call('mtls', 'web', '/api/hello');
    expect(r.status).toBe(200);
    expect(r.seen['x-filter-client-identity']).toBe(WEB);
    expect(r.seen['x-forwarded-proto']).toBe('https');
    await waitFor(() => pillion.output().split('\n').some((l) => l.includes('"path":"/api/hello"') && l.includes(`"client_identity":"${WEB}"`)), {
      message: 'the access log line with the client identity',
    });
  });

  it.each([
    ['no client certificate', null, 'no_client_certificate'],
    ['a certificate from another CA', 'rogue', 'client_certificate_invalid'],
    ['an expired certificate', 'expired', 'client_certificate_invalid'],
    ['a certificate outside allowed_sans', 'otherNs', 'client_san_not_allowed'],
  ] as const)('refuses %s, counted by reason', async (_what, who, reason) => {
    const before = await failures('mtls', reason);
    await expect(call('mtls', who)).rejects.toThrow();
    await waitFor(async () => (await failures('mtls', reason)) === before + 1, { message: `tls_failed_${reason} to count the refusal` });
  });

  it('keeps the identity with the connection: every request on a keep-alive connection has it, one handshake', async () => {
    const handshakes = async () => metric(await pillion.metrics(), 'pillion_tls_handshakes_total', { listener: 'mtls' }) ?? 0;
    const before = await handshakes();
    const agent = new Agent({ connections: 1, connect: { ca: pki.ca.cert, cert: clients.admin.cert, key: clients.admin.key, servername: 'localhost' } });
    try {
      for (const path of ['/admin/a', '/api/b', '/admin/c']) {
        const r = await request(`https://127.0.0.1:${ports.mtls}${path}`, { dispatcher: agent });
        expect(r.statusCode).toBe(200);
        expect(((await r.body.json()) as Record<string, string>)['x-filter-client-identity']).toBe(ADMIN);
      }
    } finally {
      await agent.close();
    }
    expect(await handshakes()).toBe(before + 1);
  });
});

describe('routing by client_identity', () => {
  it('a route whose identity does not match answers 403; a matching identity is served', async () => {
    const denied = await call('mtls', 'web', '/admin/users');
    expect(denied.status).toBe(403);
    expect(denied.body).toBe('forbidden: client identity not allowed on this route\n');
    expect((await call('mtls', 'admin', '/admin/users')).status).toBe(200);
    expect((await call('mtls', 'web', '/api/users')).status).toBe(200);
  });

  it('a path no route takes is still 404', async () => {
    expect((await call('mtls', 'web', '/elsewhere')).status).toBe(404);
  });

  it('a client without a certificate never matches a route that requires an identity', async () => {
    const denied = await call('optional', null, '/private/x');
    expect(denied.status).toBe(403);
    const open = await call('optional', null, '/public');
    expect(open.status).toBe(200);
    expect(open.seen['x-filter-client-identity']).toBe('(none)');
    expect(open.seen['x-forwarded-client-cert']).toBeUndefined();
  });
});

describe('client_certificate mode optional', () => {
  it('serves a client with a valid certificate with its identity (a DNS SAN when it has no URI SAN)', async () => {
    const r = await call('optional', 'batch', '/private/x');
    expect(r.status).toBe(200);
    expect(r.seen['x-filter-client-identity']).toBe('batch.internal');
    expect(r.seen['x-forwarded-client-cert']).toBe(element('batch'));
  });

  it('still refuses a certificate that does not verify', async () => {
    const before = await failures('optional', 'client_certificate_invalid');
    await expect(call('optional', 'rogue', '/public')).rejects.toThrow();
    await waitFor(async () => (await failures('optional', 'client_certificate_invalid')) === before + 1, { message: 'the refusal to be counted' });
  });
});

describe('x-forwarded-client-cert', () => {
  it.each([
    ['sanitize (the default) removes what the client sent', 'mtls', undefined],
    ['forward_only passes the client header on as it came', 'forwardOnly', INJECTED],
    ['append_forward adds this proxy element after it', 'append', `${INJECTED},ELEMENT`],
    ['sanitize_set replaces it with this proxy element', 'set', 'ELEMENT'],
  ] as const)('%s', async (_what, listener, expected) => {
    const r = await call(listener, 'web', '/api/x', { 'x-forwarded-client-cert': INJECTED });
    expect(r.status).toBe(200);
    expect(r.seen['x-forwarded-client-cert']).toBe(expected?.replace('ELEMENT', element('web')));
  });

  it('sanitize_set without an injected header sets the element, with the URI SAN and the certificate hash', async () => {
    const r = await call('set', 'web', '/');
    const xfcc = r.seen['x-forwarded-client-cert']!;
    expect(xfcc).toBe(element('web'));
    expect(xfcc).toContain(`By=${PROXY};Hash=${new X509Certificate(clients.web.cert).fingerprint256.replace(/:/g, '').toLowerCase()}`);
    expect(xfcc).toContain(`URI=${WEB}`);
  });

  it('a client on a connection without a certificate cannot inject the header, even where it is forwarded', async () => {
    const r = await call('optional', null, '/public', { 'x-forwarded-client-cert': INJECTED });
    expect(r.seen['x-forwarded-client-cert']).toBeUndefined();
  });

  it('a plain HTTP listener removes an injected header', async () => {
    const r = await fetch(`http://127.0.0.1:${ports.plain}/`, { headers: { 'x-forwarded-client-cert': INJECTED } });
    const seen = (await r.json()) as Record<string, string>;
    expect(seen['x-forwarded-client-cert']).toBeUndefined();
    expect(seen['x-forwarded-proto']).toBe('http');
  });
});
