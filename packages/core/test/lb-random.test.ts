import { describe, expect, it } from 'vitest';
import { RandomPicker } from '../src/lb/index.js';
import { TestContext, hostsOf, scripted, seeded, shares } from './lb-fixtures.js';

function picker(weights: readonly number[]): RandomPicker {
  const p = new RandomPicker();
  p.build(hostsOf(weights));
  return p;
}

describe('random', () => {
  it.each([
    { weights: [1, 2, 1], u: 0, host: 0 },
    { weights: [1, 2, 1], u: 0.2499, host: 0 },
    { weights: [1, 2, 1], u: 0.25, host: 1 },
    { weights: [1, 2, 1], u: 0.7499, host: 1 },
    { weights: [1, 2, 1], u: 0.75, host: 2 },
    { weights: [1, 2, 1], u: 0.999999, host: 2 },
    { weights: [3, 3, 3], u: 0.34, host: 1 },
    { weights: [3, 3, 3], u: 0.999999999, host: 2 },
    { weights: [100, 1], u: 0.99, host: 0 },
    { weights: [100, 1], u: 0.995, host: 1 },
  ])('weights $weights, draw $u -> host $host', ({ weights, u, host }) => {
    expect(picker(weights).pick(new TestContext(scripted([u])), 0)).toBe(host);
  });

  it.each([
    { weights: [1, 1, 1, 1] },
    { weights: [5, 1, 1] },
    { weights: [1000, 100, 10] },
    { weights: [3, 7] },
  ])('traffic follows weights $weights', ({ weights }) => {
    const p = picker(weights);
    const ctx = new TestContext(seeded(7));
    const total = weights.reduce((a, b) => a + b, 0);
    const got = shares(() => p.pick(ctx, 0), 100_000, weights.length);
    got.forEach((share, i) => expect(share).toBeCloseTo(weights[i] / total, 2));
  });

  it('attempts 0..n-1 give distinct hosts', () => {
    const p = picker([9, 1, 4, 2, 2]);
    const ctx = new TestContext(seeded(3));
    for (let request = 0; request < 100; request++) {
      const seen = new Set<number>();
      for (let attempt = 0; attempt < 5; attempt++) seen.add(p.pick(ctx, attempt));
      expect(seen.size).toBe(5);
    }
  });

  it('later attempts draw no randomness', () => {
    const p = picker([1, 1, 1]);
    const ctx = new TestContext(scripted([0.5]));
    expect(p.pick(ctx, 0)).toBe(1);
    expect(p.pick(ctx, 1)).not.toBe(1);
    expect(p.pick(ctx, 2)).not.toBe(1);
  });

  it('returns -1 with no hosts', () => {
    expect(picker([]).pick(new TestContext(), 0)).toBe(-1);
  });
});
