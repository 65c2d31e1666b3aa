import { validateConfig, type ClusterConfig, type DnsFamily } from '@pillion/core';
import { describe, expect, it } from 'vitest';
import { DnsDiscovery } from '../src/supervisor/dns-discovery.js';
import type { AddressAnswer, NameResolver, SrvAnswer } from '../src/supervisor/dns-resolver.js';
import { FakeClock } from './fake-clock.js';

/** Answers from a script: each name's answers in turn, the last one repeated. */
class ScriptedResolver implements NameResolver {
  readonly asked: string[] = [];
  cancelled = false;
  constructor(
    private readonly addressScript: Record<string, AddressAnswer[]>,
    private readonly srvScript: Record<string, SrvAnswer[]> = {},
  ) {}
  async addresses(name: string, _family: DnsFamily): Promise<AddressAnswer> {
    this.asked.push(name);
    const list = this.addressScript[name] ?? [{ kind: 'empty', reason: 'ENOTFOUND' }];
    return list.length > 1 ? list.shift()! : list[0]!;
  }
  async srv(name: string): Promise<SrvAnswer> {
    this.asked.push(`srv:${name}`);
    const list = this.srvScript[name] ?? [{ kind: 'empty', reason: 'ENOTFOUND' }];
    return list.length > 1 ? list.shift()! : list[0]!;
  }
  cancel(): void {
    this.cancelled = true;
  }
}

class RecordingLog {
  readonly lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  info(fields: Record<string, unknown>, msg: string) {
    this.lines.push({ level: 'info', msg, fields });
  }
  warn(fields: Record<string, unknown>, msg: string) {
    this.lines.push({ level: 'warn', msg, fields });
  }
  count(fragment: string) {
    return this.lines.filter((l) => l.msg.includes(fragment)).length;
  }
}

function clusterWith(discovery: Record<string, unknown>, name = 'api'): ClusterConfig {
  const r = validateConfig({ listeners: [{ name: 'web', protocol: 'http', port: 1, routes: [{ cluster: name }] }], clusters: [{ name, discovery }] });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config.clusters[0]!;
}

const ok = (addresses: string[], ttl?: number): AddressAnswer => ({ kind: 'ok', addresses, ttl });
const EMPTY: AddressAnswer = { kind: 'empty', reason: 'ENOTFOUND' };
const TIMEOUT: AddressAnswer = { kind: 'failure', reason: 'ETIMEOUT' };
/** Lets the resolver's promises and what follows them run. */
const settle = () => new Promise((r) => setImmediate(r));

function setup(resolver: ScriptedResolver, random = 0.5) {
  const clock = new FakeClock();
  const log = new RecordingLog();
  const changes: string[] = [];
  const dns = new DnsDiscovery({ log: log as never, onChange: (c) => changes.push(c), resolverFor: () => resolver, clock, random: () => random });
  const tick = async (ms: number) => {
    clock.advance(ms);
    await settle();
  };
  const addresses = (c = 'api') => dns.endpoints(c).map((e) => `${e.address}:${e.port}`);
  return { clock, log, changes, dns, tick, addresses };
}

describe('DNS discovery loop', () => {
  it('waits for the first answer, then asks again at min(TTL, refresh) less jitter', async () => {
    const resolver = new ScriptedResolver({ 'api.test': [ok(['10.0.0.2', '10.0.0.1'], 2), ok(['10.0.0.1', '10.0.0.2'], 60), ok(['10.0.0.3'], 60)] });
    const { clock, dns, tick, addresses, changes } = setup(resolver);
    await dns.sync([clusterWith({ type: 'strict-dns', names: ['api.test:8080'], refresh: '5s', jitter_percent: 10 })]);
    expect(addresses()).toEqual(['10.0.0.1:8080', '10.0.0.2:8080']);
    expect(changes).toEqual([]); // the first answers are the caller's to apply
    expect(clock.untilNext()).toBe(1900); // TTL 2 s, less 5% (random 0.5 x 10%)
    await tick(1900);
    expect(resolver.asked).toEqual(['api.test', 'api.test']);
    expect(changes).toEqual([]); // the same set in another order
    expect(clock.untilNext()).toBe(4750); // refresh 5 s (TTL 60 s is later), less 5%
    await tick(4750);
    expect(addresses()).toEqual(['10.0.0.3:8080']);
    expect(changes).toEqual(['api']);
    expect(dns.stats().get('api')).toMatchObject({ results: { ok: 3, empty: 0, failure: 0 }, endpoints: 1, lastSuccess: clock.now() });
  });

  it('keeps the last good set through failed queries, logs the failure once, and counts it', async () => {
    const resolver = new ScriptedResolver({ 'api.test': [ok(['10.0.0.1']), TIMEOUT, TIMEOUT, TIMEOUT, ok(['10.0.0.1'])] });
    const { dns, tick, addresses, changes, log, clock } = setup(resolver);
    await dns.sync([clusterWith({ type: 'strict-dns', names: ['api.test:80'], refresh: '1s', jitter_percent: 0 })]);
    const okAt = clock.now();
    for (let i = 0; i < 3; i++) await tick(1000);
    expect(addresses()).toEqual(['10.0.0.1:80']);
    expect(dns.stats().get('api')).toMatchObject({ results: { ok: 1, empty: 0, failure: 3 }, staleNames: 1, lastSuccess: okAt });
    expect(log.count('DNS query failed')).toBe(1);
    await tick(1000);
    expect(log.count('answered again')).toBe(1);
    expect(dns.stats().get('api')!.staleNames).toBe(0);
    expect(changes).toEqual([]);
  });

  it('empties a name only on the second empty answer in a row', async () => {
    const resolver = new ScriptedResolver({ 'api.test': [ok(['10.0.0.1']), EMPTY, EMPTY] });
    const { dns, tick, addresses, changes } = setup(resolver);
    await dns.sync([clusterWith({ type: 'strict-dns', names: ['api.test:80'], refresh: '1s', jitter_percent: 0 })]);
    await tick(1000);
    expect(addresses()).toEqual(['10.0.0.1:80']);
    expect(changes).toEqual([]);
    await tick(1000);
    expect(addresses()).toEqual([]);
    expect(changes).toEqual(['api']);
  });

  it('logical-dns keeps one address while the answer still has it', async () => {
    const resolver = new ScriptedResolver({ 'api.test': [ok(['10.0.0.2', '10.0.0.1']), ok(['10.0.0.3', '10.0.0.1']), ok(['10.0.0.3', '10.0.0.2'])] });
    const { dns, tick, addresses, changes } = setup(resolver);
    await dns.sync([clusterWith({ type: 'logical-dns', names: ['api.test:80'], refresh: '1s' })]);
    expect(addresses()).toEqual(['10.0.0.1:80']);
    await tick(1000);
    expect(addresses()).toEqual(['10.0.0.1:80']);
    await tick(1000);
    expect(addresses()).toEqual(['10.0.0.2:80']);
    expect(changes).toEqual(['api']);
  });

  it('srv: records to endpoints; a target whose addresses fail fails the query and keeps the set', async () => {
    const resolver = new ScriptedResolver(
      { 'a.test': [ok(['10.0.0.1'], 30), TIMEOUT], 'b.test': [ok(['10.0.0.2'], 3)] },
      { '_http._tcp.api.test': [{ kind: 'ok', records: [{ name: 'a.test', port: 9001, priority: 0, weight: 10 }, { name: 'b.test', port: 9002, priority: 1, weight: 300 }] }] },
    );
    const { dns, tick, clock } = setup(resolver);
    await dns.sync([clusterWith({ type: 'srv', names: ['_http._tcp.api.test'], refresh: '10s', jitter_percent: 0 })]);
    const view = () => dns.endpoints('api').map((e) => [e.address, e.port, e.weight, e.priority, e.hostname]);
    expect(view()).toEqual([
      ['10.0.0.1', 9001, 4, 0, 'a.test'], // 10 x 128/300
      ['10.0.0.2', 9002, 128, 1, 'b.test'],
    ]);
    expect(clock.untilNext()).toBe(3000); // the targets' shortest TTL
    await tick(3000);
    expect(dns.stats().get('api')!.results.failure).toBe(1);
    expect(view()).toHaveLength(2);
  });

  it('a name kept through a change of settings keeps its endpoints; a removed cluster stops asking', async () => {
    const resolver = new ScriptedResolver({ 'api.test': [ok(['10.0.0.1']), TIMEOUT] });
    const { dns, clock, addresses } = setup(resolver);
    await dns.sync([clusterWith({ type: 'strict-dns', names: ['api.test:80'], refresh: '1s' })]);
    await dns.sync([clusterWith({ type: 'strict-dns', names: ['api.test:80'], refresh: '1s' })]);
    expect(resolver.asked).toHaveLength(1); // unchanged: nothing restarted
    await dns.sync([clusterWith({ type: 'strict-dns', names: ['api.test:80'], refresh: '2s' })]);
    expect(resolver.asked).toHaveLength(2);
    expect(addresses()).toEqual(['10.0.0.1:80']); // the failed first query of the new settings kept it
    expect(dns.stats().get('api')!.results).toEqual({ ok: 1, empty: 0, failure: 1 });
    await dns.sync([]);
    expect(clock.pending).toBe(0);
    expect(resolver.cancelled).toBe(true);
    expect(dns.endpoints('api')).toEqual([]);
  });
});
