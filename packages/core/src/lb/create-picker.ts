import { LeastRequestPicker } from './least-request.js';
import { MaglevPicker } from './maglev.js';
import { RandomPicker } from './random.js';
import { RingHashPicker } from './ring-hash.js';
import { RoundRobinPicker } from './round-robin.js';
import type { LbPolicyConfig, Picker } from './types.js';

/** A fresh picker for a cluster's `lb` block. Bad option values throw RangeError. */
export function createPicker(config: LbPolicyConfig): Picker {
  switch (config.policy) {
    case 'round-robin':
      return new RoundRobinPicker();
    case 'random':
      return new RandomPicker();
    case 'least-request':
      return new LeastRequestPicker({ choices: config.choices, activeRequestBias: config.active_request_bias });
    case 'ring-hash':
      return new RingHashPicker({ minRingSize: config.min_ring_size, maxRingSize: config.max_ring_size });
    case 'maglev':
      return new MaglevPicker({ tableSize: config.table_size });
    default:
      throw new RangeError(`unknown lb policy ${JSON.stringify((config as { policy: unknown }).policy)}`);
  }
}

/** Policies that pick by ctx.hash, so the caller must hash the request's key. */
export function usesHash(config: LbPolicyConfig): boolean {
  return config.policy === 'ring-hash' || config.policy === 'maglev';
}
