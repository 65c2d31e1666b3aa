import { describe, expect, it } from 'vitest';
import { RingHashPicker, hashKey, type LbHost } from '../src/lb/index.js';
import { TestContext, hostsOf, seeded } from './lb-fixtures.js';

function ring(hosts: readonly LbHost[], minRingSize?: number, maxRingSize?: number): RingHashPicker {
  const p = new RingHashPicker({ minRingSize, maxRingSize });
  p.build(hosts);
  return p;
}

/** Key of the host each request key lands on. */
function owners(p: RingHashPicker, hosts: readonly LbHost[], keys: readonly string[]): string[] {
  const ctx = new TestContext();
  return keys.map((k) => {
    ctx.hash = hashKey(k);
    return hosts[p.pick(ctx, 0)].key;
  });
}

const KEYS = Array.from({ length: 20_000 }, (_, i) => `user-${i}`);

describe('ring-hash', () => {
  it.each([
    { weights: [1, 1, 1, 1], size: 4096 },
    { weights: [1000, 500], size: 1024 + 512 },
    { weights: [3, 1], size: 1024 + 342 },
    { weights: [1000, 1], size: 1024 + 2 },
  ])('the heaviest host gets min_ring_size points, others in proportion: $weights', ({ weights, size }) => {
    expect(ring(hostsOf(weights)).size).toBe(size);
  });

  it('caps the ring at max_ring_size', () => {
    const p = ring(hostsOf([1, 1, 1, 1, 1]), 1024, 2048);
    expect(p.size).toBeLessThanOrEqual(2048);
    expect(p.size).toBeGreaterThanOrEqual(2045);
  });

  it('maps a key to the same host every time, in every worker, whatever the host order', () => {
    const hosts = hostsOf([1, 1, 1, 1, 1]);
    const a = owners(ring(hosts), hosts, KEYS);
    const reversed = [...hosts].reverse();
    const b = owners(ring(reversed), reversed, KEYS);
    expect(b).toEqual(a);
    expect(owners(ring(hosts), hosts, KEYS)).toEqual(a);
  });

  it('when a host leaves, only its keys move', () => {
    const hosts = hostsOf([1, 1, 1, 1, 1]);
    const before = owners(ring(hosts), hosts, KEYS);
    const remaining = hosts.filter((h) => h.key !== '10.0.0.3:80');
    const after = owners(ring(remaining), remaining, KEYS);
    let moved = 0;
    let wrong = 0;
    for (let i = 0; i < KEYS.length; i++) {
      if (before[i] === '10.0.0.3:80') {
        if (after[i] === '10.0.0.3:80') wrong++;
        moved++;
      } else if (after[i] !== before[i]) {
        wrong++;
      }
    }
    expect(wrong).toBe(0);
    expect(moved / KEYS.length).toBeGreaterThan(0.15);
    expect(moved / KEYS.length).toBeLessThan(0.25);
  });

  it('when a host joins, keys only move to it', () => {
    const hosts = hostsOf([1, 1, 1, 1, 1]);
    const before = owners(ring(hosts.slice(0, 4)), hosts.slice(0, 4), KEYS);
    const after = owners(ring(hosts), hosts, KEYS);
    let toNew = 0;
    let elsewhere = 0;
    for (let i = 0; i < KEYS.length; i++) {
      if (after[i] === before[i]) continue;
      if (after[i] === hosts[4].key) toNew++;
      else elsewhere++;
    }
    expect(elsewhere).toBe(0);
    expect(toNew / KEYS.length).toBeGreaterThan(0.15);
  });

  it('a ramping host (slow start) only trades keys with the others, who keep theirs among themselves', () => {
    const full = hostsOf([1000, 1000, 1000, 1000]);
    const ramping = full.map((h, i) => (i === 3 ? { ...h, weight: 300 } : h));
    const before = owners(ring(ramping), ramping, KEYS);
    const after = owners(ring(full), full, KEYS);
    let toRamped = 0;
    let elsewhere = 0;
    for (let i = 0; i < KEYS.length; i++) {
      if (after[i] === before[i]) continue;
      if (after[i] === full[3].key && before[i] !== full[3].key) toRamped++;
      else elsewhere++;
    }
    expect(elsewhere).toBe(0);
    expect(toRamped).toBeGreaterThan(0);
  });

  it.each([
    { weights: [1, 1, 1, 1] },
    { weights: [1, 2, 3] },
    { weights: [4000, 1000] },
  ])('traffic follows weights $weights', ({ weights }) => {
    const hosts = hostsOf(weights);
    const p = ring(hosts, 4096);
    const ctx = new TestContext();
    const rand = seeded(12);
    const hits = new Array<number>(weights.length).fill(0);
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      ctx.hash = Math.floor(rand() * 2 ** 32);
      hits[p.pick(ctx, 0)]++;
    }
    const total = weights.reduce((a, b) => a + b, 0);
    hits.forEach((h, i) => expect(Math.abs(h / n - weights[i] / total)).toBeLessThan(0.02));
  });

  it('attempts walk the ring to the next distinct hosts, the same way every time', () => {
    const hosts = hostsOf([1, 1, 1, 1, 1, 1]);
    const p = ring(hosts);
    const ctx = new TestContext();
    for (const key of KEYS.slice(0, 200)) {
      ctx.hash = hashKey(key);
      const walk = [0, 1, 2, 3, 4, 5].map((a) => p.pick(ctx, a));
      expect(new Set(walk).size).toBe(6);
      expect([0, 1, 2, 3, 4, 5].map((a) => p.pick(ctx, a))).toEqual(walk);
      expect(p.pick(ctx, 6)).toBe(walk[0]);
    }
  });

  it('the hash just past the last point wraps to the first', () => {
    const hosts = hostsOf([1, 1]);
    const p = ring(hosts, 4);
    const ctx = new TestContext();
    ctx.hash = 0xffffffff;
    const wrapped = p.pick(ctx, 0);
    ctx.hash = 0;
    expect(p.pick(ctx, 0)).toBe(wrapped);
  });

  it.each([{ minRingSize: 0 }, { minRingSize: 1.5 }, { minRingSize: 1024, maxRingSize: 512 }, { maxRingSize: 2 ** 24 }])(
    'rejects %o',
    (options) => {
      expect(() => new RingHashPicker(options)).toThrow(RangeError);
    },
  );

  it('returns -1 with no hosts', () => {
    expect(ring([]).pick(new TestContext(), 0)).toBe(-1);
  });
});
