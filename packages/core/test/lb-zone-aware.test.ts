import { describe, expect, it } from 'vitest';
import {
  ClusterBalancer,
  RoundRobinPicker,
  ZoneAwarePicker,
  buildHostSet,
  type LbEndpoint,
  type LbHost,
} from '../src/lb/index.js';
import { TestContext, scripted, seeded } from './lb-fixtures.js';

/** Zone -> [endpoints, healthy]; slots are numbered in zone order. */
type Spec = Record<string, [number, number]>;

function endpoints(spec: Spec): LbEndpoint[] {
  const out: LbEndpoint[] = [];
  for (const [zone, [count, healthy]] of Object.entries(spec)) {
    for (let i = 0; i < count; i++) {
      const slot = out.length;
      out.push({ slot, key: `10.${zone}.0.${i}:80`, zone, weight: 1, healthy: i < healthy, ejected: false, draining: false });
    }
  }
  return out;
}

function zoneAware(spec: Spec, localZone = 'a', minClusterSize?: number) {
  const set = buildHostSet(endpoints(spec));
  const picker = new ZoneAwarePicker({ localZone, createPicker: () => new RoundRobinPicker(), minClusterSize });
  picker.update(set.hosts, set.zoneCapacity, set.panic);
  return { picker, hosts: set.hosts };
}

function zoneShares(picker: ZoneAwarePicker, hosts: readonly LbHost[], picks: number): Record<string, number> {
  const ctx = new TestContext(seeded(21));
  const out: Record<string, number> = {};
  for (let i = 0; i < picks; i++) {
    const zone = hosts[picker.pick(ctx, 0)].zone;
    out[zone] = (out[zone] ?? 0) + 1 / picks;
  }
  return out;
}

describe('zone-aware routing', () => {
  it.each<{ name: string; spec: Spec }>([
    { name: 'all zones healthy', spec: { a: [2, 2], b: [2, 2], c: [2, 2] } },
    { name: 'another zone degraded', spec: { a: [3, 3], b: [3, 1], c: [3, 3] } },
    { name: 'local zone bigger than the rest', spec: { a: [6, 6], b: [2, 2] } },
  ])('keeps every pick local when the local zone carries its share: $name', ({ spec }) => {
    const { picker, hosts } = zoneAware(spec);
    expect(picker.mode).toBe('local');
    expect(zoneShares(picker, hosts, 3000)).toEqual({ a: expect.closeTo(1, 9) });
  });

  it('spills the local shortfall: 2 of 4 local healthy keeps 2/3 local', () => {
    const { picker, hosts } = zoneAware({ a: [4, 2], b: [4, 4] });
    expect(picker.mode).toBe('spill');
    expect(picker.localFraction).toBeCloseTo(2 / 3, 12);
    const got = zoneShares(picker, hosts, 30_000);
    expect(got.a).toBeCloseTo(2 / 3, 2);
    expect(got.b).toBeCloseTo(1 / 3, 2);
  });

  it.each([
    { u: 0, zone: 'a' },
    { u: 0.6666, zone: 'a' },
    { u: 0.6667, zone: 'b' },
    { u: 0.9999, zone: 'b' },
  ])('decides each pick with one draw: $u -> zone $zone', ({ u, zone }) => {
    const { picker, hosts } = zoneAware({ a: [4, 2], b: [4, 4] });
    expect(hosts[picker.pick(new TestContext(scripted([u])), 0)].zone).toBe(zone);
  });

  it('sends the spill to the zones with capacity to spare, in proportion to their surplus', () => {
    // capacity shares a .25, b .25, c .5; healthy shares a 1/11, b 4/11, c 6/11.
    // Local keeps (1/11)/(1/4) = 4/11; surplus b 5/44, c 2/44 splits the rest 5:2.
    // Every healthy host then serves 1/11 of the cluster's traffic, if callers in b and c stay local.
    const { picker, hosts } = zoneAware({ a: [4, 1], b: [4, 4], c: [8, 6] });
    expect(picker.mode).toBe('spill');
    const got = zoneShares(picker, hosts, 50_000);
    expect(got.a).toBeCloseTo(4 / 11, 2);
    expect(got.b).toBeCloseTo(5 / 11, 2);
    expect(got.c).toBeCloseTo(2 / 11, 2);
  });

  it.each<{ name: string; spec: Spec; min: number | undefined }>([
    { name: 'local zone has no healthy host', spec: { a: [4, 0], b: [4, 4], c: [4, 4] }, min: undefined },
    { name: 'panic', spec: { a: [4, 1], b: [4, 1] }, min: undefined },
    { name: 'only the local zone', spec: { a: [3, 3] }, min: undefined },
    { name: 'fewer hosts than min_cluster_size', spec: { a: [2, 1], b: [2, 2] }, min: 6 },
  ])('balances over every host when $name', ({ spec, min }) => {
    const { picker, hosts } = zoneAware(spec, 'a', min);
    expect(picker.mode).toBe('all');
    const ctx = new TestContext();
    const seen = new Set<number>();
    for (let i = 0; i < hosts.length; i++) seen.add(picker.pick(ctx, 0));
    expect(seen.size).toBe(hosts.length);
  });

  it('without capacity (plain build) stays local while the local zone has hosts', () => {
    const picker = new ZoneAwarePicker({ localZone: 'b', createPicker: () => new RoundRobinPicker() });
    const hosts: LbHost[] = [
      { slot: 0, weight: 1, zone: 'a', key: 'x:1' },
      { slot: 1, weight: 1, zone: 'b', key: 'x:2' },
      { slot: 2, weight: 1, zone: 'a', key: 'x:3' },
    ];
    picker.build(hosts);
    const ctx = new TestContext();
    expect([0, 1, 2].map(() => picker.pick(ctx, 0))).toEqual([1, 1, 1]);
  });

  it('walks the chosen zone first, then the others, every host once', () => {
    const { picker, hosts } = zoneAware({ a: [4, 2], b: [4, 4], c: [4, 4] });
    const ctx = new TestContext(seeded(5));
    for (let request = 0; request < 100; request++) {
      const walk = hosts.map((_, attempt) => picker.pick(ctx, attempt));
      expect(new Set(walk).size).toBe(hosts.length);
      const firstZone = hosts[walk[0]].zone;
      const sameZone = hosts.filter((h) => h.zone === firstZone).length;
      expect(walk.slice(0, sameZone).every((i) => hosts[i].zone === firstZone)).toBe(true);
      if (firstZone !== 'a') expect(hosts[walk[sameZone]].zone).toBe('a');
    }
  });
});

describe('cluster balancer', () => {
  it('returns slots, follows health changes and skips rebuilding an unchanged set', () => {
    const lb = new ClusterBalancer({ policy: 'round-robin' });
    const eps = endpoints({ z: [3, 3] }).map((e) => ({ ...e, slot: e.slot + 10 }));
    expect(lb.update(eps)).toBe(true);
    expect(lb.update(eps.map((e) => ({ ...e })))).toBe(false);
    const ctx = new TestContext();
    expect([0, 1, 2, 3].map(() => lb.pick(ctx, 0))).toEqual([10, 11, 12, 10]);
    expect(lb.update([eps[0], { ...eps[1], ejected: true }, eps[2]])).toBe(true);
    expect([0, 1, 2, 3].map(() => lb.pick(ctx, 0))).toEqual([10, 12, 10, 12]); // counter at 4, 5, 6, 7
  });

  it('slow start changes the share through the weight layer', () => {
    const lb = new ClusterBalancer({ policy: 'round-robin' });
    const eps = endpoints({ z: [2, 2] });
    lb.update([eps[0], { ...eps[1], weightFactor: 0.5 }]);
    const ctx = new TestContext();
    expect([0, 1, 2, 3, 4, 5].map(() => lb.pick(ctx, 0))).toEqual([0, 1, 0, 0, 1, 0]);
  });

  it('enters panic below the threshold and routes zone-aware above it', () => {
    const lb = new ClusterBalancer({ policy: 'random', local_zone: 'a', panic_threshold: 60 });
    lb.update(endpoints({ a: [4, 2], b: [4, 4] })); // 75% healthy
    expect(lb.hostSet.panic).toBe(false);
    expect(lb.hosts.length).toBe(6);
    lb.update(endpoints({ a: [4, 1], b: [4, 3] })); // 50% healthy
    expect(lb.hostSet.panic).toBe(true);
    expect(lb.hosts.length).toBe(8);
  });

  it('returns -1 when nothing may be chosen', () => {
    const lb = new ClusterBalancer({ policy: 'least-request', panic_threshold: 0 });
    lb.update(endpoints({ z: [2, 0] }));
    expect(lb.pick(new TestContext(), 0)).toBe(-1);
  });
});
