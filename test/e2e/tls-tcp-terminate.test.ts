/**
 * TCP listeners with `tls` end to end: the real CLI with two workers, certificates made in the test
 * and written to files, Node TLS clients and a plain TCP echo upstream. TLS is terminated and the
 * plaintext proxied byte for byte; mutual TLS accepts a verified client (its identity in the access
 * log) and refuses the others by reason (metrics); sessions resume on either worker; replacing the
 * certificate files changes what new handshakes present without dropping an open connection.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, writePem, type Pem, type TestPki } from '../helpers/certs.js';
import { freePorts } from '../helpers/ports.js';
import { metric, metricSum, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { waitFor } from '../helpers/wait-for.js';
import { accessLines, echo, type TcpServer } from './l4-servers.js';
import { fingerprintOf, tlsExchange, tlsOpen } from './tls-tcp-peers.js';

const WEB = 'spiffe://cluster.local/ns/default/sa/web';
let pillion: PillionProcess;
let upstream: TcpServer;
let pki: TestPki;
let dir: string;
let serverFiles: { cert_file: string; key_file: string };
let clients: Record<'good' | 'wrongSan' | 'rogue' | 'expired', Pem>;
let ports: { tls: number; mtls: number };

beforeAll(async () => {
  pki = await createPki();
  dir = mkdtempSync(join(tmpdir(), 'pillion-tls-tcp-'));
  serverFiles = writePem(dir, 'server', await pki.leaf({ cn: 'db.test', dns: ['db.test'], usage: 'server' }));
  writeFileSync(join(dir, 'ca.pem'), pki.ca.cert);
  clients = {
    good: await pki.leaf({ cn: 'web', uris: [WEB], usage: 'client' }),
    wrongSan: await pki.leaf({ cn: 'batch', uris: ['spiffe://cluster.local/ns/batch/sa/job'], usage: 'client' }),
    rogue: await pki.leaf({ cn: 'web', uris: [WEB], usage: 'client', issuer: 'rogue' }),
    expired: await pki.leaf({ cn: 'web', uris: [WEB], usage: 'client', notBefore: new Date(Date.now() - 10 * 86400_000), notAfter: new Date(Date.now() - 86400_000) }),
  };
  const [up, lTls, lMtls, admin] = await freePorts(4);
  upstream = await echo(up!);
  ports = { tls: lTls!, mtls: lMtls! };
  const certificates = [serverFiles];
  pillion = await startPillion({
    workers: 2,
    admin: { port: admin! },
    listeners: [
      { name: 'db-tls', protocol: 'tcp', port: lTls, cluster: 'db', tls: { certificates } },
      {
        name: 'db-mtls',
        protocol: 'tcp',
        port: lMtls,
        cluster: 'db',
        tls: { certificates, min_version: 'TLSv1.3', client_certificate: { ca_file: join(dir, 'ca.pem'), allowed_sans: ['spiffe://cluster.local/ns/default/*'] } },
      },
    ],
    clusters: [{ name: 'db', endpoints: [{ address: '127.0.0.1', port: up }] }],
  });
});

afterAll(async () => {
  await pillion?.stop('SIGKILL');
  await upstream?.close();
});

const trust = () => ({ ca: pki.ca.cert, servername: 'db.test' });
const withCert = (pem: Pem) => ({ ...trust(), cert: pem.cert, key: pem.key });

describe('tcp listener with tls', () => {
  it('terminates TLS on 60 concurrent connections and proxies each byte for byte', async () => {
    const payloads = Array.from({ length: 60 }, (_, i) => randomBytes(8 * 1024 + i * 101));
    const results = await Promise.all(payloads.map((p) => tlsExchange(ports.tls, trust(), p)));
    expect(results.filter((r, i) => r.error !== undefined || !r.reply.equals(payloads[i]!)).length).toBe(0);
    expect(new Set(results.map((r) => r.cn))).toEqual(new Set(['db.test']));
    const m = await pillion.metrics();
    expect(metric(m, 'pillion_tls_handshakes_total', { listener: 'db-tls' })).toBe(60);
    expect(metric(m, 'pillion_tcp_connections_total', { listener: 'db-tls' })).toBe(60);
    const total = payloads.reduce((n, p) => n + p.length, 0);
    await waitFor(async () => metric(await pillion.metrics(), 'pillion_downstream_bytes_received_total', { listener: 'db-tls' }) === total);
    await waitFor(() => accessLines(pillion.output(), 'db-tls').length === 60);
    expect(accessLines(pillion.output(), 'db-tls').every((l) => l.end === 'closed' && l.sni === 'db.test')).toBe(true);
  });

  it('mTLS: proxies a verified client and logs its SPIFFE identity', async () => {
    const r = await tlsExchange(ports.mtls, withCert(clients.good), 'who am i');
    expect(r.error).toBeUndefined();
    expect(r.reply.toString()).toBe('who am i');
    await waitFor(() => accessLines(pillion.output(), 'db-mtls').some((l) => l.client_identity === WEB && l.end === 'closed'));
  });

  it('mTLS: refuses no certificate, another CA, an expired certificate and a SAN outside allowed_sans, counting each reason', async () => {
    const cases = [
      ['no_client_certificate', trust()],
      ['client_certificate_invalid', withCert(clients.rogue)],
      ['client_certificate_invalid', withCert(clients.expired)],
      ['client_san_not_allowed', withCert(clients.wrongSan)],
    ] as const;
    for (const [, opts] of cases) {
      const r = await tlsExchange(ports.mtls, opts, 'secret');
      expect(r.reply.length).toBe(0);
    }
    // The worker counts a refusal as it closes the connection; the client may see the close first.
    const counted = async () => {
      const m = await pillion.metrics();
      const failures = (reason: string) => metric(m, 'pillion_tls_handshake_failures_total', { listener: 'db-mtls', reason });
      return [failures('no_client_certificate'), failures('client_certificate_invalid'), failures('client_san_not_allowed')];
    };
    await waitFor(async () => (await counted()).join() === '1,2,1', { message: 'each refusal counted by its reason' }).catch(() => undefined);
    expect(await counted()).toEqual([1, 2, 1]);
    await waitFor(() => accessLines(pillion.output(), 'db-mtls').filter((l) => l.end === 'tls-failed').length === 4);
  });

  it('mTLS with min_version TLSv1.3 refuses a TLS 1.2 client', async () => {
    const before = metricSum(await pillion.metrics(), 'pillion_tls_handshake_failures_total', { listener: 'db-mtls', reason: 'handshake' });
    const r = await tlsExchange(ports.mtls, { ...withCert(clients.good), maxVersion: 'TLSv1.2' }, 'old');
    expect(r.secure).toBe(false);
    await waitFor(async () => metricSum(await pillion.metrics(), 'pillion_tls_handshake_failures_total', { listener: 'db-mtls', reason: 'handshake' }) === before + 1);
  });

  it('resumes sessions on whichever worker accepts the connection', async () => {
    const m0 = await pillion.metrics();
    const resumed0 = metric(m0, 'pillion_tls_sessions_resumed_total', { listener: 'db-tls' }) ?? 0;
    let session = (await tlsExchange(ports.tls, trust(), 'first')).session;
    expect(session).toBeDefined();
    const workers0 = [0, 1].map((w) => metric(m0, 'pillion_worker_requests_total', { worker: String(w) }) ?? 0);
    for (let i = 0; i < 12; i++) {
      const r = await tlsExchange(ports.tls, { ...trust(), session }, `again ${i}`);
      expect(r.resumed).toBe(true);
      session = r.session ?? session;
    }
    const m = await pillion.metrics();
    expect(metric(m, 'pillion_tls_sessions_resumed_total', { listener: 'db-tls' })).toBe(resumed0 + 12);
    // The kernel spread the connections over both workers, and every one resumed: each worker resumed sessions.
    const workers = [0, 1].map((w) => (metric(m, 'pillion_worker_requests_total', { worker: String(w) }) ?? 0) - workers0[w]!);
    expect(Math.min(...workers)).toBeGreaterThan(0);
  });

  it('presents a replaced certificate to new handshakes within seconds, keeping an open connection', async () => {
    const open = await tlsOpen(ports.tls, trust());
    const next = await pki.leaf({ cn: 'db.test', dns: ['db.test'], usage: 'server' });
    writeFileSync(serverFiles.key_file, next.key);
    writeFileSync(serverFiles.cert_file, next.cert);
    await waitFor(
      async () => {
        const s = await tlsOpen(ports.tls, trust());
        const fp = fingerprintOf(s.getPeerX509Certificate()!.toString());
        s.destroy();
        return fp === fingerprintOf(next.cert);
      },
      { timeoutMs: 15_000, intervalMs: 200, message: 'new handshakes to present the replaced certificate' },
    );
    open.write('still here');
    const got = await new Promise<string>((r) => open.once('data', (d: Buffer) => r(d.toString())));
    expect(got).toBe('still here');
    open.destroy();
  });
});
