import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/validate.js';

const listener = { name: 'web', protocol: 'http', port: 8080, routes: [{ match: { prefix: '/' }, cluster: 'api' }] };
const doc = (discovery: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  listeners: [listener],
  clusters: [{ name: 'api', discovery, ...extra }],
});

describe('cluster discovery: defaults', () => {
  it('fills every field', () => {
    const r = validateConfig(doc({ type: 'strict-dns', names: ['api.internal:8080'] }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.clusters[0]!.discovery).toEqual({
      type: 'strict-dns',
      names: ['api.internal:8080'],
      refresh: 5000,
      respect_ttl: true,
      jitter_percent: 10,
      family: 'v4-preferred',
      timeout: 1000,
      tries: 2,
    });
    expect(r.config.clusters[0]!.endpoints).toEqual([]);
  });

  it('takes srv names, resolvers and a priority on static endpoints', () => {
    expect(validateConfig(doc({ type: 'srv', names: ['_http._tcp.api.internal'], resolvers: ['127.0.0.1:5353', '::1'], refresh: '250ms' })).ok).toBe(true);
    const r = validateConfig({ listeners: [listener], clusters: [{ name: 'api', endpoints: [{ address: '127.0.0.1', port: 1, priority: 3 }] }] });
    expect(r.ok && r.config.clusters[0]!.endpoints[0]!.priority).toBe(3);
  });
});

describe('cluster discovery: errors name the field', () => {
  it.each([
    ['a strict-dns name without a port', doc({ type: 'strict-dns', names: ['api.internal'] }), 'clusters[0].discovery.names[0]', 'has no port'],
    ['a logical-dns name with a bad port', doc({ type: 'logical-dns', names: ['api.internal:99999'] }), 'clusters[0].discovery.names[0]', 'port must be 1-65535'],
    ['an srv name with a port', doc({ type: 'srv', names: ['_http._tcp.x:80'] }), 'clusters[0].discovery.names[0]', 'an SRV name carries none'],
    ['an IP address as a name', doc({ type: 'strict-dns', names: ['10.0.0.1:80'] }), 'clusters[0].discovery.names[0]', 'list it under endpoints'],
    ['no names', doc({ type: 'strict-dns', names: [] }), 'clusters[0].discovery.names', 'at least one name'],
    ['an unknown type', doc({ type: 'eds', names: ['a:1'] }), 'clusters[0].discovery.type', 'must be one of strict-dns, logical-dns, srv'],
    ['a resolver given by name', doc({ type: 'strict-dns', names: ['a:1'], resolvers: ['dns.internal:53'] }), 'clusters[0].discovery.resolvers[0]', 'must be an IP address'],
    ['a refresh too short', doc({ type: 'strict-dns', names: ['a:1'], refresh: '10ms' }), 'clusters[0].discovery.refresh', 'from 50ms to 24h'],
    ['a refresh too long', doc({ type: 'strict-dns', names: ['a:1'], refresh: '25h' }), 'clusters[0].discovery.refresh', 'from 50ms to 24h'],
    ['jitter over 50%', doc({ type: 'strict-dns', names: ['a:1'], jitter_percent: 80 }), 'clusters[0].discovery.jitter_percent', ''],
    ['an unknown field', doc({ type: 'strict-dns', names: ['a:1'], ttl: 5 }), 'clusters[0].discovery.ttl', 'unknown field'],
    ['discovery with endpoints', doc({ type: 'strict-dns', names: ['a:1'] }, { endpoints: [{ address: '127.0.0.1', port: 1 }] }), 'clusters[0].endpoints', 'takes its endpoints from DNS'],
  ])('%s', (_case, input, path, message) => {
    const r = validateConfig(input);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const p = r.problems.find((x) => x.path === path);
    expect(p, JSON.stringify(r.problems)).toBeDefined();
    expect(p!.message).toContain(message);
  });
});
