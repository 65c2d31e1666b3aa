import { describe, expect, it } from 'vitest';
import { HeaderList } from '../src/http/header-list.js';
import { RouteTable, pickCluster, rewritePath } from '../src/routes/route-table.js';
import type { RouteConfig } from '../src/config/schema.js';

/** These routes retry nothing (a route the config leaves without `retry` retries once: tested elsewhere). */
const NO_RETRY: RouteConfig['retry'] = { attempts: 0, on: [], backoff: { base: 25, max: 250, retry_after_max: 10_000 }, budget_percent: 20, min_retry_concurrency: 3, replay_buffer: 65_536 };

const route = (match: RouteConfig['match'], cluster: string, extra: Partial<RouteConfig> = {}): RouteConfig => ({
  match,
  cluster,
  retry: NO_RETRY,
  request_headers: { add: {}, remove: [] },
  response_headers: { add: {}, remove: [] },
  ...extra,
});

const table = new RouteTable([
  route({ exact: '/exact' }, 'exact'),
  route({ prefix: '/api', methods: ['POST'] }, 'api-post'),
  route({ prefix: '/api', headers: { 'x-canary': '1' } }, 'api-canary'),
  route({ prefix: '/api', headers: { 'x-beta': { present: true } } }, 'api-beta'),
  route({ prefix: '/api', headers: { 'x-old': { present: false }, 'x-v': { regex: 'v[0-9]+' } } }, 'api-versioned'),
  route({ prefix: '/api' }, 'api'),
  route({ regex: '/users/[0-9]+/?' }, 'users'),
  route({ prefix: '/', host: '*.example.com' }, 'wild'),
  route({ prefix: '/', host: 'static.test' }, 'static'),
  route({ prefix: '/' }, 'default'),
]);

const cases: [string, { method?: string; path: string; host?: string; headers?: Record<string, string> }, string][] = [
  ['exact match', { path: '/exact' }, 'exact'],
  ['exact does not match a longer path', { path: '/exact/x' }, 'default'],
  ['method filter', { method: 'POST', path: '/api/x' }, 'api-post'],
  ['method filter skipped for GET', { path: '/api/x' }, 'api'],
  ['exact header value', { path: '/api', headers: { 'x-canary': '1' } }, 'api-canary'],
  ['header value mismatch', { path: '/api', headers: { 'x-canary': '2' } }, 'api'],
  ['header present', { path: '/api', headers: { 'x-beta': '' } }, 'api-beta'],
  ['header absent and regex', { path: '/api', headers: { 'x-v': 'v12' } }, 'api-versioned'],
  ['absent header present', { path: '/api', headers: { 'x-v': 'v12', 'x-old': '1' } }, 'api'],
  ['regex is anchored to the whole path', { path: '/users/42' }, 'users'],
  ['regex optional slash', { path: '/users/42/' }, 'users'],
  ['regex mismatch', { path: '/users/42/posts' }, 'default'],
  ['prefix is a plain string prefix', { path: '/apis' }, 'api'],
  ['wildcard host with port', { path: '/', host: 'a.example.com:8080' }, 'wild'],
  ['wildcard host is case-insensitive', { path: '/', host: 'A.EXAMPLE.COM' }, 'wild'],
  ['wildcard needs a label', { path: '/', host: 'example.com' }, 'default'],
  ['exact host', { path: '/', host: 'static.test' }, 'static'],
  ['exact host with trailing dot', { path: '/', host: 'static.test.' }, 'static'],
  ['first match wins', { method: 'POST', path: '/api', headers: { 'x-canary': '1' } }, 'api-post'],
];

describe('route table', () => {
  it.each(cases)('%s', (_name, r, expected) => {
    const headers = new HeaderList(Object.entries(r.headers ?? {}).flat());
    const m = table.match({ method: r.method ?? 'GET', path: r.path, host: r.host ?? 'localhost', headers });
    expect(m?.clusters[0]).toBe(expected);
  });

  it('returns null when nothing matches', () => {
    const t = new RouteTable([route({ prefix: '/only' }, 'x')]);
    expect(t.match({ method: 'GET', path: '/other', host: 'h', headers: new HeaderList() })).toBeNull();
  });

  it('picks weighted clusters by cumulative weight, skipping zero weights', () => {
    const t = new RouteTable([
      { ...route({ prefix: '/' }, 'unused'), cluster: undefined, weighted_clusters: [{ cluster: 'a', weight: 90 }, { cluster: 'off', weight: 0 }, { cluster: 'b', weight: 10 }] },
    ]);
    const r = t.routes[0]!;
    expect(r.clusters).toEqual(['a', 'b']);
    expect([0, 0.5, 0.8999, 0.9, 0.9999].map((x) => pickCluster(r, x))).toEqual(['a', 'a', 'a', 'b', 'b']);
  });

  it('rewrites the matched prefix only', () => {
    const t = new RouteTable([route({ prefix: '/api/v1' }, 'a', { prefix_rewrite: '/v2' }), route({ exact: '/e' }, 'b', { prefix_rewrite: '/x' })]);
    expect(rewritePath(t.routes[0]!, '/api/v1/users')).toBe('/v2/users');
    expect(rewritePath(t.routes[1]!, '/e')).toBe('/e');
  });
});

describe('route table: client_identity', () => {
  const web = 'spiffe://cluster.local/ns/default/sa/web';
  const t = new RouteTable([
    route({ prefix: '/admin', client_identity: { exact: 'spiffe://cluster.local/ns/ops/sa/admin' } }, 'admin'),
    route({ prefix: '/api', methods: ['POST'], client_identity: { prefix: 'spiffe://cluster.local/ns/default/' } }, 'api-write'),
    route({ prefix: '/api', client_identity: { regex: 'spiffe://cluster\\.local/ns/[a-z]+/sa/(web|batch)' } }, 'api-read'),
    route({ prefix: '/api', headers: { 'x-public': '1' } }, 'api-public'),
    route({ prefix: '/open' }, 'open'),
  ]);
  const req = (path: string, identity: string | null | undefined, method = 'GET', headers: string[] = []) => ({
    method,
    path,
    host: 'h',
    headers: new HeaderList(headers),
    identity,
  });
  const cases: [string, ReturnType<typeof req>, string | null, boolean][] = [
    ['exact identity matches', req('/admin/x', 'spiffe://cluster.local/ns/ops/sa/admin'), 'admin', false],
    ['exact identity does not match a longer one', req('/admin/x', 'spiffe://cluster.local/ns/ops/sa/admin2'), null, true],
    ['prefix identity', req('/api/x', web, 'POST'), 'api-write', false],
    ['prefix mismatch falls through to the next route', req('/api/x', 'spiffe://cluster.local/ns/other/sa/web', 'POST'), 'api-read', false],
    ['regex identity', req('/api/x', 'spiffe://cluster.local/ns/batch/sa/batch'), 'api-read', false],
    ['regex is anchored to the whole identity', req('/api/x', 'spiffe://cluster.local/ns/default/sa/webber'), null, true],
    ['no identity never matches a route that requires one', req('/api/x', null), null, true],
    ['an absent identity is no identity', req('/api/x', undefined), null, true],
    ['a route without client_identity never serves a client an earlier route refused', req('/api/x', null, 'GET', ['x-public', '1']), null, true],
    ['nor one whose identity an earlier route refused', req('/api/x', 'spiffe://cluster.local/ns/default/sa/db', 'GET', ['x-public', '1']), null, true],
    ['routes without client_identity take any client', req('/open', web), 'open', false],
    ['routes without client_identity take a client without one', req('/open', null), 'open', false],
    ['no route at all is not an identity refusal', req('/nothing', web), null, false],
  ];
  it.each(cases)('%s', (_name, r, expected, refused) => {
    expect(t.match(r)?.clusters[0] ?? null).toBe(expected);
    if (expected === null) expect(t.refusedByIdentity(r)).toBe(refused);
  });

  it('refuses nothing for identity when no route has client_identity', () => {
    const plain = new RouteTable([route({ prefix: '/a' }, 'a')]);
    expect(plain.hasIdentityRoutes).toBe(false);
    expect(plain.refusedByIdentity(req('/b', null))).toBe(false);
    expect(t.hasIdentityRoutes).toBe(true);
  });

  it('a catch-all still serves requests no identity route took part in', () => {
    const guarded = new RouteTable([route({ prefix: '/admin', methods: ['GET'], client_identity: { exact: 'a' } }, 'admin'), route({ prefix: '/' }, 'all')]);
    const r = (method: string, path: string, identity: string | null) => ({ method, path, host: 'h', headers: new HeaderList(), identity });
    expect(guarded.match(r('GET', '/admin', 'a'))?.clusters[0]).toBe('admin');
    expect(guarded.match(r('GET', '/admin', 'b'))).toBeNull();
    expect(guarded.match(r('GET', '/admin', null))).toBeNull();
    expect(guarded.match(r('POST', '/admin', null))?.clusters[0]).toBe('all');
    expect(guarded.match(r('GET', '/other', null))?.clusters[0]).toBe('all');
  });

  it('an identity refusal respects the route methods, host and headers', () => {
    const scoped = new RouteTable([
      route({ prefix: '/', methods: ['GET'], host: '*.internal', headers: { 'x-t': { present: true } }, client_identity: { exact: 'a' } }, 'a'),
    ]);
    const r = (method: string, host: string, headers: string[]) => ({ method, path: '/', host, headers: new HeaderList(headers), identity: 'b' });
    expect(scoped.refusedByIdentity(r('GET', 'x.internal:8443', ['x-t', '1']))).toBe(true);
    expect(scoped.refusedByIdentity(r('POST', 'x.internal', ['x-t', '1']))).toBe(false);
    expect(scoped.refusedByIdentity(r('GET', 'x.public', ['x-t', '1']))).toBe(false);
    expect(scoped.refusedByIdentity(r('GET', 'x.internal', []))).toBe(false);
  });
});
