/**
 * `x-forwarded-client-cert` (XFCC), in Envoy's format and modes, so upstreams behind Pillion read the
 * client's identity exactly as they would behind Envoy. An element is `key=value` pairs joined by `;`
 * (By, Hash, Subject, URI, DNS); elements are joined by `,`, one per proxy that verified a client.
 *
 * Modes (the listener's `forward_client_cert`):
 * - `sanitize` (default): the header is removed and none is added.
 * - `forward_only`: an mTLS client's header is forwarded as it came.
 * - `append_forward`: an mTLS client's header gets this proxy's element appended.
 * - `sanitize_set`: an mTLS client's header is replaced by this proxy's element.
 * Over a connection without a verified client certificate every mode sanitizes: a client can never
 * inject the header.
 */
import type { HeaderList } from '../http/header-list.js';
import type { PeerIdentity } from './identity.js';

export const FORWARD_CLIENT_CERT_MODES = ['sanitize', 'forward_only', 'append_forward', 'sanitize_set'] as const;
export type ForwardClientCertMode = (typeof FORWARD_CLIENT_CERT_MODES)[number];

export const XFCC = 'x-forwarded-client-cert';

/** This proxy's element for a verified client: `by` is the URI SAN of the certificate the proxy presented ('' for none). */
export function xfccElement(client: PeerIdentity, by: string): string {
  let out = by ? `By=${quoteIfNeeded(by)};` : '';
  out += `Hash=${client.hash}`;
  if (client.subject) out += `;Subject="${escapeQuoted(client.subject.split('\n').reverse().join(','))}"`;
  for (const uri of client.uriSans) out += `;URI=${quoteIfNeeded(uri)}`;
  for (const dns of client.dnsSans) out += `;DNS=${quoteIfNeeded(dns)}`;
  return out;
}

/**
 * Applies `mode` to the request's fields: `client` is the verified client identity (null when the
 * connection has none), `by` the proxy's own URI SAN.
 */
export function applyXfcc(h: HeaderList, mode: ForwardClientCertMode, client: PeerIdentity | null, by: string): void {
  const incoming = h.getAll(XFCC);
  if (client === null || mode === 'sanitize') {
    if (incoming.length) h.remove(XFCC);
    return;
  }
  if (mode === 'forward_only') return;
  const mine = xfccElement(client, by);
  if (mode === 'sanitize_set' || incoming.length === 0) h.set(XFCC, mine);
  else h.set(XFCC, `${incoming.join(',')},${mine}`);
}

function quoteIfNeeded(v: string): string {
  return /[,;="]/.test(v) ? `"${escapeQuoted(v)}"` : v;
}

function escapeQuoted(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}
