import type { LbHost, PickContext, Picker } from './types.js';
import { walkDistinct } from './walk.js';

/**
 * Weighted round robin, smooth (nginx's algorithm), with one cursor for the whole process.
 *
 * build() lays out one period of nginx's smooth weighted round robin as a schedule; pick() is
 * `schedule[sequence % length]`, where the sequence is the cluster's counter shared by all
 * workers. So N picks, through any mix of workers, land in exactly the schedule's order, which a
 * per-worker cursor (Envoy's) cannot give. Equal weights need no schedule: plain rotation.
 */

/** Longest schedule kept: weights whose (reduced) sum is larger are scaled down to fit. */
export const MAX_SCHEDULE_LENGTH = 65536;
/** Bound on build() work (schedule length x distinct weights), so a rebuild never stalls a worker. */
const MAX_BUILD_STEPS = 1 << 21;

export class RoundRobinPicker implements Picker {
  private n = 0;
  /** Host index per position of one period; null when weights are equal (rotation). */
  private schedule: Int32Array | null = null;

  build(hosts: readonly LbHost[]): void {
    this.n = hosts.length;
    const weights = integerWeights(hosts);
    let equal = true;
    for (let i = 1; i < weights.length; i++) if (weights[i] !== weights[0]) equal = false;
    this.schedule = equal ? null : smoothSchedule(weights);
  }

  /** The schedule's length: one period of the rotation. */
  get period(): number {
    return this.schedule === null ? this.n : this.schedule.length;
  }

  pick(ctx: PickContext, attempt: number): number {
    const n = this.n;
    if (n === 0) return -1;
    if (attempt !== 0) return walkDistinct(ctx.walkFirst, ctx.walkSalt, attempt, n);
    // An Int32 or Uint32 shared counter wraps at 2^32; >>> 0 reads both the same way.
    const s = ctx.sequence() >>> 0;
    const schedule = this.schedule;
    const i = schedule === null ? s % n : schedule[s % schedule.length];
    ctx.walkFirst = i;
    ctx.walkSalt = s;
    return i;
  }
}

/**
 * Positive integer weights in the smallest equivalent ratio, scaled down when their sum (the
 * schedule's length) or the build work would be too large. Every host keeps at least 1.
 */
export function integerWeights(hosts: readonly LbHost[]): number[] {
  const n = hosts.length;
  const w = new Array<number>(n);
  for (let i = 0; i < n; i++) w[i] = Math.max(1, Math.round(hosts[i].weight));
  reduce(w);
  let sum = 0;
  for (const x of w) sum += x;
  const limit = Math.min(MAX_SCHEDULE_LENGTH, Math.max(n, Math.floor(MAX_BUILD_STEPS / distinctCount(w))));
  if (sum > limit) {
    const f = limit / sum;
    for (let i = 0; i < n; i++) w[i] = Math.max(1, Math.round(w[i] * f));
    reduce(w);
  }
  return w;
}

/**
 * One period of nginx's smooth weighted round robin: each step every host's current weight grows
 * by its weight, the largest (first on ties) is chosen and loses the total. Hosts of equal weight
 * always take their turns in index order, so the step only compares one candidate per distinct
 * weight: O(length x distinct weights) rather than O(length x hosts).
 */
export function smoothSchedule(weights: readonly number[]): Int32Array {
  const n = weights.length;
  let total = 0;
  for (const w of weights) total += w;
  const groupOf = new Map<number, number>();
  const groupWeight: number[] = [];
  const members: number[][] = [];
  for (let i = 0; i < n; i++) {
    let g = groupOf.get(weights[i]);
    if (g === undefined) {
      g = groupWeight.length;
      groupOf.set(weights[i], g);
      groupWeight.push(weights[i]);
      members.push([]);
    }
    members[g].push(i);
  }
  const groups = groupWeight.length;
  const next = new Int32Array(groups); // position in the group's rotation
  const rounds = new Float64Array(groups); // picks of the group's hosts before `next`, per host
  const out = new Int32Array(total);
  for (let t = 1; t <= total; t++) {
    let best = -1;
    let bestHost = 0;
    let bestValue = 0;
    for (let g = 0; g < groups; g++) {
      const host = members[g][next[g]];
      // current weight of the group's candidate after t steps: t * w - total * (times chosen)
      const value = t * groupWeight[g] - total * rounds[g];
      if (best === -1 || value > bestValue || (value === bestValue && host < bestHost)) {
        best = g;
        bestHost = host;
        bestValue = value;
      }
    }
    out[t - 1] = bestHost;
    if (++next[best] === members[best].length) {
      next[best] = 0;
      rounds[best]++;
    }
  }
  return out;
}

function reduce(w: number[]): void {
  let g = 0;
  for (const x of w) g = gcd(g, x);
  if (g > 1) for (let i = 0; i < w.length; i++) w[i] /= g;
}

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

function distinctCount(w: readonly number[]): number {
  return new Set(w).size;
}
