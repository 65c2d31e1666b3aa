import { describe, expect, it } from 'vitest';
import { buildHostSet, scaledWeight, sameHostSet, type LbEndpoint } from '../src/lb/index.js';

/** Endpoint "n" (slot n) with flags from a short code: h healthy, u unhealthy, e ejected, d draining. */
function ep(slot: number, code: string, weight = 1, weightFactor?: number, zone = 'a'): LbEndpoint {
  return {
    slot,
    key: `10.0.0.${slot}:80`,
    zone,
    weight,
    healthy: code.includes('h'),
    ejected: code.includes('e'),
    draining: code.includes('d'),
    weightFactor,
  };
}

const slots = (eps: readonly LbEndpoint[], threshold?: number) =>
  buildHostSet(eps, { panicThreshold: threshold }).hosts.map((h) => h.slot);

describe('effective weight (units of 1/1000 of a configured weight, at least 1)', () => {
  it.each([
    { weight: 1, factor: 1, units: 1000 },
    { weight: 1, factor: undefined, units: 1000 },
    { weight: 3, factor: 0.5, units: 1500 },
    { weight: 1, factor: 0.1, units: 100 },
    { weight: 1, factor: 0.3333, units: 333 },
    { weight: 1, factor: 0, units: 1 },
    { weight: 1, factor: 0.0001, units: 1 },
    { weight: 2, factor: 1.5, units: 2000 },
    { weight: 1, factor: Number.NaN, units: 1 },
    { weight: 128, factor: 0.25, units: 32000 },
  ])('weight $weight x $factor = $units', ({ weight, factor, units }) => {
    expect(scaledWeight(weight, factor)).toBe(units);
  });
});

describe('eligibility', () => {
  it.each([
    { name: 'healthy ones only', eps: [ep(0, 'h'), ep(1, 'u'), ep(2, 'h'), ep(3, 'h')], slots: [0, 2, 3] },
    { name: 'ejected is out', eps: [ep(0, 'h'), ep(1, 'he'), ep(2, 'h'), ep(3, 'h')], slots: [0, 2, 3] },
    { name: 'draining is out', eps: [ep(0, 'hd'), ep(1, 'h'), ep(2, 'h')], slots: [1, 2] },
    { name: 'order kept', eps: [ep(9, 'h'), ep(4, 'h'), ep(7, 'h')], slots: [9, 4, 7] },
    { name: 'none', eps: [], slots: [] },
  ])('$name', ({ eps, slots: expected }) => {
    expect(slots(eps)).toEqual(expected);
  });

  it('takes an effective weight read from SharedState as it is, at least 1 unit', () => {
    const eps = [{ ...ep(0, 'h', 2), effectiveWeight: 730 }, { ...ep(1, 'h', 2, 0.5), effectiveWeight: 0 }, ep(2, 'h', 2, 0.5)];
    expect(buildHostSet(eps).hosts.map((h) => h.weight)).toEqual([730, 1, 1000]);
  });

  it('carries weight factors into effective weights', () => {
    const set = buildHostSet([ep(0, 'h', 2), ep(1, 'h', 2, 0.25), ep(2, 'h', 1, 0)]);
    expect(set.hosts.map((h) => h.weight)).toEqual([2000, 500, 1]);
  });
});

describe('panic threshold', () => {
  const of = (healthy: number, total: number, extra: LbEndpoint[] = []) => [
    ...Array.from({ length: total }, (_, i) => ep(i, i < healthy ? 'h' : 'u')),
    ...extra,
  ];
  it.each([
    { healthy: 5, total: 10, threshold: undefined, panic: false, count: 5 },
    { healthy: 4, total: 10, threshold: undefined, panic: true, count: 10 },
    { healthy: 0, total: 3, threshold: undefined, panic: true, count: 3 },
    { healthy: 1, total: 3, threshold: 30, panic: false, count: 1 },
    { healthy: 1, total: 4, threshold: 30, panic: true, count: 4 },
    { healthy: 0, total: 3, threshold: 0, panic: false, count: 0 },
    { healthy: 9, total: 10, threshold: 100, panic: true, count: 10 },
    { healthy: 10, total: 10, threshold: 100, panic: false, count: 10 },
  ])('$healthy of $total healthy, threshold $threshold: panic $panic', ({ healthy, total, threshold, panic, count }) => {
    const set = buildHostSet(of(healthy, total), { panicThreshold: threshold });
    expect(set.panic).toBe(panic);
    expect(set.hosts.length).toBe(count);
    expect(set.healthyCount).toBe(healthy);
    expect(set.totalCount).toBe(total);
  });

  it('draining endpoints neither count nor return in panic', () => {
    const eps = [ep(0, 'h'), ep(1, 'u'), ep(2, 'u'), ep(3, 'hd'), ep(4, 'hd')];
    const set = buildHostSet(eps);
    expect(set.panic).toBe(true);
    expect(set.totalCount).toBe(3);
    expect(set.hosts.map((h) => h.slot)).toEqual([0, 1, 2]);
  });

  it('ejected endpoints count as unhealthy and return in panic', () => {
    const eps = [ep(0, 'h'), ep(1, 'he'), ep(2, 'he')];
    expect(slots(eps)).toEqual([0, 1, 2]);
  });

  it.each([-1, 101, Number.NaN])('rejects threshold %d', (t) => {
    expect(() => buildHostSet([], { panicThreshold: t })).toThrow(RangeError);
  });
});

describe('zone capacity and change detection', () => {
  it('counts full-strength weight of non-draining endpoints per zone', () => {
    const set = buildHostSet([
      ep(0, 'h', 1, 0.1, 'a'),
      ep(1, 'u', 2, 1, 'a'),
      ep(2, 'h', 1, 1, 'b'),
      ep(3, 'hd', 5, 1, 'b'),
    ]);
    expect([...set.zoneCapacity]).toEqual([
      ['a', 3000],
      ['b', 1000],
    ]);
  });

  it.each([
    { name: 'identical', change: (e: LbEndpoint[]) => e, same: true },
    { name: 'health', change: (e: LbEndpoint[]) => [ep(0, 'u'), ...e.slice(1)], same: false },
    { name: 'weight factor', change: (e: LbEndpoint[]) => [ep(0, 'h', 1, 0.5), ...e.slice(1)], same: false },
    { name: 'unhealthy one recovers ejected', change: (e: LbEndpoint[]) => [...e.slice(0, 3), ep(3, 'he')], same: true },
    { name: 'an unhealthy one removed (capacity changes)', change: (e: LbEndpoint[]) => e.slice(0, 3), same: false },
  ])('$name -> same: $same', ({ change, same }) => {
    const eps = [ep(0, 'h'), ep(1, 'h'), ep(2, 'h'), ep(3, 'u')];
    expect(sameHostSet(buildHostSet(eps), buildHostSet(change(eps)))).toBe(same);
  });
});

describe('priority levels: a lower level takes traffic only while no endpoint above it is healthy', () => {
  const at = (slot: number, code: string, priority: number): LbEndpoint => ({ ...ep(slot, code), priority });
  it.each([
    { name: 'only the highest level with a healthy endpoint', eps: [at(1, 'h', 0), at(2, 'h', 1), at(3, 'h', 0)], want: [1, 3] },
    { name: 'level 0 all unhealthy: level 1', eps: [at(1, 'u', 0), at(2, 'h', 1), at(3, 'e', 0)], want: [2] },
    { name: 'level 0 and 1 down: level 2', eps: [at(1, 'u', 0), at(2, 'u', 1), at(3, 'h', 2), at(4, 'h', 2)], want: [3, 4] },
    { name: 'a draining endpoint does not hold its level', eps: [at(1, 'hd', 0), at(2, 'h', 1)], want: [2] },
    { name: 'one healthy of three on level 0: panic inside level 0, level 1 still unused', eps: [at(1, 'h', 0), at(2, 'u', 0), at(3, 'u', 0), at(4, 'h', 1)], want: [1, 2, 3] },
    { name: 'nothing healthy anywhere: panic over every level', eps: [at(1, 'u', 0), at(2, 'u', 1)], want: [1, 2] },
    { name: 'no priority given is level 0', eps: [ep(1, 'h'), at(2, 'h', 1)], want: [1] },
  ])('$name', ({ eps, want }) => {
    expect(slots(eps)).toEqual(want);
  });

  it('counts every level for health, and only the level in use for zone capacity', () => {
    const set = buildHostSet([at(1, 'u', 0), at(2, 'h', 1), at(3, 'h', 1)]);
    expect(set.healthyCount).toBe(2);
    expect(set.totalCount).toBe(3);
    expect(set.panic).toBe(false);
    expect(set.zoneCapacity.get('a')).toBe(2000);
  });
});
