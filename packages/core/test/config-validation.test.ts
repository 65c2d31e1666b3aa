import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/validate.js';
import { validateConfigText } from '../src/config/load.js';
import { formatDuration, parseDuration } from '../src/config/duration.js';

const listener = { name: 'web', protocol: 'http', port: 8080, routes: [{ match: { prefix: '/' }, cluster: 'api' }] };
const cluster = { name: 'api', endpoints: [{ address: '127.0.0.1', port: 9001 }] };
const base = () => ({ listeners: [structuredClone(listener)], clusters: [structuredClone(cluster)] });

type Doc = ReturnType<typeof base> & Record<string, unknown>;
const bad: [string, (d: Doc) => unknown, string, string][] = [
  // [case, mutate, expected path, expected message fragment]
  ['unknown top-level key', (d) => ({ ...d, worker: 2 }), 'worker', 'unknown field'],
  ['unknown nested key', (d) => ((d.clusters[0] as any).lb = { polcy: 'random' }, d), 'clusters[0].lb.polcy', 'unknown field'],
  ['bad lb policy', (d) => ((d.clusters[0] as any).lb = { policy: 'fastest' }), 'clusters[0].lb.policy', 'must be one of round-robin, random, least-request, ring-hash, maglev'],
  ['workers zero', (d) => ({ ...d, workers: 0 }), 'workers', 'must be >= 1'],
  ['workers string', (d) => ({ ...d, workers: 'many' }), 'workers', 'must be "auto" or an integer'],
  ['port out of range', (d) => ((d.listeners[0] as any).port = 70000), 'listeners[0].port', 'must be <= 65535'],
  ['port not a number', (d) => ((d.listeners[0] as any).port = '8080'), 'listeners[0].port', 'must be a number'],
  ['missing port', (d) => delete (d.listeners[0] as any).port, 'listeners[0].port', 'is required'],
  ['bad protocol', (d) => ((d.listeners[0] as any).protocol = 'quic'), 'listeners[0].protocol', 'protocol must be one of http, tcp, udp'],
  ['bad codec', (d) => ((d.listeners[0] as any).codec = 'h2'), 'listeners[0].codec', 'must be one of uws, http1-strict'],
  ['max_pipelined_requests 0', (d) => ((d.listeners[0] as any).max_pipelined_requests = 0), 'listeners[0].max_pipelined_requests', ''],
  ['no listeners', (d) => ({ ...d, listeners: [] }), 'listeners', 'at least one listener'],
  ['no routes', (d) => ((d.listeners[0] as any).routes = []), 'listeners[0].routes', 'at least one route'],
  ['unknown cluster in route', (d) => ((d.listeners[0] as any).routes[0].cluster = 'nope'), 'listeners[0].routes[0].cluster', 'unknown cluster "nope"'],
  ['route with cluster and weighted', (d) => ((d.listeners[0] as any).routes[0].weighted_clusters = [{ cluster: 'api', weight: 1 }]), 'listeners[0].routes[0]', 'set exactly one of cluster, weighted_clusters'],
  ['prefix without slash', (d) => ((d.listeners[0] as any).routes[0].match = { prefix: 'api' }), 'listeners[0].routes[0].match.prefix', 'must start with /'],
  ['bad regex', (d) => ((d.listeners[0] as any).routes[0].match = { regex: '(' }), 'listeners[0].routes[0].match.regex', 'not a valid regular expression'],
  ['two path kinds', (d) => ((d.listeners[0] as any).routes[0].match = { prefix: '/', exact: '/x' }), 'listeners[0].routes[0].match', 'set only one of prefix, exact, regex'],
  ['bad duration', (d) => ((d.clusters[0] as any).connect_timeout = '5 parsecs'), 'clusters[0].connect_timeout', 'must be a duration like 250ms'],
  ['duplicate cluster', (d) => d.clusters.push(structuredClone(cluster)), 'clusters[1].name', 'duplicate cluster name "api"'],
  ['duplicate listener name', (d) => d.listeners.push({ ...structuredClone(listener), port: 8081 }), 'listeners[1].name', 'duplicate listener name "web"'],
  ['same port twice', (d) => d.listeners.push({ ...structuredClone(listener), name: 'web2' }), 'listeners[1].port', '127.0.0.1:8080 is already used by listeners[0]'],
  ['duplicate endpoint', (d) => d.clusters[0]!.endpoints.push({ address: '127.0.0.1', port: 9001 }), 'clusters[0].endpoints[1]', 'duplicate endpoint 127.0.0.1:9001'],
  ['endpoint weight zero', (d) => ((d.clusters[0]!.endpoints[0] as any).weight = 0), 'clusters[0].endpoints[0].weight', 'must be >= 1'],
  ['endpoint without address', (d) => delete (d.clusters[0]!.endpoints[0] as any).address, 'clusters[0].endpoints[0].address', 'is required'],
  ['bad cluster name', (d) => ((d.clusters[0] as any).name = 'has space'), 'clusters[0].name', 'must be 1-63 letters'],
  ['hash_on required', (d) => ((d.clusters[0] as any).lb = { policy: 'maglev' }), 'clusters[0].lb.hash_on', 'is required with policy maglev'],
  ['bad hash_on', (d) => ((d.clusters[0] as any).lb = { policy: 'ring-hash', hash_on: 'body' }), 'clusters[0].lb.hash_on', 'must be header:NAME, cookie:NAME or source-ip'],
  ['health check with both kinds', (d) => ((d.clusters[0] as any).health_check = { http: {}, tcp: {} }), 'clusters[0].health_check', 'set exactly one of http, tcp'],
  ['bad log level', (d) => ({ ...d, log: { level: 'loud' } }), 'log.level', 'must be one of fatal, error'],
  ['bad admin port', (d) => ({ ...d, admin: { port: -1 } }), 'admin.port', 'must be >= 0'],
  ['breaker limit zero', (d) => ((d.clusters[0] as any).circuit_breaker = { max_requests: 0 }), 'clusters[0].circuit_breaker.max_requests', 'must be >= 1'],
  ['header value with newline', (d) => ((d.listeners[0] as any).routes[0].request_headers = { add: { 'x-a': 'a\nb' } }), 'listeners[0].routes[0].request_headers.add.x-a', 'must not contain NUL, CR or LF'],
  ['too many endpoints for capacity', (d) => ({ ...d, capacity: { max_endpoints: 0 } }), 'capacity.max_endpoints', 'must be >= 1'],
  ['tcp listener without cluster', (d) => d.listeners.push({ name: 'db', protocol: 'tcp', port: 6000 } as any), 'listeners[1].cluster', 'is required'],
];

describe('config validation: each bad config names the field', () => {
  it.each(bad)('%s', (_name, mutate, path, fragment) => {
    const d = base() as Doc;
    const out = (mutate(d) ?? d) as unknown;
    const doc = typeof out === 'object' && out !== null && 'listeners' in (out as object) ? out : d;
    const r = validateConfig(doc);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const match = r.problems.find((p) => p.path === path);
    expect(match, `no problem at ${path}; got ${JSON.stringify(r.problems)}`).toBeDefined();
    expect(match!.message).toContain(fragment);
  });

  it('reports every problem at once, not just the first', () => {
    const d = base() as any;
    d.workers = 0;
    d.clusters[0].lb = { policy: 'fastest' };
    d.listeners[0].port = 'x';
    d.typo = true;
    const r = validateConfig(d);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => p.path).sort()).toEqual(['clusters[0].lb.policy', 'listeners[0].port', 'typo', 'workers']);
  });

  it('reports YAML syntax errors with a line', () => {
    const r = validateConfigText('listeners:\n  - name: web\n   port: 1\n');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems[0]!.message).toMatch(/^syntax: .*line 3/);
  });

  it('rejects duplicate YAML keys rather than keeping the last', () => {
    const r = validateConfigText('workers: 1\nworkers: 2\nlisteners: []\n');
    expect(r.ok).toBe(false);
  });
});

describe('config defaults', () => {
  it('fills every default in one pass', () => {
    const r = validateConfig(base());
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const c = r.config;
    expect(c.workers).toBe('auto');
    expect(c.admin).toEqual({ address: '127.0.0.1', port: 9901 });
    expect(c.log.level).toBe('info');
    expect(c.drain_timeout).toBe(30_000);
    expect(c.access_log).toEqual({ enabled: true, sample: 1 });
    const l = c.listeners[0]!;
    expect(l.address).toBe('127.0.0.1');
    if (l.protocol !== 'http') throw new Error('expected http');
    expect(l.filters).toEqual([]);
    expect(l.timeouts).toEqual({ request: 60_000, idle: 60_000, header_read: 10_000 });
    expect(l.codec).toBe('uws');
    expect(l.max_pipelined_requests).toBe(16);
    expect(l.limits.max_request_headers_bytes).toBe(16 * 1024);
    const cl = c.clusters[0]!;
    expect(cl.connect_timeout).toBe(1000);
    expect(cl.lb.policy).toBe('round-robin');
    expect(cl.lb.choices).toBe(2);
    expect(cl.circuit_breaker).toEqual({ max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3, per_endpoint: {} });
    expect(cl.pool).toEqual({ max_connections_per_endpoint: 128, idle_timeout: 60_000, max_requests_per_connection: 0, preconnect_ratio: 1, min_idle: 0 });
    // Without their blocks, a cluster still ejects outliers and a route still retries what is safe to retry.
    expect(cl.outlier_detection).toEqual({ consecutive_5xx: 5, consecutive_gateway_failure: 5, base_ejection_time: 30_000, max_ejection_time: 300_000, max_ejection_percent: 10, interval: 10_000 });
    expect(l.routes[0]!.retry).toMatchObject({ attempts: 1, on: ['connect-failure', 'reset'], budget_percent: 20, min_retry_concurrency: 3, replay_buffer: 65_536 });
    expect(cl.endpoints[0]).toEqual({ address: '127.0.0.1', port: 9001, weight: 1, zone: '', priority: 0 });
  });

  it('round-trips: validating the defaulted config gives the same config', () => {
    const r1 = validateConfig(base());
    if (!r1.ok) throw new Error('base config should be valid');
    const r2 = validateConfig(JSON.parse(JSON.stringify(r1.config)));
    expect(r2.ok).toBe(true);
    if (r2.ok) expect(r2.config).toEqual(r1.config);
  });

  it('accepts JSON text as well as YAML', () => {
    expect(validateConfigText(JSON.stringify(base())).ok).toBe(true);
  });
});

describe('durations', () => {
  it.each([
    ['250ms', 250],
    ['5s', 5000],
    ['1m', 60_000],
    ['2h', 7_200_000],
    ['1.5s', 1500],
    [15, 15],
  ] as const)('%s = %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['5', '5 s', '-1s', 'ms', '1d', ''])('%j is not a duration', (text) => expect(parseDuration(text)).toBeUndefined());
  it('formats back in the largest exact unit', () => {
    expect([250, 5000, 60_000, 90_000, 7_200_000].map(formatDuration)).toEqual(['250ms', '5s', '1m', '90s', '2h']);
  });
});
