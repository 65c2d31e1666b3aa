import { byKey } from './by-key.js';
import { hashIndexedKeys } from './hash.js';
import { OwnerWalk } from './walk.js';
import type { LbHost, PickContext, Picker } from './types.js';

export interface RingHashOptions {
  /** Ring entries for the heaviest host (default 1024); lighter hosts get entries in proportion. */
  readonly minRingSize?: number;
  /** Cap on the whole ring (default 8M entries); over it every host's share is scaled down. */
  readonly maxRingSize?: number;
}

export const DEFAULT_MIN_RING_SIZE = 1024;
export const MAX_RING_SIZE = 8 * 1024 * 1024;
/** Ring entries are sorted packed as hash * 2^21 + host rank, exact in a double. */
const RANK_SPACE = 1 << 21;

/**
 * Consistent hashing on a ring (Karger; Envoy's ring_hash).
 *
 * Host i gets ceil(min_ring_size * weight_i / heaviest weight) points, hashed from "key_0",
 * "key_1", ... A host's points depend only on its own key and its weight relative to the heaviest,
 * not on how many hosts there are (Envoy divides min_ring_size among the hosts, so one host
 * leaving gives everyone new points and moves keys between hosts that stayed). So when a host
 * leaves only its keys move, and a ramping host only takes keys from, or gives keys back to,
 * the others. The ring is a pure function of the host set, sorted by hash with ties broken by key,
 * so every worker and process maps a key alike whatever order the hosts came in.
 */
export class RingHashPicker implements Picker {
  private readonly minRingSize: number;
  private readonly maxRingSize: number;
  private n = 0;
  private hashes = new Uint32Array(0);
  private owners = new Int32Array(0);
  private readonly walk = new OwnerWalk();

  constructor(options: RingHashOptions = {}) {
    const min = options.minRingSize ?? DEFAULT_MIN_RING_SIZE;
    const max = options.maxRingSize ?? MAX_RING_SIZE;
    if (!Number.isInteger(min) || min < 1 || min > MAX_RING_SIZE) {
      throw new RangeError(`min_ring_size must be an integer in [1, ${MAX_RING_SIZE}], got ${min}`);
    }
    if (!Number.isInteger(max) || max < min || max > MAX_RING_SIZE) {
      throw new RangeError(`max_ring_size must be an integer in [min_ring_size, ${MAX_RING_SIZE}], got ${max}`);
    }
    this.minRingSize = min;
    this.maxRingSize = max;
  }

  /** Number of points on the ring. */
  get size(): number {
    return this.hashes.length;
  }

  build(hosts: readonly LbHost[]): void {
    const n = hosts.length;
    if (n > RANK_SPACE) throw new RangeError(`ring-hash supports at most ${RANK_SPACE} hosts, got ${n}`);
    this.n = n;
    this.walk.reset(n);
    let heaviest = 0;
    for (const h of hosts) if (h.weight > heaviest) heaviest = h.weight;
    const counts = new Float64Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) {
      counts[i] = Math.max(1, Math.ceil((this.minRingSize * hosts[i].weight) / heaviest));
      total += counts[i];
    }
    if (total > this.maxRingSize) {
      const f = this.maxRingSize / total;
      total = 0;
      for (let i = 0; i < n; i++) {
        counts[i] = Math.max(1, Math.floor(counts[i] * f));
        total += counts[i];
      }
    }
    const order = byKey(hosts);
    const packed = new Float64Array(total);
    let most = 0;
    for (let i = 0; i < n; i++) if (counts[i] > most) most = counts[i];
    const points = new Uint32Array(most);
    let p = 0;
    for (let rank = 0; rank < n; rank++) {
      const i = order[rank];
      const count = counts[i];
      hashIndexedKeys(hosts[i].key, count, points);
      for (let j = 0; j < count; j++) packed[p++] = points[j] * RANK_SPACE + rank;
    }
    packed.sort();
    this.hashes = new Uint32Array(total);
    this.owners = new Int32Array(total);
    for (let k = 0; k < total; k++) {
      const v = packed[k];
      const rank = v % RANK_SPACE;
      this.hashes[k] = (v - rank) / RANK_SPACE;
      this.owners[k] = order[rank];
    }
  }

  pick(ctx: PickContext, attempt: number): number {
    const len = this.hashes.length;
    if (len === 0) return -1;
    const h = ctx.hash >>> 0;
    const hashes = this.hashes;
    let lo = 0;
    let hi = len;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (hashes[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    const pos = lo === len ? 0 : lo;
    if (attempt === 0) return this.owners[pos];
    return this.walk.nth(this.owners, pos, attempt % this.n);
  }
}
