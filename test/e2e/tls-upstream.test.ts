/**
 * Clusters with `tls` end to end: the real CLI with one worker, node:https upstreams with
 * certificates made in the test (a CA, a rogue CA, SPIFFE URI SANs). The upstream is verified by the
 * CA and its address, by `sni`, or by `allowed_sans`; a certificate from another CA, for another
 * name or outside allowed_sans is a 503 naming the reason; mutual TLS to an upstream that requires a
 * client certificate works with `cert_file` and is refused without; a second connection to an
 * endpoint resumes the session. The upstream TLS metrics count all of it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, writePem } from '../helpers/certs.js';
import { freePorts } from '../helpers/ports.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { BIG_BODY, httpsUpstream, type HttpsUpstream } from './tls-upstream-servers.js';

const API = 'spiffe://cluster.local/ns/default/sa/api';
const WEB = 'spiffe://cluster.local/ns/default/sa/web';

let pillion: PillionProcess;
let plain: HttpsUpstream;
let mutual: HttpsUpstream;
let base: string;

beforeAll(async () => {
  const pki = await createPki();
  const dir = mkdtempSync(join(tmpdir(), 'pillion-tls-upstream-'));
  const ca = writePem(dir, 'ca', pki.ca).cert_file;
  const rogue = writePem(dir, 'rogue', pki.rogue).cert_file;
  const web = writePem(dir, 'web', await pki.leaf({ cn: 'web', uris: [WEB], usage: 'client' }));
  const serverPem = await pki.leaf({ dns: ['api.internal'], ips: ['127.0.0.1'], uris: [API], usage: 'server' });
  const [p1, p2, listen, admin] = await freePorts(4);
  plain = await httpsUpstream('plain', p1!, serverPem);
  mutual = await httpsUpstream('mutual', p2!, serverPem, { clientCa: pki.ca.cert });
  const cluster = (name: string, port: number, tls: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    name,
    endpoints: [{ address: '127.0.0.1', port }],
    tls,
    ...extra,
  });
  const clusters = [
    cluster('by-ca', p1!, { ca_file: ca }),
    cluster('wrong-ca', p1!, { ca_file: rogue }),
    cluster('sni-ok', p1!, { ca_file: ca, sni: 'api.internal' }),
    cluster('sni-bad', p1!, { ca_file: ca, sni: 'other.internal' }),
    cluster('san-ok', p1!, { ca_file: ca, allowed_sans: ['spiffe://cluster.local/ns/default/sa/api'] }),
    cluster('san-prefix', p1!, { ca_file: ca, sni: 'not-in-the-certificate.example', allowed_sans: ['spiffe://cluster.local/ns/default/*'] }),
    cluster('san-bad', p1!, { ca_file: ca, allowed_sans: ['spiffe://cluster.local/ns/default/sa/db'] }),
    cluster('mtls', p2!, { ca_file: ca, ...web, allowed_sans: [API] }),
    cluster('mtls-nocert', p2!, { ca_file: ca }),
    cluster('resume', p1!, { ca_file: ca }, { pool: { max_requests_per_connection: 1 } }),
  ];
  pillion = await startPillion({
    workers: 1,
    admin: { port: admin! },
    access_log: { enabled: false },
    listeners: [
      {
        name: 'web',
        protocol: 'http',
        port: listen,
        // One connect attempt per request, so every failure is counted once.
        routes: clusters.map((c) => ({ match: { prefix: `/${c.name}/` }, cluster: c.name, retry: { attempts: 0 } })),
      },
    ],
    clusters,
  });
  base = `http://127.0.0.1:${listen}`;
});

afterAll(async () => {
  expect(await pillion?.stop()).toBe(0);
  await Promise.all([plain?.close(), mutual?.close()]);
});

async function get(path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`${base}${path}`);
  return { status: r.status, body: await r.text() };
}

const tlsMetric = async (name: string, cluster: string) => metric(await pillion.metrics(), `pillion_upstream_tls_${name}`, { cluster }) ?? NaN;

describe('verifying the upstream', () => {
  it('accepts it by the CA and the address (an IP SAN)', async () => {
    const r = await get('/by-ca/x');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ upstream: 'plain', path: '/by-ca/x', peer: '' });
    expect(await tlsMetric('handshakes_total', 'by-ca')).toBe(1);
    expect(await tlsMetric('handshake_failures_total', 'by-ca')).toBe(0);
    expect(await tlsMetric('handshake_seconds_sum', 'by-ca')).toBeGreaterThan(0);
  });

  it('refuses a certificate from another CA: 503 naming the reason', async () => {
    const before = plain.requests.length;
    const r = await get('/wrong-ca/x');
    expect(r.status).toBe(503);
    expect(r.body).toBe('no healthy upstream: upstream connect failure: tls: unable to verify the first certificate\n');
    expect(plain.requests.length).toBe(before);
    const m = await pillion.metrics();
    expect(metric(m, 'pillion_upstream_tls_handshake_failures_total', { cluster: 'wrong-ca' })).toBe(1);
    expect(metric(m, 'pillion_upstream_connect_failures_total', { cluster: 'wrong-ca' })).toBe(1);
    expect(metric(m, 'pillion_endpoint_connect_failures_total', { cluster: 'wrong-ca', endpoint: `127.0.0.1:${plain.port}` })).toBe(1);
    expect(metric(m, 'pillion_upstream_tls_handshakes_total', { cluster: 'wrong-ca' })).toBe(0);
  });

  it('checks the host name given by sni', async () => {
    expect((await get('/sni-ok/x')).status).toBe(200);
    const bad = await get('/sni-bad/x');
    expect(bad.status).toBe(503);
    expect(bad.body).toBe(
      `no healthy upstream: upstream connect failure: tls: Hostname/IP does not match certificate's altnames: Host: other.internal. is not in the cert's altnames: DNS:api.internal, IP Address:127.0.0.1, URI:${API}\n`,
    );
    expect(await tlsMetric('handshake_failures_total', 'sni-bad')).toBe(1);
  });

  it('accepts a SPIFFE URI SAN in allowed_sans (exact or by prefix) instead of the host name', async () => {
    expect((await get('/san-ok/x')).status).toBe(200);
    expect((await get('/san-prefix/x')).status).toBe(200);
    const bad = await get('/san-bad/x');
    expect(bad.status).toBe(503);
    expect(bad.body).toBe(`no healthy upstream: upstream connect failure: tls: upstream certificate SANs (DNS:api.internal, IP Address:127.0.0.1, URI:${API}) match none of allowed_sans\n`);
    expect(await tlsMetric('handshake_failures_total', 'san-bad')).toBe(1);
    expect(await tlsMetric('handshake_failures_total', 'san-ok')).toBe(0);
  });
});

describe('mutual TLS', () => {
  it('presents cert_file to an upstream that requires a client certificate', async () => {
    const r = await get('/mtls/x');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ upstream: 'mutual', path: '/mtls/x', peer: `URI:${WEB}` });
    expect(await tlsMetric('handshake_failures_total', 'mtls')).toBe(0);
  });

  it('without cert_file the upstream refuses the connection: 503 naming the alert', async () => {
    const before = mutual.requests.length;
    const r = await get('/mtls-nocert/x');
    expect(r.status).toBe(503);
    expect(r.body).toBe('no healthy upstream: upstream connect failure: tls: tlsv13 alert certificate required\n');
    expect(mutual.requests.length).toBe(before);
    const m = await pillion.metrics();
    expect(metric(m, 'pillion_upstream_tls_handshake_failures_total', { cluster: 'mtls-nocert' })).toBe(1);
    expect(metric(m, 'pillion_upstream_connect_failures_total', { cluster: 'mtls-nocert' })).toBe(1);
  });
});

describe('bodies over TLS', () => {
  it('relays a 2 MiB response and a 1 MiB upload byte for byte', async () => {
    const big = await fetch(`${base}/by-ca/big`);
    expect(big.status).toBe(200);
    expect(Buffer.from(await big.arrayBuffer()).equals(BIG_BODY)).toBe(true);
    const upload = randomBytes(1024 * 1024);
    const r = await fetch(`${base}/by-ca/upload`, { method: 'POST', body: upload });
    expect(r.status).toBe(200);
    expect(JSON.parse(await r.text())).toEqual({ upstream: 'plain', path: '/by-ca/upload', peer: '', bytes: upload.length, sha256: createHash('sha256').update(upload).digest('hex') });
  });
});

describe('session resumption', () => {
  it('resumes the session on the next connection to the same endpoint', async () => {
    const resumedBefore = plain.resumed;
    // max_requests_per_connection: 1, so each request has its own connection.
    expect((await get('/resume/1')).status).toBe(200);
    expect((await get('/resume/2')).status).toBe(200);
    expect((await get('/resume/3')).status).toBe(200);
    expect(await tlsMetric('handshakes_total', 'resume')).toBe(3);
    expect(await tlsMetric('sessions_resumed_total', 'resume')).toBe(2);
    expect(plain.resumed - resumedBefore).toBe(2);
  });
});
