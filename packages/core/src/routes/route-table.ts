/**
 * The route table of an HTTP listener, compiled once per config: matching a request is a loop over
 * plain records with precomputed matchers, first match wins. Nothing here parses config per request.
 */
import type { RouteConfig } from '../config/schema.js';
import type { HeaderList } from '../http/header-list.js';
import { compileRetryOn, type RetryOn } from '../resilience/retry-policy.js';

const enum PathKind {
  Any,
  Prefix,
  Exact,
  Regex,
}

const enum HeaderKind {
  Exact,
  Present,
  Absent,
  Regex,
}

const enum IdentityKind {
  Exact,
  Prefix,
  Regex,
}

/** `match.client_identity`: what the verified client certificate's identity (PeerIdentity.name) must be. */
interface IdentityMatcher {
  kind: IdentityKind;
  value: string;
  regex: RegExp | null;
}

interface HeaderMatcher {
  name: string;
  kind: HeaderKind;
  value: string;
  regex: RegExp | null;
}

export interface CompiledRoute {
  readonly index: number;
  readonly name: string;
  readonly config: RouteConfig;
  /** Cluster names this route may send to, in weighted order; one entry for a plain `cluster`. */
  readonly clusters: readonly string[];
  /** Cumulative weights matching `clusters`; the last entry is the total. */
  readonly cumulativeWeights: readonly number[];
  readonly pathKind: PathKind;
  readonly pathValue: string;
  readonly pathRegex: RegExp | null;
  readonly methods: ReadonlySet<string> | null;
  readonly headers: readonly HeaderMatcher[];
  /** Lower-case host to match exactly, or a suffix (".example.com") when hostIsSuffix. */
  readonly host: string | null;
  readonly hostIsSuffix: boolean;
  /** `match.client_identity`, or null when the route takes any client (with or without a certificate). */
  readonly identity: IdentityMatcher | null;
  /** The compiled `retry.on`, or null when the route does not retry. */
  readonly retryOn: RetryOn | null;
}

export interface RouteRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Host header (or :authority), may include a port. */
  host: string;
  headers: HeaderList;
  /**
   * The name of the client's verified certificate (its URI SAN, else first DNS SAN, else CN); null or
   * absent when the connection has none. A route with `client_identity` never matches without one.
   */
  identity?: string | null;
}

export class RouteTable {
  readonly routes: readonly CompiledRoute[];
  /** Whether any route has `client_identity` (only then can a request be refused for its identity). */
  readonly hasIdentityRoutes: boolean;

  constructor(routes: readonly RouteConfig[]) {
    this.routes = routes.map(compileRoute);
    this.hasIdentityRoutes = this.routes.some((r) => r.identity !== null);
  }

  /**
   * The first route matching the request, or null. A route with `client_identity` that matches in
   * everything but the identity is passed over, and from then on only routes with a `client_identity`
   * of their own may serve the request: a later catch-all never serves a client an earlier route
   * refused for who it is (it gets 403, see refusedByIdentity).
   */
  match(req: RouteRequest): CompiledRoute | null {
    const routes = this.routes;
    let host: string | null = null;
    let identityRefused = false;
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i]!;
      if (r.methods !== null && !r.methods.has(req.method)) continue;
      if (!matchPath(r, req.path)) continue;
      if (r.host !== null) {
        if (host === null) host = normaliseHost(req.host);
        if (r.hostIsSuffix ? !(host.endsWith(r.host) && host.length > r.host.length) : host !== r.host) continue;
      }
      if (r.headers.length && !matchHeaders(r.headers, req.headers)) continue;
      if (r.identity !== null) {
        if (matchIdentity(r.identity, req.identity)) return r;
        identityRefused = true;
        continue;
      }
      if (identityRefused) continue;
      return r;
    }
    return null;
  }

  /**
   * For a request no route matched: whether one would have matched it in everything but
   * `client_identity`. Such a request is refused for who the client is (403), not for lack of a route (404).
   */
  refusedByIdentity(req: RouteRequest): boolean {
    if (!this.hasIdentityRoutes) return false;
    const host = normaliseHost(req.host);
    for (const r of this.routes) {
      if (r.identity === null || (r.methods !== null && !r.methods.has(req.method)) || !matchPath(r, req.path)) continue;
      if (r.host !== null && (r.hostIsSuffix ? !(host.endsWith(r.host) && host.length > r.host.length) : host !== r.host)) continue;
      if (r.headers.length && !matchHeaders(r.headers, req.headers)) continue;
      return true;
    }
    return false;
  }
}

/** Picks one of a route's clusters by weight; `random` is in [0, 1). */
export function pickCluster(route: CompiledRoute, random: number): string {
  const c = route.clusters;
  if (c.length === 1) return c[0]!;
  const w = route.cumulativeWeights;
  const target = random * w[w.length - 1]!;
  for (let i = 0; i < w.length; i++) if (target < w[i]!) return c[i]!;
  return c[c.length - 1]!;
}

/** Applies the route's prefix_rewrite to a path (the query string stays as it was). */
export function rewritePath(route: CompiledRoute, path: string): string {
  const rewrite = route.config.prefix_rewrite;
  if (rewrite === undefined || route.pathKind !== PathKind.Prefix) return path;
  return rewrite + path.slice(route.pathValue.length);
}

function matchPath(r: CompiledRoute, path: string): boolean {
  switch (r.pathKind) {
    case PathKind.Any:
      return true;
    case PathKind.Prefix:
      return path.startsWith(r.pathValue);
    case PathKind.Exact:
      return path === r.pathValue;
    case PathKind.Regex:
      return r.pathRegex!.test(path);
  }
}

function matchHeaders(matchers: readonly HeaderMatcher[], headers: HeaderList): boolean {
  for (let i = 0; i < matchers.length; i++) {
    const m = matchers[i]!;
    const v = headers.get(m.name);
    switch (m.kind) {
      case HeaderKind.Present:
        if (v === undefined) return false;
        break;
      case HeaderKind.Absent:
        if (v !== undefined) return false;
        break;
      case HeaderKind.Exact:
        if (v !== m.value) return false;
        break;
      case HeaderKind.Regex:
        if (v === undefined || !m.regex!.test(v)) return false;
        break;
    }
  }
  return true;
}

function matchIdentity(m: IdentityMatcher, identity: string | null | undefined): boolean {
  if (identity === null || identity === undefined) return false;
  switch (m.kind) {
    case IdentityKind.Exact:
      return identity === m.value;
    case IdentityKind.Prefix:
      return identity.startsWith(m.value);
    case IdentityKind.Regex:
      return m.regex!.test(identity);
  }
}

function normaliseHost(host: string): string {
  let h = host.toLowerCase();
  // Strip the port, keeping IPv6 literals ("[::1]:8080") intact.
  const colon = h.lastIndexOf(':');
  if (colon !== -1 && h.indexOf(']') < colon) h = h.slice(0, colon);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

function compileRoute(config: RouteConfig, index: number): CompiledRoute {
  const m = config.match;
  let pathKind = PathKind.Any;
  let pathValue = '';
  let pathRegex: RegExp | null = null;
  if (m.exact !== undefined) {
    pathKind = PathKind.Exact;
    pathValue = m.exact;
  } else if (m.regex !== undefined) {
    pathKind = PathKind.Regex;
    pathRegex = new RegExp(`^(?:${m.regex})$`);
  } else if (m.prefix !== undefined && m.prefix !== '/') {
    pathKind = PathKind.Prefix;
    pathValue = m.prefix;
  }
  const headers: HeaderMatcher[] = [];
  for (const [name, spec] of Object.entries(m.headers ?? {})) {
    if (typeof spec === 'string') headers.push({ name, kind: HeaderKind.Exact, value: spec, regex: null });
    else if ('present' in spec) headers.push({ name, kind: spec.present ? HeaderKind.Present : HeaderKind.Absent, value: '', regex: null });
    else headers.push({ name, kind: HeaderKind.Regex, value: '', regex: new RegExp(`^(?:${spec.regex})$`) });
  }
  let host: string | null = null;
  let hostIsSuffix = false;
  if (m.host !== undefined) {
    host = m.host.toLowerCase();
    if (host.startsWith('*.')) {
      hostIsSuffix = true;
      host = host.slice(1);
    }
  }
  let identity: IdentityMatcher | null = null;
  const id = m.client_identity;
  if (id !== undefined) {
    if ('exact' in id) identity = { kind: IdentityKind.Exact, value: id.exact, regex: null };
    else if ('prefix' in id) identity = { kind: IdentityKind.Prefix, value: id.prefix, regex: null };
    else identity = { kind: IdentityKind.Regex, value: '', regex: new RegExp(`^(?:${id.regex})$`) };
  }
  const weighted = config.weighted_clusters ?? [{ cluster: config.cluster!, weight: 1 }];
  const clusters: string[] = [];
  const cumulativeWeights: number[] = [];
  let total = 0;
  for (const w of weighted) {
    if (w.weight === 0) continue;
    total += w.weight;
    clusters.push(w.cluster);
    cumulativeWeights.push(total);
  }
  return {
    index,
    name: config.name ?? `route-${index}`,
    config,
    clusters,
    cumulativeWeights,
    pathKind,
    pathValue,
    pathRegex,
    methods: m.methods ? new Set(m.methods) : null,
    headers,
    host,
    hostIsSuffix,
    identity,
    retryOn: config.retry && config.retry.attempts > 0 ? compileRetryOn(config.retry.on) : null,
  };
}
