import { describe, expect, it } from 'vitest';
import { MaglevPicker, hashKey, type LbHost } from '../src/lb/index.js';
import { TestContext, hostsOf } from './lb-fixtures.js';

function maglev(hosts: readonly LbHost[], tableSize?: number): MaglevPicker {
  const p = new MaglevPicker({ tableSize });
  p.build(hosts);
  return p;
}

/** Envoy's table population written round by round (MaglevTable::constructMaglevTableInternal). */
function envoyTable(hosts: readonly LbHost[], m: number): number[] {
  const order = hosts.map((_, i) => i).sort((a, b) => (hosts[a].key < hosts[b].key ? -1 : 1));
  const heaviest = Math.max(...hosts.map((h) => h.weight));
  const entries = order.map((i) => ({
    host: i,
    offset: hashKey(hosts[i].key, 0) % m,
    skip: (hashKey(hosts[i].key, 1) % (m - 1)) + 1,
    weight: hosts[i].weight,
    target: 0,
    next: 0,
  }));
  const table = new Array<number>(m).fill(-1);
  let filled = 0;
  for (let round = 1; filled < m; round++) {
    for (const e of entries) {
      if (filled >= m) break;
      if (round * e.weight < e.target) continue;
      e.target += heaviest;
      let c = (e.offset + e.skip * e.next) % m;
      while (table[c] !== -1) {
        e.next++;
        c = (e.offset + e.skip * e.next) % m;
      }
      table[c] = e.host;
      e.next++;
      filled++;
    }
  }
  return table;
}

function lookups(p: MaglevPicker, m: number): number[] {
  const ctx = new TestContext();
  const out: number[] = [];
  for (let k = 0; k < m; k++) {
    ctx.hash = k;
    out.push(p.pick(ctx, 0));
  }
  return out;
}

function owners(p: MaglevPicker, hosts: readonly LbHost[], keys: readonly string[]): string[] {
  const ctx = new TestContext();
  return keys.map((k) => {
    ctx.hash = hashKey(k);
    return hosts[p.pick(ctx, 0)].key;
  });
}

const KEYS = Array.from({ length: 20_000 }, (_, i) => `session-${i}`);

describe('maglev', () => {
  it.each([
    { weights: [1, 1, 1], m: 13 },
    { weights: [1, 2, 3, 4], m: 251 },
    { weights: [1000, 300, 1], m: 1009 },
    { weights: [7, 7, 2, 5, 1, 9, 3], m: 65537 },
  ])('fills the table as Envoy does: weights $weights, size $m', ({ weights, m }) => {
    const hosts = hostsOf(weights);
    expect(lookups(maglev(hosts, m), m)).toEqual(envoyTable(hosts, m));
  });

  it('maps a key to the same host every time, whatever the host order', () => {
    const hosts = hostsOf([1, 1, 1, 1, 1, 1, 1]);
    const a = owners(maglev(hosts), hosts, KEYS);
    const shuffled = [hosts[3], hosts[0], hosts[6], hosts[1], hosts[5], hosts[2], hosts[4]];
    expect(owners(maglev(shuffled), shuffled, KEYS)).toEqual(a);
  });

  it.each([{ n: 5 }, { n: 10 }, { n: 20 }])('removing one of $n hosts moves about 1/$n of the keys', ({ n }) => {
    const hosts = hostsOf(new Array<number>(n).fill(1));
    const removed = hosts[Math.floor(n / 2)].key;
    const remaining = hosts.filter((h) => h.key !== removed);
    const before = owners(maglev(hosts), hosts, KEYS);
    const after = owners(maglev(remaining), remaining, KEYS);
    let moved = 0;
    let stayed = 0;
    for (let i = 0; i < KEYS.length; i++) {
      if (after[i] === removed) stayed++;
      if (after[i] !== before[i]) moved++;
    }
    expect(stayed).toBe(0);
    const fraction = moved / KEYS.length;
    expect(fraction).toBeGreaterThan((1 / n) * 0.85);
    expect(fraction).toBeLessThan((1 / n) * 1.2);
  });

  it.each([{ weights: [1, 1, 1, 1] }, { weights: [1, 2, 3, 4] }, { weights: [5000, 1000, 1000] }, { weights: [100, 1] }])(
    'slot counts follow weights $weights',
    ({ weights }) => {
      const p = maglev(hostsOf(weights));
      const counts = p.slotCounts(weights.length);
      const total = weights.reduce((a, b) => a + b, 0);
      counts.forEach((c, i) => expect(Math.abs(c / p.tableSize - weights[i] / total)).toBeLessThan(0.005));
    },
  );

  it('attempts move on to the following distinct entries', () => {
    const hosts = hostsOf([1, 1, 1, 1, 1]);
    const p = maglev(hosts, 251);
    const table = lookups(p, 251);
    const ctx = new TestContext();
    for (let k = 0; k < 251; k++) {
      ctx.hash = k;
      const walk = [0, 1, 2, 3, 4].map((a) => p.pick(ctx, a));
      expect(new Set(walk).size).toBe(5);
      // the walk order is the order hosts first appear reading the table forward from k
      const expected: number[] = [];
      for (let s = 0; expected.length < 5; s++) {
        const h = table[(k + s) % 251];
        if (!expected.includes(h)) expected.push(h);
      }
      expect(walk).toEqual(expected);
    }
  });

  it.each([65536, 1, 100, 5000012])('rejects table size %i', (tableSize) => {
    expect(() => new MaglevPicker({ tableSize })).toThrow(RangeError);
  });

  it('returns -1 with no hosts', () => {
    expect(maglev([]).pick(new TestContext(), 0)).toBe(-1);
  });
});
