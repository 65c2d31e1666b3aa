import { validateConfig, type Config } from '@pillion/core';
import { describe, expect, it } from 'vitest';
import { reloadProblems } from '../src/supervisor/reload-check.js';

const base = () => ({
  workers: 2,
  admin: { port: 9901 },
  listeners: [
    { name: 'web', protocol: 'http', port: 8080, routes: [{ match: { prefix: '/' }, cluster: 'api' }] },
    { name: 'web2', protocol: 'http', port: 8081, routes: [{ match: { prefix: '/' }, cluster: 'api' }] },
  ],
  clusters: [{ name: 'api', endpoints: [{ address: '127.0.0.1', port: 9001 }] }],
});
type Doc = ReturnType<typeof base> & Record<string, any>;

function parse(doc: unknown): Config {
  const r = validateConfig(doc);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config;
}

describe('what a reload may change', () => {
  it.each<[string, (d: Doc) => void, string[]]>([
    ['endpoints, routes, lb and health checks apply', (d) => {
      d.clusters[0].endpoints.push({ address: '127.0.0.1', port: 9002 });
      (d.listeners[0] as any).routes[0].match.prefix = '/v2';
      (d.clusters[0] as any).lb = { policy: 'least-request' };
      (d.clusters[0] as any).health_check = { tcp: {} };
    }, []],
    ['a new cluster applies', (d) => d.clusters.push({ name: 'other', endpoints: [] }), []],
    ['the log level applies', (d) => (d.log = { level: 'debug' }), []],
    ['a listener port needs a restart', (d) => (d.listeners[1].port = 8090), ['listeners[1].port']],
    ['a listener codec needs a restart', (d) => ((d.listeners[1] as any).codec = 'http1-strict'), ['listeners[1].codec']],
    ['a listener address needs a restart', (d) => ((d.listeners[0] as any).address = '0.0.0.0'), ['listeners[0].address']],
    ['a new listener needs a restart', (d) => d.listeners.push({ name: 'web3', protocol: 'http', port: 8082, routes: [{ match: { prefix: '/' }, cluster: 'api' }] }), ['listeners[2]']],
    ['a removed listener needs a restart', (d) => d.listeners.pop(), ['listeners']],
    ['workers need a restart', (d) => (d.workers = 3), ['workers']],
    ['capacity needs a restart', (d) => (d.capacity = { max_endpoints: 10 }), ['capacity.max_endpoints']],
    ['route capacity needs a restart', (d) => (d.capacity = { max_routes: 10 }), ['capacity.max_routes']],
    ['worker heap limits need a restart', (d) => (d.worker_heap = { young_generation_mb: 32 }), ['worker_heap.young_generation_mb']],
    ['the admin port needs a restart', (d) => (d.admin.port = 9902), ['admin.port']],
  ])('%s', (_name, change, paths) => {
    const current = parse(base());
    const d = base() as Doc;
    change(d);
    const problems = reloadProblems(current, parse(d), 2, 8);
    expect(problems.map((p) => p.path)).toEqual(paths);
    for (const p of problems) expect(p.message).toMatch(/restart/);
  });

  it('adding or removing tls on an http1-strict listener needs a restart; changing it applies', () => {
    const strict = (tls?: Record<string, unknown>) => {
      const d = base() as Doc;
      Object.assign(d.listeners[0] as any, { codec: 'http1-strict' }, tls ? { tls } : {});
      return parse(d);
    };
    const tls = { certificates: [{ cert_file: 'a.pem', key_file: 'a.key' }] };
    expect(reloadProblems(strict(), strict(tls), 2, 8).map((p) => [p.path, p.message])).toEqual([['listeners[0].tls', expect.stringMatching(/^was absent: .*restart/)]]);
    expect(reloadProblems(strict(tls), strict(), 2, 8).map((p) => p.path)).toEqual(['listeners[0].tls']);
    expect(reloadProblems(strict(tls), strict({ ...tls, min_version: 'TLSv1.3', certificates: [{ cert_file: 'b.pem', key_file: 'b.key' }] }), 2, 8)).toEqual([]);
    // node:tls takes a server's handshake timeout only when it is made.
    expect(reloadProblems(strict(tls), strict({ ...tls, handshake_timeout: '3s' }), 2, 8).map((p) => [p.path, p.message])).toEqual([
      ['listeners[0].tls.handshake_timeout', expect.stringMatching(/^was 10000 ms: .*restart/)],
    ]);
  });

  it('resolves workers: auto against the cores', () => {
    const current = parse(base());
    const d = base() as Doc;
    (d as any).workers = 'auto';
    expect(reloadProblems(current, parse(d), 2, 2)).toEqual([]);
    expect(reloadProblems(current, parse(d), 2, 4).map((p) => p.path)).toEqual(['workers']);
  });
});
