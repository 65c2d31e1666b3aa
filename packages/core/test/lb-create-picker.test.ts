import { describe, expect, it } from 'vitest';
import {
  LeastRequestPicker,
  MaglevPicker,
  RandomPicker,
  RingHashPicker,
  RoundRobinPicker,
  createPicker,
  hashKey,
  usesHash,
  type LbPolicyConfig,
} from '../src/lb/index.js';
import { TestContext, hostsOf } from './lb-fixtures.js';

describe('createPicker', () => {
  it.each([
    { config: { policy: 'round-robin' }, type: RoundRobinPicker, hash: false },
    { config: { policy: 'random' }, type: RandomPicker, hash: false },
    { config: { policy: 'least-request', choices: 3, active_request_bias: 0.5 }, type: LeastRequestPicker, hash: false },
    { config: { policy: 'ring-hash', min_ring_size: 64 }, type: RingHashPicker, hash: true },
    { config: { policy: 'maglev', table_size: 251 }, type: MaglevPicker, hash: true },
  ] as { config: LbPolicyConfig; type: new () => unknown; hash: boolean }[])('$config.policy', ({ config, type, hash }) => {
    const p = createPicker(config);
    expect(p).toBeInstanceOf(type);
    expect(usesHash(config)).toBe(hash);
    p.build(hostsOf([1, 1, 1]));
    const ctx = new TestContext();
    ctx.hash = hashKey('k');
    const walk = [0, 1, 2].map((a) => p.pick(ctx, a));
    expect(new Set(walk)).toEqual(new Set([0, 1, 2]));
  });

  it('passes options through', () => {
    const ring = createPicker({ policy: 'ring-hash', min_ring_size: 64 }) as RingHashPicker;
    ring.build(hostsOf([1, 1]));
    expect(ring.size).toBe(128);
    expect((createPicker({ policy: 'maglev', table_size: 251 }) as MaglevPicker).tableSize).toBe(251);
  });

  it.each([
    { policy: 'least-request', choices: 0 },
    { policy: 'ring-hash', min_ring_size: -1 },
    { policy: 'maglev', table_size: 1000 },
    { policy: 'weighted-dice' },
  ])('rejects %o', (config) => {
    expect(() => createPicker(config as LbPolicyConfig)).toThrow(RangeError);
  });
});
