/**
 * What the proxy changes in the fields it forwards: hop-by-hop fields are dropped in both directions
 * (the head is re-serialised, never the client's bytes), forwarding fields are added to the request,
 * and the route's own edits are applied to each side.
 */
import { randomUUID } from 'node:crypto';
import { XFCC, applyXfcc, stripHopByHop, type CompiledRoute, type HeaderList, type PeerIdentity } from '@pillion/core';
import type { HttpListener } from './http-listener.js';

/** Via names the protocol the request was received in (RFC 9110 7.6.3). */
const VIA = '1.1 pillion';
const VIA_H2 = '2 pillion';

/**
 * Rewrites a request's fields for its upstream: x-forwarded-for/-proto/-host, via, x-request-id,
 * x-forwarded-client-cert (the listener's `forward_client_cert` mode for a client with a verified
 * certificate, `peer`; removed otherwise, so a client can never inject it), then the route's host
 * rewrite and header edits. `h2`: the request came over HTTP/2. Returns the request id (the
 * client's, or a new one).
 */
export function forwardRequestHeaders(h: HeaderList, route: CompiledRoute, clientAddress: string, host: string, l: HttpListener, peer: PeerIdentity | null, h2: boolean): string {
  stripHopByHop(h);
  const xff = h.get('x-forwarded-for');
  h.set('x-forwarded-for', xff ? `${xff}, ${clientAddress}` : clientAddress);
  h.set('x-forwarded-proto', l.secure ? 'https' : 'http');
  if (peer === null || l.forwardClientCert === 'sanitize') {
    if (h.has(XFCC)) h.remove(XFCC);
  } else applyXfcc(h, l.forwardClientCert, peer, l.clientCertBy());
  if (!h.has('x-forwarded-host')) h.add('x-forwarded-host', host);
  const via = h.get('via');
  const mine = h2 ? VIA_H2 : VIA;
  h.set('via', via ? `${via}, ${mine}` : mine);
  let id = h.get('x-request-id');
  if (!id) h.add('x-request-id', (id = randomUUID()));
  if (route.config.host_rewrite) h.set('host', route.config.host_rewrite);
  const edits = route.config.request_headers;
  for (const name of edits.remove) h.remove(name);
  for (const name in edits.add) h.set(name, edits.add[name]!);
  return id;
}

/** Drops an upstream response's hop-by-hop fields and applies the route's response edits. */
export function forwardResponseHeaders(h: HeaderList, route: CompiledRoute): void {
  stripHopByHop(h);
  const edits = route.config.response_headers;
  for (const name of edits.remove) h.remove(name);
  for (const name in edits.add) h.set(name, edits.add[name]!);
}
