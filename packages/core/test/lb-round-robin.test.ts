import { describe, expect, it } from 'vitest';
import { MAX_SCHEDULE_LENGTH, RoundRobinPicker, integerWeights, smoothSchedule } from '../src/lb/index.js';
import { Counter, NAMES, TestContext, hostsOf, letters, seeded } from './lb-fixtures.js';

/** nginx's smooth weighted round robin, written out plainly: the reference for the schedule. */
function nginxOrder(weights: readonly number[], count: number): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  const current = weights.map(() => 0);
  const out: number[] = [];
  for (let t = 0; t < count; t++) {
    let best = -1;
    for (let i = 0; i < weights.length; i++) {
      current[i] += weights[i];
      if (best === -1 || current[i] > current[best]) best = i;
    }
    current[best] -= total;
    out.push(best);
  }
  return out;
}

function picker(weights: readonly number[]): RoundRobinPicker {
  const p = new RoundRobinPicker();
  p.build(hostsOf(weights));
  return p;
}

describe('round-robin pick sequences', () => {
  it.each([
    { weights: [1], order: 'aaaa' },
    { weights: [1, 1, 1], order: 'abcabcabc' },
    { weights: [1000, 1000, 1000, 1000], order: 'abcdabcd' },
    { weights: [5, 1, 1], order: 'aabacaa' + 'aabacaa' },
    { weights: [5000, 1000, 1000], order: 'aabacaa' },
    { weights: [2, 1], order: 'abaaba' },
    { weights: [3, 1], order: 'aabaaaba' },
    { weights: [1, 3], order: 'babbbabb' },
    { weights: [4, 2, 1], order: 'abacaba' },
    { weights: [2, 2, 1], order: 'abcab' + 'abcab' },
    { weights: [700, 300], order: 'abaaabaaba' },
  ])('weights $weights give $order', ({ weights, order }) => {
    const p = picker(weights);
    const ctx = new TestContext();
    expect(letters(() => p.pick(ctx, 0), order.length)).toBe(order);
  });

  it('one schedule period is nginx smooth WRR for random weight sets', () => {
    const rand = seeded(42);
    for (let trial = 0; trial < 200; trial++) {
      const n = 1 + Math.floor(rand() * 8);
      const weights = Array.from({ length: n }, () => 1 + Math.floor(rand() * (rand() < 0.5 ? 4 : 40)));
      const reduced = integerWeights(hostsOf(weights));
      const period = reduced.reduce((a, b) => a + b, 0);
      expect(Array.from(smoothSchedule(reduced))).toEqual(nginxOrder(reduced, period));
    }
  });

  it('workers sharing one counter walk one order together, whatever the interleaving', () => {
    const weights = [5, 3, 1, 1];
    const counter = new Counter();
    const workers = [0, 1, 2].map(() => ({ picker: picker(weights), ctx: new TestContext(seeded(1), counter) }));
    const who = seeded(9);
    const global: number[] = [];
    for (let i = 0; i < 100; i++) {
      const w = workers[Math.floor(who() * workers.length)];
      global.push(w.picker.pick(w.ctx, 0));
    }
    expect(global).toEqual(nginxOrder(weights, 100));
  });

  it('equal weights are plain rotation from the shared counter', () => {
    const p = picker([7, 7, 7, 7, 7]);
    expect(p.period).toBe(5);
    const ctx = new TestContext();
    ctx.counter.value = 1_000_000_003;
    expect(letters(() => p.pick(ctx, 0), 6)).toBe('deabcd');
  });

  it('reads an Int32 counter that wrapped negative as unsigned', () => {
    const p = picker([1, 1, 1]);
    const ctx = new TestContext();
    ctx.counter.value = -1; // Atomics.add on an Int32Array past 2^31 - 1
    expect(p.pick(ctx, 0)).toBe((2 ** 32 - 1) % 3);
  });

  it('keeps long schedules bounded and the ratio close', () => {
    const weights = [100_000_000, 37_000_000, 1];
    const p = picker(weights);
    expect(p.period).toBeLessThanOrEqual(MAX_SCHEDULE_LENGTH + weights.length);
    const ctx = new TestContext();
    const hits = [0, 0, 0];
    for (let i = 0; i < p.period; i++) hits[p.pick(ctx, 0)]++;
    expect(hits[0] / hits[1]).toBeCloseTo(100 / 37, 2);
    expect(hits[2]).toBeGreaterThanOrEqual(1);
  });

  it('builds a large weighted cluster quickly', () => {
    const weights = Array.from({ length: 500 }, (_, i) => 1000 - (i % 7) * 100);
    const started = performance.now();
    const p = picker(weights);
    expect(performance.now() - started).toBeLessThan(500);
    expect(p.period).toBeLessThanOrEqual(MAX_SCHEDULE_LENGTH + weights.length);
  });

  it('returns -1 with no hosts', () => {
    expect(picker([]).pick(new TestContext(), 0)).toBe(-1);
  });
});

describe('round-robin attempts', () => {
  it.each([1, 2, 3, 5, 8])('attempts 0..n-1 give n distinct hosts (n = %i)', (n) => {
    const p = picker(Array.from({ length: n }, (_, i) => 1 + (i % 3)));
    const ctx = new TestContext();
    for (let request = 0; request < 50; request++) {
      const seen = new Set<number>();
      for (let attempt = 0; attempt < n; attempt++) seen.add(p.pick(ctx, attempt));
      expect(seen.size).toBe(n);
    }
  });

  it('spreads the retries of one host over the others', () => {
    const p = picker([1, 1, 1, 1]);
    const ctx = new TestContext();
    const retryTargets = new Map<string, number>();
    for (let request = 0; request < 400; request++) {
      const first = p.pick(ctx, 0);
      const second = p.pick(ctx, 1);
      expect(second).not.toBe(first);
      const k = `${NAMES[first]}${NAMES[second]}`;
      retryTargets.set(k, (retryTargets.get(k) ?? 0) + 1);
    }
    // 4 first choices x 3 retry targets, all used
    expect(retryTargets.size).toBe(12);
  });

  it('later attempts do not consume the shared counter', () => {
    const p = picker([1, 1, 1]);
    const ctx = new TestContext();
    p.pick(ctx, 0);
    p.pick(ctx, 1);
    p.pick(ctx, 2);
    expect(ctx.counter.value).toBe(1);
  });
});
