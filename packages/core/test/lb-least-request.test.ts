import { describe, expect, it } from 'vitest';
import { LeastRequestPicker, type LeastRequestOptions } from '../src/lb/index.js';
import { TestContext, hostsOf, scripted, seeded, shares } from './lb-fixtures.js';

function picker(weights: readonly number[], options: LeastRequestOptions = {}): LeastRequestPicker {
  const p = new LeastRequestPicker(options);
  p.build(hostsOf(weights));
  return p;
}

/**
 * Closed loop: `concurrency` requests always in flight; each step one of them (uniformly) completes
 * and a new one is picked, so a host finishes requests in proportion to what it holds.
 */
function closedLoop(p: LeastRequestPicker, n: number, concurrency: number, steps: number, seed: number): number[] {
  const rand = seeded(seed);
  const ctx = new TestContext(rand);
  ctx.active = new Array<number>(n).fill(0);
  const inflight: number[] = [];
  for (let i = 0; i < concurrency; i++) {
    const h = p.pick(ctx, 0);
    ctx.active[h]++;
    inflight.push(h);
  }
  const hits = new Array<number>(n).fill(0);
  for (let s = 0; s < steps; s++) {
    const j = Math.floor(rand() * inflight.length);
    ctx.active[inflight[j]]--;
    const h = p.pick(ctx, 0);
    ctx.active[h]++;
    inflight[j] = h;
    hits[h]++;
  }
  return hits.map((x) => x / steps);
}

describe('least-request, equal weights', () => {
  // hosts a..d (u -> floor(u * 4)); active requests a=5, b=1, c=3, d=1
  const active = [5, 1, 3, 1];
  it.each([
    { draws: [0.1, 0.3], host: 1, why: 'b (1) beats a (5)' },
    { draws: [0.3, 0.1], host: 1, why: 'order of sampling does not matter' },
    { draws: [0.6, 0.1], host: 2, why: 'c (3) beats a (5)' },
    { draws: [0.3, 0.8], host: 1, why: 'tie b/d: first sampled' },
    { draws: [0.8, 0.3], host: 3, why: 'tie d/b: first sampled' },
    { draws: [0.1, 0.1], host: 0, why: 'same host twice' },
  ])('$why', ({ draws, host }) => {
    const ctx = new TestContext(scripted(draws));
    ctx.active = active;
    expect(picker([1, 1, 1, 1]).pick(ctx, 0)).toBe(host);
  });

  it.each([
    { choices: 3, draws: [0.1, 0.6, 0.0], host: 2 },
    { choices: 3, draws: [0.1, 0.0, 0.3], host: 1 },
  ])('choices $choices samples $choices hosts', ({ choices, draws, host }) => {
    const ctx = new TestContext(scripted(draws));
    ctx.active = active;
    expect(picker([1, 1, 1, 1], { choices }).pick(ctx, 0)).toBe(host);
  });

  it.each([
    { start: 0.0, host: 1 },
    { start: 0.3, host: 1 },
    { start: 0.6, host: 3 },
    { start: 0.8, host: 3 },
  ])('choices >= hosts scans all from a random start ($start -> $host)', ({ start, host }) => {
    const ctx = new TestContext(scripted([start]));
    ctx.active = active;
    expect(picker([1, 1, 1, 1], { choices: 4 }).pick(ctx, 0)).toBe(host);
  });

  it('a host carrying more requests gets only the picks where it is drawn twice', () => {
    const p = picker([1, 1, 1]);
    const ctx = new TestContext(seeded(11));
    ctx.active = [10, 0, 0];
    const got = shares(() => p.pick(ctx, 0), 90_000, 3);
    expect(got[0]).toBeCloseTo(1 / 9, 2);
    expect(got[1]).toBeCloseTo(4 / 9, 2);
  });

  it('under load, a slow host ends up with fewer requests than round robin would give it', () => {
    // Host 0 holds each request 4 times longer: completions pick it a quarter as often per request.
    const p = picker([1, 1, 1]);
    const rand = seeded(5);
    const ctx = new TestContext(rand);
    ctx.active = [0, 0, 0];
    const inflight: number[] = [];
    const hits = [0, 0, 0];
    for (let s = 0; s < 30_000; s++) {
      if (inflight.length >= 30) {
        for (;;) {
          const j = Math.floor(rand() * inflight.length);
          if (inflight[j] === 0 && rand() >= 0.25) continue;
          ctx.active[inflight[j]]--;
          inflight[j] = inflight[inflight.length - 1];
          inflight.pop();
          break;
        }
      }
      const h = p.pick(ctx, 0);
      ctx.active[h]++;
      inflight.push(h);
      hits[h]++;
    }
    expect(hits[0] / 30_000).toBeLessThan(0.2);
  });
});

describe('least-request, weights differ', () => {
  it.each([
    { weights: [2, 1], active: [3, 1], host: 1, why: 'a: 2/3 < b: 1/1' },
    { weights: [4, 1], active: [3, 1], host: 0, why: 'a: 4/3 > b: 1/1' },
    { weights: [4, 1], active: [0, 0], host: 0, why: 'both idle: first sampled (a)' },
    { weights: [1, 4], active: [0, 0], host: 0, why: 'both idle: first sampled (a), though lighter' },
    { weights: [4, 1], active: [1, 0], host: 1, why: 'an idle host beats any busy one' },
  ])('$why', ({ weights, active, host }) => {
    // weights [w0, w1]: draw 0 lands on host 0, draw 0.9999 on host 1
    const ctx = new TestContext(scripted([0, 0.9999]));
    ctx.active = active;
    expect(picker(weights).pick(ctx, 0)).toBe(host);
  });

  it.each([
    { bias: 2, weights: [4, 1], active: [3, 1], host: 1, why: 'bias 2: 4/9 < 1/1' },
    { bias: 0.5, weights: [2, 1], active: [3, 1], host: 0, why: 'bias 0.5: 2/1.73 > 1/1' },
  ])('$why', ({ bias, weights, active, host }) => {
    const ctx = new TestContext(scripted([0, 0.9999]));
    ctx.active = active;
    expect(picker(weights, { activeRequestBias: bias }).pick(ctx, 0)).toBe(host);
  });

  it('bias 0 ignores load: weighted random', () => {
    const p = picker([3, 1], { activeRequestBias: 0 });
    const ctx = new TestContext(seeded(2));
    ctx.active = [1000, 0];
    const got = shares(() => p.pick(ctx, 0), 40_000, 2);
    expect(got[0]).toBeCloseTo(0.75, 2);
  });

  it.each([{ weights: [5, 1, 1] }, { weights: [2, 1] }, { weights: [10, 1] }, { weights: [3, 1, 1, 1] }])(
    'idle hosts get traffic in weight ratio: $weights',
    ({ weights }) => {
      const p = picker(weights);
      const ctx = new TestContext(seeded(3));
      const total = weights.reduce((a, b) => a + b, 0);
      const got = shares(() => p.pick(ctx, 0), 60_000, weights.length);
      got.forEach((share, i) => expect(share).toBeCloseTo(weights[i] / total, 2));
    },
  );

  it.each([
    { weights: [5, 1, 1], concurrency: 4 },
    { weights: [5, 1, 1], concurrency: 64 },
    { weights: [2, 1], concurrency: 16 },
    { weights: [10, 1], concurrency: 64 },
    { weights: [3, 1, 1, 1], concurrency: 32 },
  ])('loaded hosts get traffic in weight ratio: $weights at $concurrency in flight', ({ weights, concurrency }) => {
    const total = weights.reduce((a, b) => a + b, 0);
    const got = closedLoop(picker(weights), weights.length, concurrency, 60_000, 4);
    got.forEach((share, i) => expect(Math.abs(share - weights[i] / total)).toBeLessThan(0.03));
  });
});

describe('least-request attempts and options', () => {
  it('attempts 0..n-1 give distinct hosts', () => {
    const p = picker([1, 2, 3, 4, 5, 6]);
    const ctx = new TestContext(seeded(8));
    ctx.active = [3, 0, 2, 9, 1, 1];
    for (let request = 0; request < 100; request++) {
      const seen = new Set<number>();
      for (let attempt = 0; attempt < 6; attempt++) seen.add(p.pick(ctx, attempt));
      expect(seen.size).toBe(6);
    }
  });

  it.each([{ choices: 0 }, { choices: 1.5 }, { activeRequestBias: -1 }, { activeRequestBias: Number.NaN }])(
    'rejects %o',
    (options) => {
      expect(() => new LeastRequestPicker(options)).toThrow(RangeError);
    },
  );

  it('returns -1 with no hosts and the only host with one', () => {
    expect(picker([]).pick(new TestContext(), 0)).toBe(-1);
    expect(picker([3]).pick(new TestContext(scripted([0.7])), 0)).toBe(0);
  });
});
