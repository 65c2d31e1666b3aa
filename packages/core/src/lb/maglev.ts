import { hashKey } from './hash.js';
import { byKey } from './by-key.js';
import { OwnerWalk } from './walk.js';
import type { LbHost, PickContext, Picker } from './types.js';

export interface MaglevOptions {
  /** Lookup table size, a prime (default 65537). */
  readonly tableSize?: number;
}

export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;
export const MAX_MAGLEV_TABLE_SIZE = 5000011;

/**
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016), weighted as Envoy does.
 *
 * Each host walks its own permutation of the table, offset = h0(key) % M, skip = h1(key) % (M-1) + 1,
 * claiming the next free slot when its turn comes. Turns are Envoy's weighted rounds: the heaviest
 * host takes a slot every round, a host of a third of that weight every third round, so slot counts
 * follow weights. Hosts take turns in key order, so the table is the same in every worker and
 * process whatever order the hosts came in. Lookup is one modulo and one array read; when a host
 * leaves, about 1/N of the keys move (only slightly more than the leaving host's own).
 */
export class MaglevPicker implements Picker {
  readonly tableSize: number;
  private table: Int32Array;
  /** Distinct hosts that own at least one slot (all of them unless hosts outnumber slots). */
  private present = 0;
  private readonly walk = new OwnerWalk();

  constructor(options: MaglevOptions = {}) {
    const m = options.tableSize ?? DEFAULT_MAGLEV_TABLE_SIZE;
    if (!Number.isInteger(m) || m < 2 || m > MAX_MAGLEV_TABLE_SIZE || !isPrime(m)) {
      throw new RangeError(`table_size must be a prime in [2, ${MAX_MAGLEV_TABLE_SIZE}], got ${m}`);
    }
    this.tableSize = m;
    this.table = new Int32Array(0);
  }

  build(hosts: readonly LbHost[]): void {
    const n = hosts.length;
    const m = this.tableSize;
    this.walk.reset(n);
    if (n === 0) {
      this.table = new Int32Array(0);
      this.present = 0;
      return;
    }
    const table = new Int32Array(m).fill(-1);
    const order = byKey(hosts);
    const pos = new Int32Array(n);
    const skip = new Int32Array(n);
    const weight = new Float64Array(n);
    const target = new Float64Array(n);
    const due = new Float64Array(n);
    let heaviest = 0;
    for (let r = 0; r < n; r++) {
      const h = hosts[order[r]];
      pos[r] = hashKey(h.key, 0) % m;
      skip[r] = (hashKey(h.key, 1) % (m - 1)) + 1;
      weight[r] = h.weight;
      due[r] = 1;
      if (h.weight > heaviest) heaviest = h.weight;
    }
    // Min-heap of ranks by (round due, rank): the order Envoy's round-by-round loop visits them.
    const heap = new Int32Array(n);
    for (let r = 0; r < n; r++) heap[r] = r; // already ordered: all due in round 1
    for (let filled = 0; filled < m; filled++) {
      const r = heap[0];
      let p = pos[r];
      while (table[p] !== -1) {
        p += skip[r];
        if (p >= m) p -= m;
      }
      table[p] = order[r];
      p += skip[r];
      if (p >= m) p -= m;
      pos[r] = p;
      const round = due[r];
      target[r] += heaviest;
      due[r] = Math.max(round + 1, Math.ceil(target[r] / weight[r]));
      siftDown(heap, n, due);
    }
    this.table = table;
    let present = 0;
    const mark = new Uint8Array(n);
    for (let k = 0; k < m; k++) {
      if (mark[table[k]] === 0) {
        mark[table[k]] = 1;
        present++;
      }
    }
    this.present = present;
  }

  pick(ctx: PickContext, attempt: number): number {
    const m = this.table.length;
    if (m === 0) return -1;
    const at = (ctx.hash >>> 0) % m;
    if (attempt === 0) return this.table[at];
    return this.walk.nth(this.table, at, attempt % this.present);
  }

  /** Slots owned by the host at each index given to build(); for reports and tests. */
  slotCounts(n: number): Int32Array {
    const counts = new Int32Array(n);
    for (let k = 0; k < this.table.length; k++) counts[this.table[k]]++;
    return counts;
  }
}

/** Restores the heap after its top's round changed; ranks order hosts due in the same round. */
function siftDown(heap: Int32Array, n: number, due: Float64Array): void {
  let i = 0;
  const item = heap[0];
  const itemDue = due[item];
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) break;
    let c = l;
    const r = l + 1;
    if (r < n) {
      const hr = heap[r];
      const hl = heap[l];
      if (due[hr] < due[hl] || (due[hr] === due[hl] && hr < hl)) c = r;
    }
    const hc = heap[c];
    if (due[hc] > itemDue || (due[hc] === itemDue && hc > item)) break;
    heap[i] = hc;
    i = c;
  }
  heap[i] = item;
}

function isPrime(x: number): boolean {
  if (x < 2) return false;
  if (x % 2 === 0) return x === 2;
  for (let d = 3; d * d <= x; d += 2) if (x % d === 0) return false;
  return true;
}
