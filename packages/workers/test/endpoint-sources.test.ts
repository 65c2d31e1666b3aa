import { validateConfig, type Config } from '@pillion/core';
import { describe, expect, it } from 'vitest';
import { EndpointSources } from '../src/supervisor/endpoint-sources.js';
import type { RuntimeSnapshot } from '../src/messages.js';

const NAMES: Record<string, { address: string; family: number }[]> = {
  'api.internal': [{ address: '::1', family: 6 }, { address: '10.0.0.7', family: 4 }],
  'v6.internal': [{ address: 'fd00::1', family: 6 }],
  'same.internal': [{ address: '10.0.0.7', family: 4 }],
};
const lookups: string[] = [];
const lookup = async (name: string) => {
  lookups.push(name);
  const r = NAMES[name];
  if (!r) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
  return r;
};

function config(endpoints: unknown[], extra: unknown[] = []): Config {
  const r = validateConfig({ listeners: [{ name: 'web', protocol: 'http', port: 1, routes: [{ cluster: 'api' }] }], clusters: [{ name: 'api', endpoints }, ...extra] });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config;
}

describe('endpoint sources', () => {
  it('resolves host names once per config, IPv4 first, and keeps the name for TLS and /clusters', async () => {
    const s = new EndpointSources(lookup);
    const declared = config([{ address: 'api.internal', port: 80 }, { address: 'v6.internal', port: 80 }, { address: '10.0.0.1', port: 80 }]);
    lookups.length = 0;
    expect(await s.resolveConfig(declared)).toEqual([]);
    expect(lookups.sort()).toEqual(['api.internal', 'v6.internal']);
    const effective = s.effective(declared, undefined);
    expect(effective.clusters[0]!.endpoints.map((e) => e.address)).toEqual(['10.0.0.7', 'fd00::1', '10.0.0.1']);
    expect(declared.clusters[0]!.endpoints[0]!.address).toBe('api.internal'); // the declared config is not touched
    const snapshot = { clusters: [{ name: 'api', endpoints: effective.clusters[0]!.endpoints.map((e) => ({ ...e, slot: 0, key: `${e.address}:${e.port}` })) }] } as unknown as RuntimeSnapshot;
    s.annotate(snapshot);
    expect(snapshot.clusters[0]!.endpoints.map((e) => [e.source, e.hostname])).toEqual([
      ['config', 'api.internal'],
      ['config', 'v6.internal'],
      ['config', undefined],
    ]);
    s.setByAdmin('api');
    expect(s.annotate(snapshot).clusters[0]!.endpoints[2]!.source).toBe('admin');
    s.clearAdmin();
    expect(s.annotate(snapshot).clusters[0]!.endpoints[2]!.source).toBe('config');
  });

  it('names the field of a name that does not resolve, or resolves onto another endpoint', async () => {
    const s = new EndpointSources(lookup);
    const problems = await s.resolveConfig(config([{ address: 'nope.internal', port: 80 }, { address: '10.0.0.7', port: 80 }, { address: 'same.internal', port: 80 }]));
    expect(problems).toEqual([
      { path: 'clusters[0].endpoints[0].address', message: '"nope.internal" cannot be resolved (ENOTFOUND)' },
      { path: 'clusters[0].endpoints[2].address', message: '"same.internal" resolves to 10.0.0.7:80, the same endpoint as clusters[0].endpoints[1]' },
    ]);
  });

  it('leaves out a name not resolved yet (before start resolves it) and fills discovery clusters from DNS', () => {
    const s = new EndpointSources(lookup);
    const declared = config([{ address: 'api.internal', port: 80 }], [{ name: 'dns', discovery: { type: 'strict-dns', names: ['x.internal:80'] } }]);
    const dns = { endpoints: (c: string) => (c === 'dns' ? [{ address: '10.0.0.9', port: 80, weight: 1, priority: 0, hostname: 'x.internal' }] : []) };
    const effective = s.effective(declared, dns as never);
    expect(effective.clusters[0]!.endpoints).toEqual([]);
    expect(effective.clusters[1]!.endpoints).toEqual([{ address: '10.0.0.9', port: 80, weight: 1, zone: '', priority: 0 }]);
    expect(EndpointSources.needsResolution(declared)).toBe(true);
    expect(EndpointSources.needsResolution(config([{ address: '10.0.0.1', port: 80 }]))).toBe(false);
  });
});
