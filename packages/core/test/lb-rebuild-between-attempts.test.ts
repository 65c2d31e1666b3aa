/**
 * A request's later attempts after the host set was rebuilt under it (an ejection, a health change,
 * an admin edit between attempt 0 and a retry). The walk scratch in the PickContext indexes the set
 * of attempt 0, so a later attempt must not read it against the new set: every answer is a slot of
 * the new set, or -1 when it is empty, and nothing throws.
 */
import { describe, expect, it } from 'vitest';
import {
  ClusterBalancer,
  LeastRequestPicker,
  MaglevPicker,
  RandomPicker,
  RingHashPicker,
  RoundRobinPicker,
  ZoneAwarePicker,
  walkDistinct,
  type ClusterLbConfig,
  type LbEndpoint,
  type LbPolicy,
  type Picker,
} from '../src/lb/index.js';
import { TestContext, hostsOf, scripted, seeded } from './lb-fixtures.js';

const POLICIES: readonly LbPolicy[] = ['round-robin', 'random', 'least-request', 'ring-hash', 'maglev'];

/**
 * Endpoints with slots 10, 11, ... (never equal to their index). Zoned: zones alternate b/a so that
 * the last one is in the local zone a, where attempt 0 can reach it.
 */
function endpoints(n: number, zoned = false): LbEndpoint[] {
  return Array.from({ length: n }, (_, i) => ({
    slot: 10 + i,
    key: `10.0.0.${i + 1}:80`,
    zone: zoned ? ((n - 1 - i) % 2 === 0 ? 'a' : 'b') : 'z',
    weight: 1,
    healthy: true,
    ejected: false,
    draining: false,
  }));
}

/** The same endpoints with only those at `keep` (indexes) left eligible: the others ejected. */
function keepOnly(eps: readonly LbEndpoint[], keep: readonly number[]): LbEndpoint[] {
  return eps.map((e, i) => (keep.includes(i) ? e : { ...e, ejected: true }));
}

function configOf(policy: LbPolicy, zoned: boolean): ClusterLbConfig {
  // panic_threshold 0: an ejection always shrinks the set, as outlier detection does on two endpoints.
  return { policy, panic_threshold: 0, ...(zoned ? { local_zone: 'a' } : {}), ...(policy === 'maglev' ? { table_size: 101 } : {}) };
}

/** A context whose attempt 0 goes to the set's last index (the case that read past a shrunk set). */
function lastIndexContext(policy: LbPolicy, lb: ClusterBalancer, n: number): TestContext {
  for (let seed = 1; seed < 500; seed++) {
    const ctx = new TestContext(seeded(seed));
    ctx.counter.value = seed;
    ctx.hash = (seed * 2654435761) >>> 0;
    const probe = new TestContext(seeded(seed));
    probe.counter.value = seed;
    probe.hash = ctx.hash;
    if (lb.pick(probe, 0) === 10 + n - 1) return ctx;
  }
  throw new Error(`no context sends ${policy} to the last of ${n} hosts`);
}

describe('ClusterBalancer: later attempts after the host set shrank', () => {
  const cases = POLICIES.flatMap((policy) =>
    [false, true].flatMap((zoned) =>
      [2, 3].flatMap((n) => [
        { policy, zoned, n, keep: [0], expected: [10, 10, 10] },
        { policy, zoned, n, keep: [] as number[], expected: [-1, -1, -1] },
      ]),
    ),
  );

  it.each(cases)('$policy (zoned $zoned): $n hosts, then only $keep: attempts 1..3 give $expected', ({ policy, zoned, n, keep, expected }) => {
    const lb = new ClusterBalancer(configOf(policy, zoned));
    const eps = endpoints(n, zoned);
    lb.update(eps);
    const ctx = lastIndexContext(policy, lb, n);
    expect(lb.pick(ctx, 0)).toBe(10 + n - 1);
    expect(lb.update(keepOnly(eps, keep))).toBe(true);
    expect([1, 2, 3].map((attempt) => lb.pick(ctx, attempt))).toEqual(expected);
  });

  it.each(POLICIES.flatMap((policy) => [false, true].map((zoned) => ({ policy, zoned }))))(
    '$policy (zoned $zoned): many requests, every rebuild between attempts, answers stay in the new set',
    ({ policy, zoned }) => {
      const lb = new ClusterBalancer(configOf(policy, zoned));
      const eps = endpoints(4, zoned);
      const sets = [[0, 1, 2, 3], [0], [], [2, 3], [1], [0, 1, 2], [3]];
      const rand = seeded(7);
      for (let request = 0; request < 200; request++) {
        const ctx = new TestContext(rand);
        ctx.hash = (request * 2654435761) >>> 0;
        for (let attempt = 0; attempt < 5; attempt++) {
          const keep = sets[(request + attempt) % sets.length];
          lb.update(keepOnly(eps, keep));
          const slot = lb.pick(ctx, attempt);
          if (keep.length === 0) expect(slot).toBe(-1);
          else expect(keep.map((i) => 10 + i)).toContain(slot);
        }
      }
    },
  );

  it.each(POLICIES)('%s: the fresh walk after a rebuild steps past the slot just used, then goes on distinct', (policy) => {
    const lb = new ClusterBalancer(configOf(policy, false));
    const eps = endpoints(4);
    lb.update(eps);
    for (let request = 0; request < 50; request++) {
      lb.update(eps);
      const ctx = new TestContext(seeded(request + 1));
      ctx.counter.value = request;
      ctx.hash = (request * 40503) >>> 0;
      const first = lb.pick(ctx, 0);
      // Another endpoint leaves (its weight changes the build): the one that failed is still there.
      const other = eps.findIndex((e) => e.slot !== first);
      lb.update(keepOnly(eps, [0, 1, 2, 3].filter((i) => i !== other)));
      const walk = [1, 2, 3].map((attempt) => lb.pick(ctx, attempt));
      expect(walk[0]).not.toBe(first);
      expect(walk[1]).not.toBe(walk[0]);
      for (const slot of walk) expect([10, 11, 12, 13].filter((s) => s !== 10 + other)).toContain(slot);
    }
  });

  it('keeps walking the same build without restarting: attempts 0..n-1 distinct', () => {
    for (const policy of POLICIES) {
      const lb = new ClusterBalancer(configOf(policy, false));
      lb.update(endpoints(3));
      const ctx = new TestContext(seeded(3));
      ctx.hash = 12345;
      const walk = [0, 1, 2].map((attempt) => lb.pick(ctx, attempt));
      expect(new Set(walk), policy).toEqual(new Set([10, 11, 12]));
      expect(ctx.walkStart).toBe(0);
    }
  });

  it('starts a walk for a later attempt on a context that never had attempt 0', () => {
    const lb = new ClusterBalancer({ policy: 'round-robin' });
    lb.update(endpoints(2));
    const ctx = new TestContext(seeded(1));
    ctx.walkFirst = 7; // garbage scratch
    expect(lb.pick(ctx, 3)).toBe(10);
    expect(lb.pick(ctx, 4)).toBe(11);
  });

  it('answers -1, never throws, when a picker hands back an index outside the set', () => {
    const lb = new ClusterBalancer({ policy: 'round-robin' });
    lb.update(endpoints(2));
    const bad: Picker = { build: () => {}, pick: (_ctx, attempt) => [5, Number.NaN, 2, -3][attempt] ?? (undefined as unknown as number) };
    (lb as unknown as { picker: Picker }).picker = bad;
    const ctx = new TestContext();
    expect([0, 1, 2, 3, 4].map((a) => lb.pick(ctx, a))).toEqual([-1, -1, -1, -1, -1]);
  });
});

describe('pickers reused across a rebuild without the balancer (scratch from a larger set)', () => {
  const makers: [string, () => Picker][] = [
    ['round-robin', () => new RoundRobinPicker()],
    ['random', () => new RandomPicker()],
    ['least-request', () => new LeastRequestPicker()],
    ['least-request, choices 3', () => new LeastRequestPicker({ choices: 3 })],
    ['ring-hash', () => new RingHashPicker({ minRingSize: 16 })],
    ['maglev', () => new MaglevPicker({ tableSize: 101 })],
    ['zone-aware', () => new ZoneAwarePicker({ localZone: 'z', createPicker: () => new RoundRobinPicker() })],
  ];

  it.each(makers)('%s: 3 hosts, then 1 and 0: attempts 1..3 stay in range', (_name, make) => {
    const p = make();
    for (const smaller of [1, 0]) {
      p.build(hostsOf([1, 1, 1]));
      const ctx = new TestContext(scripted([0.99, 0.99, 0.99]));
      ctx.counter.value = 2;
      ctx.hash = 0xdeadbeef;
      const first = p.pick(ctx, 0);
      expect(first).toBeGreaterThanOrEqual(0);
      p.build(hostsOf(new Array<number>(smaller).fill(1)));
      const later = [1, 2, 3].map((attempt) => p.pick(ctx, attempt));
      expect(later).toEqual(smaller === 1 ? [0, 0, 0] : [-1, -1, -1]);
    }
  });

  it('walkDistinct never answers outside 0..n-1, whatever first it is given', () => {
    expect(walkDistinct(1, 0, 1, 1)).toBe(0);
    expect(walkDistinct(5, 0, 0, 2)).toBe(1);
    expect(walkDistinct(2, 9, 1, 0)).toBe(-1);
    for (let n = 1; n <= 4; n++) {
      for (let first = 0; first < 8; first++) {
        for (let attempt = 0; attempt < 6; attempt++) {
          const i = walkDistinct(first, 12345, attempt, n);
          expect(i).toBeGreaterThanOrEqual(0);
          expect(i).toBeLessThan(n);
        }
      }
    }
  });
});

describe('zone-aware walks stay in range', () => {
  it('a chosen zone of one host and a bigger other zone: every attempt, wrapping too, is a host', () => {
    // local zone a has one host, zone b three: attempt 1 picks afresh in b and rewrites the scratch,
    // attempt 4 wraps round into a again.
    const hosts = hostsOf([1, 1, 1, 1], ['a', 'b', 'b', 'b']);
    const p = new ZoneAwarePicker({ localZone: 'a', createPicker: () => new RoundRobinPicker(), minClusterSize: 1 });
    p.update(hosts, new Map([['a', 1000], ['b', 3000]]), false);
    const ctx = new TestContext(seeded(2));
    ctx.counter.value = 2;
    for (let request = 0; request < 20; request++) {
      const walk = [0, 1, 2, 3, 4, 5, 6, 7].map((attempt) => p.pick(ctx, attempt));
      for (const i of walk) {
        expect(i).toBeGreaterThanOrEqual(0);
        expect(i).toBeLessThan(4);
      }
      expect(new Set(walk.slice(0, 4)).size).toBe(4);
    }
  });

  it('a zone group number from another build falls back to the local zone', () => {
    const hosts = hostsOf([1, 1, 1, 1], ['a', 'a', 'b', 'b']);
    const p = new ZoneAwarePicker({ localZone: 'a', createPicker: () => new RoundRobinPicker() });
    p.update(hosts, new Map([['a', 2000], ['b', 2000]]), false);
    const ctx = new TestContext();
    ctx.walkGroup = 5;
    ctx.walkFirst = 9;
    for (let attempt = 1; attempt < 6; attempt++) {
      const i = p.pick(ctx, attempt);
      expect(i).toBeGreaterThanOrEqual(0);
      expect(i).toBeLessThan(4);
    }
  });
});
