/**
 * Clusters with `tls` and what surrounds the request path, end to end with the real CLI (one worker):
 * warm-up completes the handshakes (and verifies over TLS) before any request, at start and for an
 * endpoint added through the admin API, so the first request opens no connection; active health
 * checks (HTTP and TCP) speak TLS and mark an endpoint with a bad certificate unhealthy; a TCP
 * listener's cluster with tls carries bytes exactly, half-close included; a rotated client
 * certificate file is presented by the next connection, without a restart.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, writePem, type TestPki } from '../helpers/certs.js';
import { freePorts } from '../helpers/ports.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { waitFor } from '../helpers/wait-for.js';
import { httpsUpstream, tlsEcho, type HttpsUpstream, type TlsEcho } from './tls-upstream-servers.js';

const WEB = 'spiffe://cluster.local/ns/default/sa/web';

let pki: TestPki;
let dir: string;
let pillion: PillionProcess;
let warm: HttpsUpstream;
let good: HttpsUpstream;
let bad: HttpsUpstream;
let mutual: HttpsUpstream;
let echo: TlsEcho;
let added: HttpsUpstream | undefined;
let base: string;
let tcpPort: number;
let tcpBadPort: number;
let addedPort: number;

beforeAll(async () => {
  pki = await createPki();
  dir = mkdtempSync(join(tmpdir(), 'pillion-tls-pools-'));
  const ca = writePem(dir, 'ca', pki.ca).cert_file;
  const rogueCa = writePem(dir, 'rogue', pki.rogue).cert_file;
  const web = writePem(dir, 'web', await pki.leaf({ cn: 'web', uris: [WEB], usage: 'client' }));
  const serverPem = await pki.leaf({ dns: ['api.internal'], ips: ['127.0.0.1'], usage: 'server' });
  const roguePem = await pki.leaf({ dns: ['api.internal'], ips: ['127.0.0.1'], issuer: 'rogue', usage: 'server' });
  const [pw, pg, pb, pm, pe, pa, listen, tcp, tcpBad, admin] = await freePorts(10);
  addedPort = pa!;
  [warm, good, bad, mutual, echo] = await Promise.all([
    httpsUpstream('warm', pw!, serverPem),
    httpsUpstream('good', pg!, serverPem),
    httpsUpstream('bad', pb!, roguePem),
    httpsUpstream('mutual', pm!, serverPem, { clientCa: pki.ca.cert }),
    tlsEcho(pe!, serverPem),
  ]);
  tcpPort = tcp!;
  tcpBadPort = tcpBad!;
  const ep = (...ports: number[]) => ports.map((port) => ({ address: '127.0.0.1', port }));
  const once = { interval: '1h', timeout: '2s', healthy_threshold: 1, unhealthy_threshold: 1 };
  pillion = await startPillion({
    workers: 1,
    admin: { port: admin! },
    access_log: { enabled: false },
    listeners: [
      {
        name: 'web',
        protocol: 'http',
        port: listen,
        routes: [
          { match: { prefix: '/warm/' }, cluster: 'warm' },
          { match: { prefix: '/hc-http/' }, cluster: 'hc-http' },
          { match: { prefix: '/hc-tcp/' }, cluster: 'hc-tcp' },
          { match: { prefix: '/rotate/' }, cluster: 'rotate' },
        ],
      },
      { name: 'echo', protocol: 'tcp', port: tcp, cluster: 'echo' },
      { name: 'echo-bad', protocol: 'tcp', port: tcpBad, cluster: 'echo-bad', connect_attempts: 1 },
    ],
    clusters: [
      {
        name: 'warm',
        endpoints: ep(pw!),
        tls: { ca_file: ca, sni: 'api.internal' },
        health_check: { http: { path: '/health' }, ...once },
        pool: { warmup: { connections: 3, concurrency: 3 } },
      },
      { name: 'hc-http', endpoints: ep(pg!, pb!), tls: { ca_file: ca }, health_check: { http: { path: '/health' }, ...once } },
      { name: 'hc-tcp', endpoints: ep(pg!, pb!), tls: { ca_file: ca }, health_check: { tcp: {}, ...once } },
      { name: 'rotate', endpoints: ep(pm!), tls: { ca_file: ca, ...web }, pool: { max_requests_per_connection: 1 } },
      { name: 'echo', endpoints: ep(pe!), tls: { ca_file: ca, sni: 'api.internal' } },
      { name: 'echo-bad', endpoints: ep(pe!), tls: { ca_file: rogueCa } },
    ],
  });
  base = `http://127.0.0.1:${listen}`;
});

afterAll(async () => {
  expect(await pillion?.stop()).toBe(0);
  await Promise.all([warm, good, bad, mutual, echo, added].map((s) => s?.close()));
});

async function get(path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`${base}${path}`);
  return { status: r.status, body: await r.text() };
}

async function endpointView(cluster: string, port: number): Promise<any> {
  const clusters = (await (await fetch(`${pillion.adminUrl}/clusters`)).json()) as any[];
  return clusters.find((c) => c.name === cluster).endpoints.find((e: any) => e.port === port);
}

describe('warm-up over TLS', () => {
  it('completes the handshakes before any request; the first request opens no connection', async () => {
    await waitFor(async () => (await endpointView('warm', warm.port)).warm === true, { timeoutMs: 10_000, message: 'the warm pool' });
    // Three warm connections, each verified with the health request over TLS, plus the health checker's own check.
    expect(warm.handshakes).toBe(4);
    expect(warm.requests).toEqual(['/health', '/health', '/health', '/health']);
    expect((await endpointView('warm', warm.port)).warm_connections).toBe(3);
    expect(metric(await pillion.metrics(), 'pillion_upstream_tls_handshakes_total', { cluster: 'warm' })).toBe(3);
    const tcp = warm.tcp;
    const r = await get('/warm/first');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).upstream).toBe('warm');
    expect(warm.tcp).toBe(tcp);
    expect(metric(await pillion.metrics(), 'pillion_upstream_tls_handshakes_total', { cluster: 'warm' })).toBe(3);
  });

  it('warms an endpoint added through the admin API before its first request', async () => {
    added = await httpsUpstream('added', addedPort, await pki.leaf({ dns: ['api.internal'], usage: 'server' }));
    const put = await fetch(`${pillion.adminUrl}/clusters/warm/endpoints`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ address: '127.0.0.1', port: addedPort }]),
    });
    expect(put.status).toBeLessThan(300);
    await waitFor(async () => {
      const e = await endpointView('warm', addedPort);
      return e !== undefined && e.warm === true && e.health.active === 'healthy';
    }, { timeoutMs: 10_000, message: 'the added endpoint warm and healthy' });
    expect(added.handshakes).toBe(4);
    expect(added.requests).toEqual(['/health', '/health', '/health', '/health']);
    const tcp = added.tcp;
    const r = await get('/warm/after-add');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).upstream).toBe('added');
    expect(added.tcp).toBe(tcp);
  });
});

describe('health checks over TLS', () => {
  for (const cluster of ['hc-http', 'hc-tcp']) {
    it(`${cluster}: an endpoint whose certificate the cluster refuses is unhealthy and gets no traffic`, async () => {
      expect((await endpointView(cluster, good.port)).health.active).toBe('healthy');
      expect((await endpointView(cluster, bad.port)).health.active).toBe('unhealthy');
      for (let i = 0; i < 4; i++) {
        const r = await get(`/${cluster}/${i}`);
        expect(r.status).toBe(200);
        expect(JSON.parse(r.body).upstream).toBe('good');
      }
      expect(pillion.output()).toMatch(new RegExp(`"cluster":"${cluster}","endpoint":"127.0.0.1:${bad.port}","reason":"tls: unable to verify the first certificate"`));
    });
  }

  it('the bad endpoint never saw a request, the good one saw the HTTP check', () => {
    expect(bad.requests).toEqual([]);
    expect(good.requests.filter((p) => p === '/health')).toHaveLength(1);
  });
});

describe('TCP cluster with tls', () => {
  it('carries bytes exactly both ways, half-close included', async () => {
    const payload = randomBytes(300 * 1024);
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const s = connect(tcpPort, '127.0.0.1');
      const got: Buffer[] = [];
      s.on('data', (d) => got.push(d));
      s.on('end', () => resolve(Buffer.concat(got)));
      s.on('error', reject);
      s.end(payload);
    });
    expect(reply.equals(payload)).toBe(true);
    // Bytes are counted when the connection has closed on both sides.
    await waitFor(async () => metric(await pillion.metrics(), 'pillion_upstream_bytes_received_total', { cluster: 'echo' }) === payload.length, {
      message: 'the connection counted',
    });
    const m = await pillion.metrics();
    expect(metric(m, 'pillion_upstream_tls_handshakes_total', { cluster: 'echo' })).toBe(1);
    expect(metric(m, 'pillion_upstream_bytes_sent_total', { cluster: 'echo' })).toBe(payload.length);
  });

  it("passes a client's reset on to the endpoint through the TLS connection", async () => {
    const resets = echo.resets;
    const s = connect(tcpPort, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      s.once('data', () => resolve());
      s.once('error', reject);
      s.write('ping');
    });
    s.resetAndDestroy();
    await waitFor(() => echo.resets === resets + 1, { message: 'the reset at the endpoint' });
    // The worker is still there and proxying.
    const again = randomBytes(1000);
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const c = connect(tcpPort, '127.0.0.1');
      const got: Buffer[] = [];
      c.on('data', (d) => got.push(d));
      c.on('end', () => resolve(Buffer.concat(got)));
      c.on('error', reject);
      c.end(again);
    });
    expect(reply.equals(again)).toBe(true);
    expect(metric(await pillion.metrics(), 'pillion_workers')).toBe(1);
  });

  it('closes the client connection without data when the endpoint certificate is refused', async () => {
    const handshakes = echo.handshakes;
    const got = await new Promise<number>((resolve) => {
      const s = connect(tcpBadPort, '127.0.0.1');
      let n = 0;
      s.on('data', (d) => (n += d.length));
      s.on('error', () => {});
      s.on('close', () => resolve(n));
      s.write('hello');
    });
    expect(got).toBe(0);
    const m = await pillion.metrics();
    expect(metric(m, 'pillion_upstream_tls_handshake_failures_total', { cluster: 'echo-bad' })).toBe(1);
    expect(metric(m, 'pillion_upstream_connect_failures_total', { cluster: 'echo-bad' })).toBe(1);
    // The echo server finished its side of the handshake; Pillion refused its certificate and sent nothing.
    expect(echo.handshakes - handshakes).toBeLessThanOrEqual(1);
  });
});

describe('rotation', () => {
  it('a rewritten client certificate file is presented by the next connection', async () => {
    expect(JSON.parse((await get('/rotate/1')).body).peer).toBe(`URI:${WEB}`);
    const next = await pki.leaf({ cn: 'web', uris: [`${WEB}-rotated`], usage: 'client' });
    // Key first, then certificate: the registry refuses the mismatched pair in between and keeps the old one.
    writeFileSync(join(dir, 'web.key'), next.key);
    writeFileSync(join(dir, 'web.pem'), next.cert);
    await waitFor(async () => JSON.parse((await get('/rotate/n')).body).peer === `URI:${WEB}-rotated`, {
      timeoutMs: 10_000,
      intervalMs: 100,
      message: 'the rotated client certificate at the upstream',
    });
    expect(metric(await pillion.metrics(), 'pillion_tls_certificate_reloads_total', { result: 'success' })).toBeGreaterThanOrEqual(1);
  });
});
