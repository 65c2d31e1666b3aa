import type { LbHost, PickContext } from '../src/lb/index.js';

/** mulberry32: a small seeded PRNG, so ratio tests give the same numbers every run. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Draws that replay `values` in order (and fail loudly when a test asks for more than it scripted). */
export function scripted(values: readonly number[]): () => number {
  let i = 0;
  return () => {
    if (i >= values.length) throw new Error(`scripted random exhausted after ${values.length} draws`);
    return values[i++];
  };
}

/** The cluster's shared sequence counter: several contexts (workers) may hold the same one. */
export class Counter {
  value = 0;
}

export class TestContext implements PickContext {
  hash = 0;
  walkFirst = 0;
  walkSalt = 0;
  walkGroup = 0;
  walkEpoch = 0;
  walkStart = 0;
  walkLast = -1;
  /** Active requests by slot. */
  active: number[] = [];

  constructor(
    public rand: () => number = seeded(1),
    public counter: Counter = new Counter(),
  ) {}

  random(): number {
    return this.rand();
  }

  sequence(): number {
    return this.counter.value++;
  }

  activeRequests(slot: number): number {
    return this.active[slot] ?? 0;
  }
}

/** Hosts named a, b, c, ... with these weights; slot = index, key = "10.0.0.<i+1>:80" unless named. */
export function hostsOf(weights: readonly number[], zones?: readonly string[]): LbHost[] {
  return weights.map((weight, i) => ({
    slot: i,
    weight,
    zone: zones?.[i] ?? 'z',
    key: `10.0.0.${i + 1}:80`,
  }));
}

export const NAMES = 'abcdefghijklmnopqrstuvwxyz';

/** Picks `count` times (attempt 0) and returns the chosen hosts as letters. */
export function letters(pick: () => number, count: number): string {
  let out = '';
  for (let i = 0; i < count; i++) out += NAMES[pick()];
  return out;
}

/** Share of picks per index over `count` picks. */
export function shares(pick: () => number, count: number, n: number): number[] {
  const hits = new Array<number>(n).fill(0);
  for (let i = 0; i < count; i++) hits[pick()]++;
  return hits.map((h) => h / count);
}
