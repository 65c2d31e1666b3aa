/**
 * Test fixtures for TCP listeners with `tls` and `tls_passthrough`: TLS material for the stand-in
 * worker and the listener config's `tls`; the TLS clients and upstreams are those of the end-to-end
 * tests (test/e2e/tls-tcp-peers.ts).
 */
import { randomBytes } from 'node:crypto';
import type { ListenerTlsMaterial } from '../src/messages.js';
import type { Pem } from '../../../test/helpers/certs.js';

export { Trickle, cnOf, fingerprintOf, tlsExchange, tlsOpen, tlsTagged, type TlsResult } from '../../../test/e2e/tls-tcp-peers.js';

/** Listener material: `certs[0]` is the default, the others serve their `names`. */
export function listenerMaterial(certs: { pem: Pem; names?: string[] }[], ca: string | null = null, ticketKeys: Buffer = randomBytes(48)): ListenerTlsMaterial {
  return {
    certificates: certs.map((c) => ({ cert: c.pem.cert, key: c.pem.key, serverNames: c.names ?? [], uri: '' })),
    ca,
    ticketKeys,
  };
}

/** The listener config's `tls` for `n` certificates (the files are never read by the stand-in). */
export function tlsConfig(n = 1, extra: Record<string, unknown> = {}, names: string[][] = []): Record<string, unknown> {
  return {
    certificates: Array.from({ length: n }, (_, i) => ({ cert_file: `c${i}.pem`, key_file: `c${i}.key`, server_names: names[i] ?? [] })),
    ...extra,
  };
}
