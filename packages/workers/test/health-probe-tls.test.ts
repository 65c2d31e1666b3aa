/**
 * Active health checks of a cluster with `tls`, one check at a time against real TLS servers with
 * certificates made in the test: the HTTP check sends its request over TLS, the TCP check passes once
 * the handshake is done and the certificate accepted; a certificate the cluster refuses, and an
 * endpoint refusing the client certificate (after a TLS 1.3 handshake, or during a TLS 1.2 one), fail
 * the check naming the reason. The checker builds the cluster's TLS from the snapshot's material.
 */
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTlsServer } from 'node:tls';
import type { Server } from 'node:net';
import pino from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SharedState, parseExpectedStatuses, type ClusterTlsConfig, type Config } from '@pillion/core';
import { HealthChecker } from '../src/supervisor/health-checker.js';
import { runProbe, type ProbeResult, type ProbeSpec } from '../src/supervisor/health-probe.js';
import type { RuntimeSnapshot } from '../src/messages.js';
import { ClusterTls } from '../src/worker/worker-tls.js';
import { createPki, type Pem, type TestPki } from '../../../test/helpers/certs.js';

let pki: TestPki;
let server: Pem;
let rogueServer: Pem;
let client: Pem;

beforeAll(async () => {
  pki = await createPki();
  server = await pki.leaf({ dns: ['api.internal'], ips: ['127.0.0.1'], usage: 'server' });
  rogueServer = await pki.leaf({ dns: ['api.internal'], ips: ['127.0.0.1'], issuer: 'rogue', usage: 'server' });
  client = await pki.leaf({ cn: 'web', uris: ['spiffe://cluster.local/ns/default/sa/web'], usage: 'client' });
});

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

interface ServerOptions {
  pem?: Pem;
  requireClient?: boolean;
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
}

const tlsOptions = (o: ServerOptions) => {
  const pem = o.pem ?? server;
  return { cert: pem.cert, key: pem.key, ca: pki.ca.cert, requestCert: o.requireClient ?? false, rejectUnauthorized: o.requireClient ?? false, maxVersion: o.maxVersion };
};

async function listen(s: Server): Promise<number> {
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return (s.address() as import('node:net').AddressInfo).port;
}

/** An HTTPS server answering /health 200 and everything else 503. */
function https(o: ServerOptions = {}): Promise<number> {
  const s = createHttpsServer(tlsOptions(o), (req, res) => {
    res.statusCode = req.url === '/health' ? 200 : 503;
    res.end();
  });
  s.on('tlsClientError', () => {});
  return listen(s);
}

/** A TLS server that only completes handshakes (and closes when the client does). */
function tlsOnly(o: ServerOptions = {}): Promise<number> {
  const s = createTlsServer(tlsOptions(o), (sock) => {
    sock.on('error', () => {});
    sock.resume();
  });
  s.on('tlsClientError', () => {});
  return listen(s);
}

function clusterTls(config: Partial<ClusterTlsConfig>, cert?: Pem): ClusterTls {
  const c = { min_version: 'TLSv1.2', alpn: [], ca_file: 'ca.pem', ...config } as ClusterTlsConfig;
  const t = new ClusterTls('c', c);
  t.update(c, { ca: pki.ca.cert, cert: cert?.cert ?? null, key: cert?.key ?? null });
  return t;
}

const http = (tls: ClusterTls, path = '/health'): ProbeSpec => ({ kind: 'http', path, host: undefined, statuses: parseExpectedStatuses(['200']), tls });
const tcp = (tls: ClusterTls): ProbeSpec => ({ kind: 'tcp', tls });

describe('HTTP check over TLS', () => {
  it('sends the request over TLS and judges the status', async () => {
    const port = await https();
    expect(await runProbe(http(clusterTls({})), '127.0.0.1', port, 2000)).toEqual({ ok: true, detail: 'status 200' });
    expect(await runProbe(http(clusterTls({}), '/other'), '127.0.0.1', port, 2000)).toEqual({ ok: false, detail: 'status 503' });
  });

  it('checks an address resolved from a host name under that name, over HTTP and TCP', async () => {
    const port = await https();
    expect(await runProbe({ ...http(clusterTls({})), serverName: 'api.internal' }, '127.0.0.1', port, 2000)).toEqual({ ok: true, detail: 'status 200' });
    const refused = { ok: false, detail: "tls: Hostname/IP does not match certificate's altnames: Host: other.internal. is not in the cert's altnames: DNS:api.internal, IP Address:127.0.0.1" };
    expect(await runProbe({ ...http(clusterTls({})), serverName: 'other.internal' }, '127.0.0.1', port, 2000)).toEqual(refused);
    expect(await runProbe({ ...tcp(clusterTls({})), serverName: 'other.internal' }, '127.0.0.1', port, 2000)).toEqual(refused);
  });

  it('fails on a certificate the cluster refuses: another CA, another name, outside allowed_sans', async () => {
    const rogue = await https({ pem: rogueServer });
    expect(await runProbe(http(clusterTls({})), '127.0.0.1', rogue, 2000)).toEqual({ ok: false, detail: 'tls: unable to verify the first certificate' });
    const port = await https();
    expect(await runProbe(http(clusterTls({ sni: 'other.internal' })), '127.0.0.1', port, 2000)).toEqual({
      ok: false,
      detail: "tls: Hostname/IP does not match certificate's altnames: Host: other.internal. is not in the cert's altnames: DNS:api.internal, IP Address:127.0.0.1",
    });
    expect(await runProbe(http(clusterTls({ allowed_sans: ['spiffe://cluster.local/*'] })), '127.0.0.1', port, 2000)).toEqual({
      ok: false,
      detail: 'tls: upstream certificate SANs (DNS:api.internal, IP Address:127.0.0.1) match none of allowed_sans',
    });
  });

  it('presents the client certificate; without one the endpoint refuses it', async () => {
    const port = await https({ requireClient: true });
    expect(await runProbe(http(clusterTls({ cert_file: 'c.pem', key_file: 'c.key' }, client)), '127.0.0.1', port, 2000)).toEqual({ ok: true, detail: 'status 200' });
    expect(await runProbe(http(clusterTls({})), '127.0.0.1', port, 2000)).toEqual({ ok: false, detail: 'tls: tlsv13 alert certificate required' });
  });
});

describe('TCP check over TLS', () => {
  it('passes once the handshake is done and the certificate accepted', async () => {
    const port = await tlsOnly();
    expect(await runProbe(tcp(clusterTls({})), '127.0.0.1', port, 2000)).toEqual({ ok: true, detail: 'handshake done' });
    const rogue = await tlsOnly({ pem: rogueServer });
    expect(await runProbe(tcp(clusterTls({})), '127.0.0.1', rogue, 2000)).toEqual({ ok: false, detail: 'tls: unable to verify the first certificate' });
  });

  it('TLS 1.3: fails when the endpoint refuses the client certificate after the handshake', async () => {
    const port = await tlsOnly({ requireClient: true });
    expect(await runProbe(tcp(clusterTls({ cert_file: 'c.pem', key_file: 'c.key' }, client)), '127.0.0.1', port, 2000)).toEqual({ ok: true, detail: 'handshake done' });
    expect(await runProbe(tcp(clusterTls({})), '127.0.0.1', port, 2000)).toEqual({ ok: false, detail: 'tls: tlsv13 alert certificate required' });
  });

  it('TLS 1.2: the refusal fails the handshake itself', async () => {
    const port = await tlsOnly({ requireClient: true, maxVersion: 'TLSv1.2' });
    expect(await runProbe(tcp(clusterTls({ cert_file: 'c.pem', key_file: 'c.key' }, client)), '127.0.0.1', port, 2000)).toEqual({ ok: true, detail: 'handshake done' });
    expect(await runProbe(tcp(clusterTls({})), '127.0.0.1', port, 2000)).toEqual({ ok: false, detail: 'tls: sslv3 alert handshake failure' });
  });

  it('a handshake that never finishes fails at the timeout', async () => {
    const silent = (await import('node:net')).createServer((s) => {
      s.on('error', () => {});
      s.resume();
    });
    const port = await listen(silent);
    expect(await runProbe(tcp(clusterTls({})), '127.0.0.1', port, 150)).toEqual({ ok: false, detail: 'tls: handshake not done after 150ms' });
  });
});

describe('the checker', () => {
  it("checks a cluster with tls over TLS, with the snapshot's material, and follows new material", async () => {
    const state = SharedState.create({ maxClusters: 1, maxEndpoints: 1, maxListeners: 1, maxThreads: 1 });
    const seen: ProbeSpec[] = [];
    const results: ProbeResult[] = [];
    const checker = new HealthChecker(state, pino({ level: 'silent' }), {
      probe: async (spec, address, port, timeoutMs) => {
        seen.push(spec);
        const r = await runProbe(spec, address, port, timeoutMs);
        results.push(r);
        return r;
      },
    });
    const port = await tlsOnly({ requireClient: true });
    const tlsConfig = { min_version: 'TLSv1.2', alpn: [], ca_file: 'ca.pem', cert_file: 'c.pem', key_file: 'c.key' } as ClusterTlsConfig;
    const hc = { tcp: {}, interval: 3_600_000, timeout: 2000, jitter: 0, healthy_threshold: 1, unhealthy_threshold: 1 };
    const snapshot = (cert: Pem | null, generation: number): RuntimeSnapshot =>
      ({
        generation,
        config: {} as Config,
        listenerSlots: {},
        clusters: [{ name: 'c', slot: 0, config: { name: 'c', tls: tlsConfig, health_check: hc }, endpoints: [{ slot: 0, key: `127.0.0.1:${port}`, address: '127.0.0.1', port, zone: '' }] }],
        tls: { listeners: {}, clusters: { c: { ca: pki.ca.cert, cert: cert?.cert ?? null, key: cert?.key ?? null } } },
      }) as unknown as RuntimeSnapshot;
    await checker.sync(snapshot(client, 1));
    expect(results).toEqual([{ ok: true, detail: 'handshake done' }]);
    const tls = seen[0]!.tls!;
    expect(tls).toBeInstanceOf(ClusterTls);
    // New material for the same settings: the running check loop keeps its ClusterTls, rebuilt in place.
    await checker.sync(snapshot(null, 2));
    expect(checker.checking).toEqual([0]);
    expect(await runProbe(seen[0]!, '127.0.0.1', port, 2000)).toEqual({ ok: false, detail: 'tls: tlsv13 alert certificate required' });
    checker.close();
  });
});
