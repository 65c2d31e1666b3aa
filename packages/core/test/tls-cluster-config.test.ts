/**
 * A cluster's `tls` in the config: its defaults, the fields it refuses, and which listeners may use a
 * cluster with tls (http and tcp may; udp may not: datagrams are proxied as they are).
 */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/validate.js';

const doc = (listener: Record<string, unknown>, tls: Record<string, unknown> = { ca_file: 'ca.pem' }) => ({
  listeners: [listener],
  clusters: [{ name: 'api', endpoints: [{ address: '127.0.0.1', port: 9001 }], tls }],
});
const http = { name: 'web', protocol: 'http', port: 8080, routes: [{ match: { prefix: '/' }, cluster: 'api' }] };

function problems(d: unknown): { path: string; message: string }[] {
  const r = validateConfig(d);
  return r.ok ? [] : r.problems;
}

describe('cluster tls', () => {
  it('fills in its defaults', () => {
    const r = validateConfig(doc(http, {}));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.clusters[0]!.tls).toEqual({ min_version: 'TLSv1.2', alpn: [] });
  });

  it('keeps every field it is given', () => {
    const tls = {
      sni: 'api.internal',
      ca_file: 'ca.pem',
      cert_file: 'web.pem',
      key_file: 'web.key',
      allowed_sans: ['spiffe://cluster.local/ns/default/sa/api'],
      min_version: 'TLSv1.3',
      ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
      alpn: ['http/1.1'],
    };
    const r = validateConfig(doc(http, tls));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.clusters[0]!.tls).toEqual(tls);
  });

  it('refuses a certificate without its key, an unknown version and an ALPN protocol other than http/1.1', () => {
    expect(problems(doc(http, { cert_file: 'web.pem' }))).toEqual([{ path: 'clusters[0].tls', message: 'set both cert_file and key_file, or neither' }]);
    expect(problems(doc(http, { min_version: 'TLSv1.1' })).map((p) => p.path)).toEqual(['clusters[0].tls.min_version']);
    expect(problems(doc(http, { alpn: ['h2'] }))).toEqual([
      { path: 'clusters[0].tls.alpn', message: "only http/1.1 may be listed here: for HTTP/2 set the cluster's protocol (h2, or auto to let ALPN decide)" },
    ]);
  });

  it('may serve a tcp listener', () => {
    expect(problems(doc({ name: 'db', protocol: 'tcp', port: 6000, cluster: 'api' }))).toEqual([]);
  });

  it('may not serve a udp listener', () => {
    expect(problems(doc({ name: 'dns', protocol: 'udp', port: 5353, cluster: 'api' }))).toEqual([
      {
        path: 'listeners[0].cluster',
        message: 'cluster "api" has tls, which a udp listener cannot use (datagrams are proxied as they are; DTLS is not supported): use a cluster without tls',
      },
    ]);
    const plain = doc({ name: 'dns', protocol: 'udp', port: 5353, cluster: 'api' });
    delete (plain.clusters[0] as { tls?: unknown }).tls;
    expect(problems(plain)).toEqual([]);
  });
});
