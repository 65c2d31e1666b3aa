/**
 * The configuration of HTTP/2 and gRPC (issue 14): listener codec h2c and its conflict with tls, the
 * ALPN a TLS listener offers by default, listeners[].http2 and clusters[].http2 defaults,
 * clusters[].protocol and its TLS rules, the gRPC health check, and gRPC names in retry.on. Each bad
 * config names its field and says what to do.
 */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/validate.js';
import { httpCodecOf } from '../src/config/schema.js';

const listener = { name: 'web', protocol: 'http', port: 8080, routes: [{ match: { prefix: '/' }, cluster: 'api' }] };
const cluster = { name: 'api', endpoints: [{ address: '127.0.0.1', port: 9001 }] };
const listenerTls = { certificates: [{ cert_file: 'server.pem', key_file: 'server.key' }] };
const clusterTls = { ca_file: 'ca.pem' };
const base = () => ({ listeners: [structuredClone(listener)] as any[], clusters: [structuredClone(cluster)] as any[] });
type Doc = ReturnType<typeof base>;

const RETRY_ON_ERROR =
  'must be one of connect-failure, reset, gateway-error, 5xx, retriable-4xx, cancelled, deadline-exceeded, resource-exhausted, unavailable, internal or a status code 400-599';

const bad: [string, (d: Doc) => void, string, string][] = [
  // [case, mutate, expected path, expected message]
  [
    'codec h2c with tls',
    (d) => Object.assign(d.listeners[0], { codec: 'h2c', tls: listenerTls }),
    'listeners[0].codec',
    'h2c is HTTP/2 without TLS: on a TLS listener ALPN decides (tls.alpn: [h2, http/1.1]), so leave codec unset',
  ],
  ['an unknown codec', (d) => (d.listeners[0].codec = 'h2'), 'listeners[0].codec', 'must be one of uws, http1-strict, h2c'],
  ['an unknown ALPN protocol on a listener', (d) => (d.listeners[0].tls = { ...listenerTls, alpn: ['h3'] }), 'listeners[0].tls.alpn[0]', 'must be one of h2, http/1.1'],
  ['listeners[].http2 with an unknown field', (d) => (d.listeners[0].http2 = { max_streams: 10 }), 'listeners[0].http2.max_streams', 'unknown field'],
  ['max_concurrent_streams 0', (d) => (d.listeners[0].http2 = { max_concurrent_streams: 0 }), 'listeners[0].http2.max_concurrent_streams', 'must be >= 1'],
  ['an initial window under the protocol minimum', (d) => (d.listeners[0].http2 = { initial_window_size: 1000 }), 'listeners[0].http2.initial_window_size', 'must be >= 65535'],
  ['an unknown cluster protocol', (d) => (d.clusters[0].protocol = 'http3'), 'clusters[0].protocol', 'must be one of http1, h2, h2c, auto'],
  ['protocol h2 without tls', (d) => (d.clusters[0].protocol = 'h2'), 'clusters[0].protocol', 'h2 is HTTP/2 over TLS and needs tls: set tls, or use h2c for cleartext HTTP/2'],
  ['protocol auto without tls', (d) => (d.clusters[0].protocol = 'auto'), 'clusters[0].protocol', 'auto is HTTP/2 over TLS and needs tls: set tls, or use h2c for cleartext HTTP/2'],
  ['protocol h2c with tls', (d) => Object.assign(d.clusters[0], { protocol: 'h2c', tls: clusterTls }), 'clusters[0].protocol', 'h2c is cleartext HTTP/2: with tls use h2 (or auto)'],
  [
    'h2 in a cluster tls.alpn',
    (d) => Object.assign(d.clusters[0], { protocol: 'h2', tls: { ...clusterTls, alpn: ['h2'] } }),
    'clusters[0].tls.alpn',
    "only http/1.1 may be listed here: for HTTP/2 set the cluster's protocol (h2, or auto to let ALPN decide)",
  ],
  ['clusters[].http2 sessions_per_endpoint 0', (d) => (d.clusters[0].http2 = { sessions_per_endpoint: 0 }), 'clusters[0].http2.sessions_per_endpoint', 'must be >= 1'],
  ['clusters[].http2 with a bad keepalive', (d) => (d.clusters[0].http2 = { keepalive_interval: 'often' }), 'clusters[0].http2.keepalive_interval', 'must be a duration like 250ms'],
  [
    'a gRPC health check on an http1 cluster',
    (d) => (d.clusters[0].health_check = { grpc: {} }),
    'clusters[0].health_check.grpc',
    "a gRPC health check speaks HTTP/2: set the cluster's protocol to h2c, h2 or auto",
  ],
  [
    'a gRPC health check on an explicit http1 cluster',
    (d) => Object.assign(d.clusters[0], { protocol: 'http1', health_check: { grpc: { service: 'echo.Echo' } } }),
    'clusters[0].health_check.grpc',
    "a gRPC health check speaks HTTP/2: set the cluster's protocol to h2c, h2 or auto",
  ],
  ['grpc and http health checks at once', (d) => Object.assign(d.clusters[0], { protocol: 'h2c', health_check: { grpc: {}, http: {} } }), 'clusters[0].health_check', 'set exactly one of http, tcp, grpc'],
  ['grpc and tcp health checks at once', (d) => Object.assign(d.clusters[0], { protocol: 'h2c', health_check: { grpc: {}, tcp: {} } }), 'clusters[0].health_check', 'set exactly one of http, tcp, grpc'],
  ['a health check of no kind', (d) => (d.clusters[0].health_check = {}), 'clusters[0].health_check', 'set exactly one of http, tcp, grpc'],
  ['an unknown field in the gRPC check', (d) => Object.assign(d.clusters[0], { protocol: 'h2c', health_check: { grpc: { name: 'x' } } }), 'clusters[0].health_check.grpc.name', 'unknown field'],
  ['a gRPC status name in upper case', (d) => (d.listeners[0].routes[0].retry = { on: ['UNAVAILABLE'] }), 'listeners[0].routes[0].retry.on[0]', RETRY_ON_ERROR],
  ['a gRPC status name with an underscore', (d) => (d.listeners[0].routes[0].retry = { on: ['unavailable', 'deadline_exceeded'] }), 'listeners[0].routes[0].retry.on[1]', RETRY_ON_ERROR],
  ['a gRPC status not retried by name', (d) => (d.listeners[0].routes[0].retry = { on: ['not-found'] }), 'listeners[0].routes[0].retry.on[0]', RETRY_ON_ERROR],
  ['a gRPC status by number', (d) => (d.listeners[0].routes[0].retry = { on: [14] }), 'listeners[0].routes[0].retry.on[0]', RETRY_ON_ERROR],
];

describe('HTTP/2 config: each bad config names the field', () => {
  it.each(bad)('%s', (_name, mutate, path, message) => {
    const d = base();
    mutate(d);
    const r = validateConfig(d);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const match = r.problems.find((p) => p.path === path);
    expect(match, `no problem at ${path}; got ${JSON.stringify(r.problems)}`).toBeDefined();
    expect(match!.message).toContain(message);
  });
});

function valid(mutate: (d: Doc) => void) {
  const d = base();
  mutate(d);
  const r = validateConfig(d);
  if (!r.ok) throw new Error(`expected a valid config, got ${JSON.stringify(r.problems)}`);
  return r.config;
}

describe('HTTP/2 config: what is accepted and the defaults', () => {
  it('a cleartext listener may be h2c', () => {
    const l = valid((d) => (d.listeners[0].codec = 'h2c')).listeners[0]!;
    if (l.protocol !== 'http') throw new Error('expected http');
    expect(l.codec).toBe('h2c');
    expect(httpCodecOf(l)).toBe('h2c');
  });

  it('a TLS listener offers h2 and http/1.1 by default, and may offer one of them', () => {
    const l = valid((d) => (d.listeners[0].tls = listenerTls)).listeners[0]!;
    if (l.protocol !== 'http') throw new Error('expected http');
    expect(l.tls!.alpn).toEqual(['h2', 'http/1.1']);
    // HTTP/1.1 (by ALPN, or from a client without ALPN) is served by http1-strict, h2 by the HTTP/2 codec.
    expect(l.codec).toBe('http1-strict');
    const only = valid((d) => (d.listeners[0].tls = { ...listenerTls, alpn: ['http/1.1'] })).listeners[0]!;
    if (only.protocol !== 'http') throw new Error('expected http');
    expect(only.tls!.alpn).toEqual(['http/1.1']);
  });

  it('listeners[].http2 defaults; the unset ones fall back to the listener limits later', () => {
    const l = valid(() => {}).listeners[0]!;
    if (l.protocol !== 'http') throw new Error('expected http');
    expect(l.http2).toEqual({ max_concurrent_streams: 100, initial_window_size: 256 * 1024, max_resets_per_10s: 400 });
    const set = valid((d) => (d.listeners[0].http2 = { max_concurrent_streams: 5, max_header_list_size: 8192, keepalive_interval: '30s', idle_timeout: '2m' })).listeners[0]!;
    if (set.protocol !== 'http') throw new Error('expected http');
    expect(set.http2).toEqual({ max_concurrent_streams: 5, initial_window_size: 256 * 1024, max_header_list_size: 8192, keepalive_interval: 30_000, idle_timeout: 120_000, max_resets_per_10s: 400 });
  });

  it('clusters[].protocol defaults to http1; h2 and auto with tls, h2c without', () => {
    expect(valid(() => {}).clusters[0]!.protocol).toBe('http1');
    expect(valid((d) => Object.assign(d.clusters[0], { protocol: 'h2', tls: clusterTls })).clusters[0]!.protocol).toBe('h2');
    expect(valid((d) => Object.assign(d.clusters[0], { protocol: 'auto', tls: clusterTls })).clusters[0]!.protocol).toBe('auto');
    expect(valid((d) => (d.clusters[0].protocol = 'h2c')).clusters[0]!.protocol).toBe('h2c');
    expect(valid((d) => Object.assign(d.clusters[0], { protocol: 'http1', tls: clusterTls })).clusters[0]!.protocol).toBe('http1');
  });

  it('clusters[].http2 defaults', () => {
    expect(valid(() => {}).clusters[0]!.http2).toEqual({ max_concurrent_streams: 100, sessions_per_endpoint: 1, keepalive_timeout: 20_000 });
    expect(valid((d) => (d.clusters[0].http2 = { sessions_per_endpoint: 4, keepalive_interval: '10s' })).clusters[0]!.http2).toEqual({
      max_concurrent_streams: 100,
      sessions_per_endpoint: 4,
      keepalive_interval: 10_000,
      keepalive_timeout: 20_000,
    });
  });

  it('a gRPC health check on an HTTP/2 cluster: service defaults to the whole server', () => {
    const hc = valid((d) => Object.assign(d.clusters[0], { protocol: 'h2c', health_check: { grpc: {} } })).clusters[0]!.health_check!;
    expect(hc.grpc).toEqual({ service: '' });
    expect(hc.http).toBeUndefined();
    expect(hc.tcp).toBeUndefined();
    const named = valid((d) => Object.assign(d.clusters[0], { protocol: 'h2', tls: clusterTls, health_check: { grpc: { service: 'echo.Echo', authority: 'echo.internal' } } }));
    expect(named.clusters[0]!.health_check!.grpc).toEqual({ service: 'echo.Echo', authority: 'echo.internal' });
  });

  it('an HTTP check is fine on any protocol', () => {
    expect(valid((d) => Object.assign(d.clusters[0], { protocol: 'h2c', health_check: { http: {} } })).clusters[0]!.health_check!.http!.path).toBe('/health');
  });

  it('retry.on takes the gRPC status names beside the HTTP conditions', () => {
    const on = ['cancelled', 'deadline-exceeded', 'resource-exhausted', 'unavailable', 'internal', 'reset', '503'];
    const route = valid((d) => (d.listeners[0].routes[0].retry = { on })).listeners[0]!;
    if (route.protocol !== 'http') throw new Error('expected http');
    expect(route.routes[0]!.retry!.on).toEqual(on);
  });
});
