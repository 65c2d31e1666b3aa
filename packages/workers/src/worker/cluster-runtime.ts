/**
 * A worker's view of one cluster: its endpoints, each with this worker's connection pool, and the
 * load-balancing pick. Per-endpoint counters the pick reads live in SharedState, so every worker
 * balances over the same numbers.
 */
import { EndpointState, HEALTH_ACTIVE_FAILED, HEALTH_EJECTED, type HeaderList, type SharedState, type StatsWriter } from '@pillion/core';
import type { ClusterSnapshot, EndpointSnapshot } from '../messages.js';
import { EndpointPool } from '../upstream/endpoint-pool.js';

export interface UpstreamEndpoint {
  readonly slot: number;
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly pool: EndpointPool;
}

const UNUSABLE = HEALTH_ACTIVE_FAILED | HEALTH_EJECTED;

/** What a pick may look at: the request's headers and client (for hashing) and a scratch slot for walking. */
export interface PickRequest {
  readonly headers: HeaderList;
  readonly clientAddress: string;
  /** Per-request balancer state (for walking on to other endpoints on later attempts); owned by the cluster. */
  lbScratch: unknown;
}

/** How one attempt against an endpoint ended: a status code, or how it failed. */
export type UpstreamResult = number | 'connect-failure' | 'reset' | 'timeout';

export class ClusterRuntime {
  readonly name: string;
  readonly slot: number;
  readonly snapshot: ClusterSnapshot;
  readonly endpoints: UpstreamEndpoint[];

  constructor(
    snapshot: ClusterSnapshot,
    private readonly state: SharedState,
    stats: StatsWriter,
    maxResponseHeadBytes: number,
    previous?: ClusterRuntime,
  ) {
    this.name = snapshot.name;
    this.slot = snapshot.slot;
    this.snapshot = snapshot;
    const c = snapshot.config;
    const reuse = new Map(previous?.endpoints.map((e) => [e.key, e]));
    this.endpoints = snapshot.endpoints.map((e: EndpointSnapshot) => {
      const old = reuse.get(e.key);
      if (old && old.slot === e.slot) return old;
      const pool = new EndpointPool(
        {
          host: e.address,
          port: e.port,
          endpointSlot: e.slot,
          clusterSlot: snapshot.slot,
          maxConnections: c.pool.max_connections_per_endpoint,
          connectTimeoutMs: c.connect_timeout,
          idleTimeoutMs: c.pool.idle_timeout,
          maxRequestsPerConnection: c.pool.max_requests_per_connection,
          maxResponseHeadBytes,
        },
        state,
        stats,
      );
      return { slot: e.slot, key: e.key, address: e.address, port: e.port, pool };
    });
  }

  /**
   * Weighted round robin over usable endpoints, walking one sequence shared by every worker so the
   * process as a whole rotates in order. `attempt` walks on past endpoints that cannot be used.
   */
  pick(_req: PickRequest, attempt: number): UpstreamEndpoint | null {
    const eps = this.endpoints;
    const n = eps.length;
    if (n === 0) return null;
    const start = this.state.nextSequence(this.slot) + attempt;
    for (let i = 0; i < n; i++) {
      const e = eps[(start + i) % n]!;
      if (this.usable(e.slot)) return e;
    }
    return null;
  }

  /** Called once per attempt when it ends; feeds passive health (outlier detection). */
  onResult(_endpoint: UpstreamEndpoint, _result: UpstreamResult): void {}

  private usable(slot: number): boolean {
    return this.state.endpoint(slot, 'state') === EndpointState.Active && (this.state.endpoint(slot, 'health') & UNUSABLE) === 0;
  }

  /** Pools of endpoints that the next runtime no longer has. */
  retiredPools(next: ClusterRuntime | undefined): EndpointPool[] {
    const kept = new Set(next?.endpoints.map((e) => e.pool));
    return this.endpoints.filter((e) => !kept.has(e.pool)).map((e) => e.pool);
  }
}
