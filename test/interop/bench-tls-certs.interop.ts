/**
 * The bench's TLS certificates (bench/lib/tls-certs.js) are made with the openssl program, so their
 * test runs here, where the programs are required, rather than in `pnpm test`.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { getStatus } from '../../bench/lib/net.js';
import { benchCertificates, makeCertificates, removeBenchCertificates } from '../../bench/lib/tls-certs.js';
import { requirePrograms } from './programs.js';

const bins = requirePrograms();

describe('bench TLS certificates', () => {
  it('makes an ECDSA P-256 certificate for 127.0.0.1 from a CA, and HTTPS readiness checks it', async () => {
    const cert = benchCertificates();
    expect(benchCertificates()).toBe(cert);
    const x = new X509Certificate(readFileSync(cert.certFile));
    const ca = new X509Certificate(cert.ca);
    expect(x.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(cert.keyType).toBe('ec prime256v1');
    expect(x.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x.checkIssued(ca) && x.verify(ca.publicKey)).toBe(true);
    expect(x.ca).toBe(false);
    expect(x.fingerprint256).toBe(cert.fingerprint);
    expect(createPrivateKey(readFileSync(cert.keyFile)).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const bundle = readFileSync(cert.bundleFile, 'utf8');
    expect(bundle).toMatch(/^-----BEGIN CERTIFICATE-----[\s\S]+-----BEGIN (EC )?PRIVATE KEY-----/);

    const otherDir = mkdtempSync(path.join(os.tmpdir(), 'bench-tls-other-'));
    const server = https.createServer({ cert: readFileSync(cert.certFile), key: readFileSync(cert.keyFile) }, (_req, res) => res.end('ok'));
    try {
      const other = makeCertificates(otherDir, bins.openssl);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const url = `https://127.0.0.1:${(server.address() as { port: number }).port}/`;
      expect(await getStatus(url, { ca: cert.ca })).toBe(200);
      expect(await getStatus(url)).toBe(200);
      expect(await getStatus(url, { ca: other.ca })).toBeNull();
    } finally {
      server.closeAllConnections();
      server.close();
      rmSync(otherDir, { recursive: true, force: true });
      removeBenchCertificates();
    }
    expect(existsSync(cert.dir)).toBe(false);
  });
});
