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
    ['the admin port needs a restart', (d) => (d.admin.port = 9902), ['admin.port']],
  ])('%s', (_name, change, paths) => {
    const current = parse(base());
    const d = base() as Doc;
    change(d);
    const problems = reloadProblems(current, parse(d), 2, 8);
    expect(problems.map((p) => p.path)).toEqual(paths);
    for (const p of problems) expect(p.message).toMatch(/restart/);
  });

  it('resolves workers: auto against the cores', () => {
    const current = parse(base());
    const d = base() as Doc;
    (d as any).workers = 'auto';
    expect(reloadProblems(current, parse(d), 2, 2)).toEqual([]);
    expect(reloadProblems(current, parse(d), 2, 4).map((p) => p.path)).toEqual(['workers']);
  });
});
