/**
 * What a worker holds per endpoint, whatever the protocol to it: the pool an exchange acquires
 * streams from, plus what the cluster runtime and the worker do with it over its life (warm it, give
 * it new breaker limits, retire it, close it). The HTTP/1.1 pool (endpoint-pool.ts) and the HTTP/2
 * session pool (h2-session-pool.ts) both are one.
 */
import type { PoolLimits } from './endpoint-pool.js';
import type { UpstreamPool } from './upstream-exchange.js';
import type { EndpointTls } from './upstream-tls.js';

export interface ManagedPool extends UpstreamPool {
  /** TLS to the endpoint (null: plaintext), shared with the TCP proxy's connections to it. */
  readonly tls: EndpointTls | null;
  /** Connections (HTTP/2: sessions) open or opening. */
  readonly size: number;
  /** Connections carrying nothing now (HTTP/2: open sessions without streams). */
  readonly idleCount: number;
  /** Exchanges waiting for a stream. */
  readonly pending: number;
  /** This worker counts in the endpoint's `warm_pools`. */
  readonly isWarm: boolean;
  /** Opens connections ahead of requests (pool.warmup); nothing without it. */
  warm(): void;
  /** New breaker limits after a config change; what is open stays. */
  setLimits(l: PoolLimits): void;
  /** Cuts everything: busy connections too, and waiters fail with 'pool closed' (the worker is going away). */
  close(): void;
  /** Closes what is idle and lets busy connections finish (the endpoint left the cluster). */
  closeIdle(): void;
}
