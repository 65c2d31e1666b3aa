import { describe, expect, it } from 'vitest';
import { HTTP_LISTENER_CONNECTIONS, PROCESS_DESCRIPTORS, THREAD_DESCRIPTORS, descriptorBudget, validateConfig } from '../src/index.js';

function config(raw: unknown) {
  const r = validateConfig(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config;
}

describe('descriptor budget', () => {
  it('adds the process, each listener and each cluster at its limits', () => {
    const c = config({
      workers: 2,
      listeners: [
        { name: 'web', protocol: 'http', port: 8080, routes: [{ match: { prefix: '/' }, cluster: 'a' }] },
        { name: 'db', protocol: 'tcp', port: 6000, cluster: 'b', max_connections: 300 },
        { name: 'dns', protocol: 'udp', port: 5353, cluster: 'b', max_sessions: 40 },
      ],
      clusters: [
        { name: 'a', endpoints: [{ address: '127.0.0.1', port: 1 }, { address: '127.0.0.1', port: 2 }], health_check: { tcp: {} }, circuit_breaker: { max_connections: 200 } },
        { name: 'b', endpoints: [{ address: '127.0.0.1', port: 3 }] },
      ],
    });
    const b = descriptorBudget(c, 2);
    expect(b.total).toBe(PROCESS_DESCRIPTORS + 2 * THREAD_DESCRIPTORS + HTTP_LISTENER_CONNECTIONS + 300 + 40 + 200 + 2 + 1024);
    expect(b.parts).toContainEqual({ what: 'clusters[1].circuit_breaker.max_connections', descriptors: 1024 });
    expect(b.parts.map((p) => p.what)).toContain('listeners[1].max_connections');
    expect(b.parts.map((p) => p.what)).toContain('clusters[0].health_check');
    // Largest first.
    expect(b.parts.map((p) => p.descriptors)).toEqual([...b.parts.map((p) => p.descriptors)].sort((x, y) => y - x));
  });
});
