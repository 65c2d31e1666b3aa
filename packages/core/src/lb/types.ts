/**
 * The small contract every load-balancing policy implements: `build()` once when membership,
 * eligibility or weights change, `pick()` per request. Policies are pure: shared state (the
 * cluster's sequence counter, per-endpoint active requests) reaches them through `PickContext`,
 * so the same code runs over a SharedArrayBuffer in the proxy and over plain numbers in tests.
 */

import type { HeaderList } from '../http/header-list.js';

/** An endpoint the picker may choose, as seen after eligibility and weighting (see host-set.ts). */
export interface LbHost {
  /** The endpoint's SharedState slot; handed back to `PickContext.activeRequests`. */
  readonly slot: number;
  /**
   * Effective weight, > 0. The host set produces integer weight units (WEIGHT_UNIT per unit of
   * configured weight, at least 1); pickers also accept fractional weights.
   */
  readonly weight: number;
  readonly zone: string;
  /** "address:port": stable identity, hashed by ring-hash and maglev. */
  readonly key: string;
}

/**
 * What a pick may read. One object serves one request for all of its attempts: the `walk*` fields
 * are scratch a picker writes on attempt 0 and reads on later attempts, so walking on to a
 * different host needs no allocation and no per-request state inside the (shared) picker.
 */
export interface PickContext {
  /** Uniform in [0, 1). */
  random(): number;
  /** Next value of the cluster's shared counter: a monotonic integer shared by all workers. */
  sequence(): number;
  /** Active requests (or connections, for L4) on the endpoint in `slot`, summed over all workers. */
  activeRequests(slot: number): number;
  /** 32-bit unsigned hash of the request's key (see `hashKey`); read by ring-hash and maglev. */
  hash: number;
  /** Scratch: index chosen on attempt 0. */
  walkFirst: number;
  /** Scratch: per-request offset that spreads later attempts over the other hosts. */
  walkSalt: number;
  /** Scratch: zone group chosen on attempt 0 (zone-aware wrapper). */
  walkGroup: number;
  /**
   * Scratch of `ClusterBalancer`: the build the `walk*` fields above index into. A later attempt
   * against another build (the host set changed between attempts) starts a fresh walk rather than
   * reading indexes of the old set. 0: none yet.
   */
  walkEpoch: number;
  /** Scratch of `ClusterBalancer`: the attempt number the current walk started at (the picker sees attempt - walkStart). */
  walkStart: number;
  /** Scratch of `ClusterBalancer`: the slot the previous attempt returned (-1: none), avoided by a fresh walk. */
  walkLast: number;
}

export interface Picker {
  /** Called when membership, eligibility or weights change; precompute here (pingora's build/iter split). */
  build(hosts: readonly LbHost[]): void;
  /**
   * Index into the hosts given to build(), or -1 when there are none. `attempt` is 0 for the first
   * choice; the caller increments it (0, 1, 2, ... for one request, with the same ctx) to walk on
   * past a choice it cannot use. Attempts 0 .. n-1 give n different hosts; later ones repeat.
   */
  pick(ctx: PickContext, attempt: number): number;
}

export type LbPolicy = 'round-robin' | 'random' | 'least-request' | 'ring-hash' | 'maglev';

/** The `lb` block of a cluster, as far as the picker is concerned (snake_case like the config file). */
export interface LbPolicyConfig {
  readonly policy: LbPolicy;
  /** least-request: candidates sampled per pick (default 2); >= host count scans every host. */
  readonly choices?: number;
  /** least-request: how strongly active requests outweigh configured weight (default 1.0). */
  readonly active_request_bias?: number;
  /** ring-hash: entries for the heaviest host (default 1024). */
  readonly min_ring_size?: number;
  /** ring-hash: cap on the whole ring (default 8M). */
  readonly max_ring_size?: number;
  /** maglev: lookup table size, a prime (default 65537). */
  readonly table_size?: number;
}

/**
 * What a pick may look at, per request (an HTTP exchange, a TCP connection, a UDP session): the
 * request's headers and client (for hashing) and a scratch slot the cluster keeps its walk in.
 */
export interface PickRequest {
  readonly headers: HeaderList;
  readonly clientAddress: string;
  /** Per-request balancer state (for walking on to other endpoints on later attempts); owned by the cluster. */
  lbScratch: unknown;
}
