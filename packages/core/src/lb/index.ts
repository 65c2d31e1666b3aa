/**
 * Load balancing, as pure logic: which endpoint serves the next request.
 *
 * - types: the Picker contract (build on change, pick per request) and what a pick may read
 * - host-set: eligibility (health, ejection, draining, panic) and effective weight (slow start),
 *   the one layer every policy sits behind
 * - round-robin, random, least-request, ring-hash, maglev: the policies, one file each
 * - zone-aware: keeps traffic in the local zone, spilling over in proportion when it cannot
 * - cluster-balancer: host set + policy (+ zones) for one cluster, what a worker holds
 * - hash: the key hash shared by the consistent-hash policies and their callers
 */
export type { LbHost, LbPolicy, LbPolicyConfig, PickContext, PickRequest, Picker } from './types.js';
export { createPicker, usesHash } from './create-picker.js';
export {
  buildHostSet,
  scaledWeight,
  sameHostSet,
  DEFAULT_PANIC_THRESHOLD,
  MIN_EFFECTIVE_WEIGHT,
  WEIGHT_UNIT,
  type LbEndpoint,
  type HostSet,
  type HostSetOptions,
} from './host-set.js';
export { ClusterBalancer, type ClusterLbConfig } from './cluster-balancer.js';
export { ZoneAwarePicker, type ZoneAwareOptions, type ZoneMode } from './zone-aware.js';
export { RoundRobinPicker, smoothSchedule, integerWeights, MAX_SCHEDULE_LENGTH } from './round-robin.js';
export { RandomPicker } from './random.js';
export { LeastRequestPicker, type LeastRequestOptions } from './least-request.js';
export { RingHashPicker, DEFAULT_MIN_RING_SIZE, MAX_RING_SIZE, type RingHashOptions } from './ring-hash.js';
export { MaglevPicker, DEFAULT_MAGLEV_TABLE_SIZE, MAX_MAGLEV_TABLE_SIZE, type MaglevOptions } from './maglev.js';
export { hashKey, hashIndexedKey, hashIndexedKeys, murmur3 } from './hash.js';
export { walkDistinct } from './walk.js';
