/**
 * What happens to a request head before anything is sent upstream: the protocol rules and the
 * listener's limits (a refusal closes the connection, since its framing cannot be trusted), then the
 * route and the cluster it sends to.
 */
import { checkRequest, pickCluster, rewritePath, type BodyFraming, type CompiledRoute, type HeaderList } from '@pillion/core';
import type { ClusterRuntime } from './cluster-runtime.js';
import type { HttpListener } from './http-listener.js';

/** A request the proxy answers itself: its status and what to say about it. */
export interface Refusal {
  readonly status: number;
  readonly detail?: string;
}

const NO_BODY: BodyFraming = Object.freeze({ kind: 'none', length: 0 });
const CHUNKED: BodyFraming = Object.freeze({ kind: 'chunked', length: 0 });
const TOO_LARGE: Refusal = Object.freeze({ status: 413 });

/**
 * The `versionMinor` of an HTTP/2 request (beside 0 and 1 for HTTP/1.x): whether its HEADERS frame
 * ended the stream (no body), or a body follows.
 */
export const H2_NO_BODY = 20;
export const H2_BODY = 21;

/**
 * The body framing a request head declares, or why it is refused. An HTTP/2 request is checked by the
 * same rules (its `:authority` became Host); its body is whatever DATA frames follow, Content-Length
 * being only a promise nghttp2 holds the client to.
 */
export function admit(l: HttpListener, method: string, target: string, headers: HeaderList, versionMinor: number): BodyFraming | Refusal {
  const h2 = versionMinor >= H2_NO_BODY;
  const verdict = checkRequest(method, target, headers, h2 ? 1 : versionMinor, l.requestLimits);
  if (!verdict.ok) return { status: verdict.status, detail: verdict.reason };
  if (h2) {
    if (versionMinor === H2_NO_BODY) return NO_BODY;
    if (verdict.bodyKind !== 'length') return CHUNKED;
  }
  if (verdict.bodyKind === 'chunked') return CHUNKED;
  if (verdict.bodyKind === 'none') return NO_BODY;
  if (l.maxBodyBytes > 0 && verdict.contentLength > l.maxBodyBytes) return TOO_LARGE;
  return { kind: 'length', length: verdict.contentLength };
}

export function isRefusal<T extends object>(x: T | Refusal): x is Refusal {
  return (x as Refusal).status !== undefined;
}

/** Where a request goes: its route, the cluster, and the path to send upstream (rewritten, with the query). */
export interface RouteChoice {
  readonly route: CompiledRoute;
  readonly cluster: ClusterRuntime;
  readonly target: string;
}

const NO_ROUTE: Refusal = Object.freeze({ status: 404 });
const IDENTITY_REFUSED: Refusal = Object.freeze({ status: 403, detail: 'client identity not allowed on this route' });

/**
 * Matches `target` (path and query, as filters left it) against the listener's routes and picks the
 * cluster: the one a filter chose, or the route's (weighted when it has several). `identity`: the
 * name of the client's verified certificate, or null. A request that only `client_identity` kept from
 * a route gets 403; one no route would take, 404.
 */
export function routeRequest(l: HttpListener, method: string, target: string, headers: HeaderList, clusterOverride: string | null, identity: string | null): RouteChoice | Refusal {
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const req = { method, path, host: headers.get('host') ?? '', headers, identity };
  const route = l.routes.match(req);
  if (route === null) return l.routes.refusedByIdentity(req) ? IDENTITY_REFUSED : NO_ROUTE;
  const name = clusterOverride ?? pickCluster(route, route.clusters.length > 1 ? Math.random() : 0);
  const cluster = l.runtime.cluster(name);
  if (cluster === undefined) return { status: 503, detail: `no cluster ${name}` };
  const rewritten = rewritePath(route, path);
  return { route, cluster, target: q === -1 ? rewritten : `${rewritten}?${target.slice(q + 1)}` };
}
