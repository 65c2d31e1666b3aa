/**
 * A worker's view of one cluster: its endpoints, each with this worker's connection pool, and the
 * load-balancing pick. Everything the pick depends on lives in SharedState (health and ejection
 * flags, effective weights, draining, the round-robin sequence, active requests), so every worker
 * balances over the same numbers and the process balances as one.
 *
 * The balancer is rebuilt only when the cluster's `membership_generation` has moved since the last
 * pick: whoever changes an endpoint's eligibility or weight (health checks, outlier ejection, the
 * admin API, a reload) writes the endpoint's fields first and bumps the generation after, so a pick
 * costs one atomic load when nothing changed.
 */
import {
  ClusterBalancer,
  EndpointState,
  HEALTH_ACTIVE_FAILED,
  HEALTH_EJECTED,
  HEALTH_UNKNOWN,
  OUTLIER_EJECTED,
  usesHash,
  type ClusterConfig,
  type ClusterLbConfig,
  type LbConfig,
  type LbEndpoint,
  type PickRequest,
  type SharedState,
  type StatsWriter,
  type UpstreamResult as CoreUpstreamResult,
} from '@pillion/core';
import type { ClusterSnapshot, EndpointSnapshot } from '../messages.js';
import { EndpointPool } from '../upstream/endpoint-pool.js';
import { H2SessionPool } from '../upstream/h2-session-pool.js';
import type { ManagedPool } from '../upstream/managed-pool.js';
import type { EndpointTls } from '../upstream/upstream-tls.js';
import type { ClusterTls } from './worker-tls.js';
import { poolLimits, poolTuning } from './pool-options.js';
import { parseHashOn, requestHash, type HashSource } from './hash-source.js';
import { SharedOutlier, outlierConfigOf, outlierDetectionOn, returnIfDue } from './outlier.js';
import { RequestPick, type PickSource } from './request-pick.js';

export interface UpstreamEndpoint {
  readonly slot: number;
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly zone: string;
  readonly priority: number;
  /** HTTP/1.1 connections (EndpointPool) or HTTP/2 sessions (H2SessionPool), by the cluster's protocol. */
  readonly pool: ManagedPool;
  /** TLS to the endpoint (its pool's), for the HTTP pool and TCP connections alike; null: plaintext. */
  readonly tls: EndpointTls | null;
}

/** How one attempt against an endpoint ended: a status code, or how it failed. */
export type UpstreamResult = CoreUpstreamResult;

/** Not eligible while set: failed active checks, or not checked yet (eligible only in panic). */
const NOT_HEALTHY = HEALTH_ACTIVE_FAILED | HEALTH_UNKNOWN;

export interface ClusterRuntimeOptions {
  /** Uniform in [0, 1); tests inject their own. */
  random?: () => number;
  /** Milliseconds since the epoch; tests inject their own. */
  now?: () => number;
  /**
   * The worker's TLS for a cluster, looked up at each connect so rotated material applies to new
   * connections. Without it a cluster with `tls` cannot connect (it never falls back to plaintext).
   */
  tls?: (cluster: string) => ClusterTls | undefined;
}

/** The balancer's options from a cluster's `lb` block. */
export function balancerConfigOf(lb: LbConfig): ClusterLbConfig {
  return {
    policy: lb.policy,
    choices: lb.choices,
    active_request_bias: lb.active_request_bias,
    min_ring_size: lb.min_ring_size,
    table_size: lb.table_size,
    panic_threshold: lb.panic_threshold,
    local_zone: lb.local_zone,
  };
}

export class ClusterRuntime implements PickSource {
  readonly name: string;
  readonly slot: number;
  readonly snapshot: ClusterSnapshot;
  readonly endpoints: UpstreamEndpoint[];
  readonly balancer: ClusterBalancer;
  private readonly bySlot = new Map<number, UpstreamEndpoint>();
  private readonly hashOn: HashSource | null;
  private readonly outlier: SharedOutlier | null;
  private readonly stats: StatsWriter;
  readonly random: () => number;
  private readonly now: () => number;
  /** Endpoints this worker last saw failing health checks or ejected (warmed again on return). */
  private readonly unhealthy = new Set<number>();
  /** The membership generation the balancer was last built at. */
  private builtAt = -1;
  /** Earliest end of an ejection among this cluster's ejected endpoints (Infinity when none). */
  private nextReturn = Infinity;

  constructor(
    snapshot: ClusterSnapshot,
    readonly state: SharedState,
    stats: StatsWriter,
    maxResponseHeadBytes: number,
    previous?: ClusterRuntime,
    options: ClusterRuntimeOptions = {},
  ) {
    this.name = snapshot.name;
    this.slot = snapshot.slot;
    this.snapshot = snapshot;
    this.stats = stats;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    const c = snapshot.config;
    // Pools are kept across snapshots, except when the cluster's TLS settings or its protocol changed:
    // connections made with the old ones (or in plaintext) must not serve it. New material alone keeps them.
    const wire = (x: typeof c) => JSON.stringify([x.tls, x.protocol, x.http2]);
    const sameWire = previous !== undefined && wire(previous.snapshot.config) === wire(c);
    const reuse = new Map(sameWire ? previous.endpoints.map((e) => [e.key, e]) : []);
    const tlsOf = options.tls;
    const name = snapshot.name;
    const tls = c.tls === undefined ? null : () => tlsOf?.(name);
    this.endpoints = snapshot.endpoints.map((e: EndpointSnapshot) => {
      const old = reuse.get(e.key);
      // A pool speaks TLS under the name it was made with: a new name (an SRV target renamed) gets a new pool.
      if (old && old.slot === e.slot && (old.tls === null || old.tls.address === (e.hostname ?? e.address))) {
        old.pool.setLimits(poolLimits(c));
        const priority = e.priority ?? 0;
        return old.zone === e.zone && old.priority === priority ? old : { ...old, zone: e.zone, priority };
      }
      const options = {
        host: e.address,
        port: e.port,
        endpointSlot: e.slot,
        clusterSlot: snapshot.slot,
        maxConnections: c.pool.max_connections_per_endpoint,
        connectTimeoutMs: c.connect_timeout,
        idleTimeoutMs: c.pool.idle_timeout,
        maxRequestsPerConnection: c.pool.max_requests_per_connection,
        maxResponseHeadBytes,
        ...poolLimits(c),
        ...poolTuning(c, e.hostname ?? e.address, e.port),
        tls,
        tlsName: e.hostname,
      };
      const protocol = c.protocol;
      const pool: ManagedPool =
        protocol === 'http1'
          ? new EndpointPool(options, state, stats)
          : new H2SessionPool({ ...options, protocol, http2: h2Options(c.http2) }, state, stats);
      pool.warm(); // a new endpoint (or a new worker): open its connections before requests need them
      return { slot: e.slot, key: e.key, address: e.address, port: e.port, zone: e.zone, priority: e.priority ?? 0, pool, tls: pool.tls };
    });
    for (const e of this.endpoints) this.bySlot.set(e.slot, e);
    const lb = balancerConfigOf(c.lb);
    this.balancer = new ClusterBalancer(lb);
    this.hashOn = usesHash(lb) && c.lb.hash_on !== undefined ? parseHashOn(c.lb.hash_on) : null;
    this.outlier = outlierDetectionOn(c.outlier_detection) ? new SharedOutlier(state, snapshot.slot, outlierConfigOf(c.outlier_detection), this.now) : null;
  }

  /**
   * The endpoint for attempt `attempt` (0 first) of a request, or null when none may be chosen.
   * Later attempts of the same request walk on to other endpoints.
   */
  pick(req: PickRequest, attempt: number): UpstreamEndpoint | null {
    if (this.nextReturn !== Infinity && this.now() >= this.nextReturn) this.returnEjected();
    const generation = this.state.cluster(this.slot, 'membership_generation');
    if (generation !== this.builtAt) this.refresh(generation);
    let ctx = req.lbScratch;
    if (attempt === 0 || !(ctx instanceof RequestPick) || ctx.source !== this) {
      const fresh = new RequestPick(this);
      if (this.hashOn !== null) fresh.hash = requestHash(this.hashOn, req.headers, req.clientAddress, this.random);
      req.lbScratch = ctx = fresh;
    }
    const slot = this.balancer.pick(ctx as RequestPick, attempt);
    return slot < 0 ? null : (this.bySlot.get(slot) ?? null);
  }

  /** Called once per attempt when it ends; feeds passive health (outlier detection). */
  onResult(endpoint: UpstreamEndpoint, result: UpstreamResult): void {
    if (this.outlier === null) return;
    const total = this.builtAt === -1 ? this.endpoints.length : this.balancer.hostSet.totalCount;
    if (this.outlier.record(endpoint.slot, result, total) === OUTLIER_EJECTED) {
      this.stats.cluster(this.slot, 'outlier_ejections', 1);
    }
  }

  /** Rebuilds the balancer from SharedState, as of `generation` (read before the fields). */
  refresh(generation = this.state.cluster(this.slot, 'membership_generation')): void {
    const s = this.state;
    const list: LbEndpoint[] = [];
    let nextReturn = Infinity;
    for (const e of this.endpoints) {
      const health = s.endpoint(e.slot, 'health');
      const ejected = (health & HEALTH_EJECTED) !== 0;
      if (ejected) {
        const until = s.endpointTime(e.slot, 'ejected_until');
        if (until < nextReturn) nextReturn = until;
      }
      const weight = s.endpoint(e.slot, 'weight');
      const effective = s.endpoint(e.slot, 'effective_weight_milli');
      const healthy = (health & NOT_HEALTHY) === 0 && !ejected;
      // Back in service (health check passed again, ejection over): warm its pool before traffic returns.
      if (healthy && this.unhealthy.delete(e.slot)) e.pool.warm();
      else if (!healthy) this.unhealthy.add(e.slot);
      list.push({
        slot: e.slot,
        key: e.key,
        zone: e.zone,
        weight: weight > 0 ? weight : 1,
        healthy: (health & NOT_HEALTHY) === 0,
        ejected,
        draining: s.endpoint(e.slot, 'state') !== EndpointState.Active,
        priority: e.priority,
        effectiveWeight: effective > 0 ? effective : undefined,
      });
    }
    this.balancer.update(list);
    this.builtAt = generation;
    this.nextReturn = nextReturn;
  }

  /** Ends ejections whose time has passed; the generation bump makes the next pick rebuild. */
  private returnEjected(): void {
    const now = this.now();
    let next = Infinity;
    for (const e of this.endpoints) {
      if (returnIfDue(this.state, this.slot, e.slot, now)) continue;
      if ((this.state.endpoint(e.slot, 'health') & HEALTH_EJECTED) !== 0) {
        const until = this.state.endpointTime(e.slot, 'ejected_until');
        if (until < next) next = until;
      }
    }
    this.nextReturn = next;
  }

  /** Pools of endpoints that the next runtime no longer has. */
  retiredPools(next: ClusterRuntime | undefined): ManagedPool[] {
    const kept = new Set(next?.endpoints.map((e) => e.pool));
    return this.endpoints.filter((e) => !kept.has(e.pool)).map((e) => e.pool);
  }
}

/** A cluster's `http2` block as an HTTP/2 pool applies it. */
function h2Options(h: ClusterConfig['http2']) {
  return {
    maxConcurrentStreams: h.max_concurrent_streams,
    sessionsPerEndpoint: h.sessions_per_endpoint,
    keepaliveIntervalMs: h.keepalive_interval ?? 0,
    keepaliveTimeoutMs: h.keepalive_timeout,
  };
}
