/**
 * A cluster's `pool`, `circuit_breaker` and `health_check` settings as an endpoint pool applies them.
 */
import { HeaderList, parseExpectedStatuses } from '@pillion/core';
import type { ClusterConfig } from '@pillion/core';
import type { PoolLimits, WarmupOptions } from '../upstream/endpoint-pool.js';
import type { WarmupCheck } from '../upstream/warmup-probe.js';

/** Breaker limits (unset per-endpoint limits are Infinity). */
export function poolLimits(c: ClusterConfig): PoolLimits {
  const cb = c.circuit_breaker;
  return {
    clusterMaxConnections: cb.max_connections,
    clusterMaxPending: cb.max_pending_requests,
    endpointMaxConnections: cb.per_endpoint.max_connections ?? Infinity,
    endpointMaxPending: cb.per_endpoint.max_pending_requests ?? Infinity,
  };
}

/** Warm-up, preconnect and connection-lifetime settings for one endpoint's pool. */
export function poolTuning(c: ClusterConfig, address: string, port: number) {
  const w = c.pool.warmup;
  const warmup: WarmupOptions | null = w
    ? { connections: w.connections, concurrency: w.concurrency, backoffBaseMs: w.backoff.base, backoffMaxMs: w.backoff.max, check: warmupCheck(c, address, port) }
    : null;
  return {
    warmup,
    preconnectRatio: c.pool.preconnect_ratio,
    minIdle: c.pool.min_idle,
    maxConnectionAgeMs: c.pool.max_connection_age ?? 0,
  };
}

/** The cluster's HTTP health check request, reused to verify warmed connections. */
function warmupCheck(c: ClusterConfig, address: string, port: number): WarmupCheck | null {
  const http = c.health_check?.http;
  if (!http) return null;
  const matcher = parseExpectedStatuses(http.expected_statuses);
  const host = http.host ?? `${address.includes(':') ? `[${address}]` : address}:${port}`;
  return {
    path: http.path,
    headers: new HeaderList(['host', host, 'user-agent', 'pillion-warmup']),
    accepts: (status) => matcher.matches(status),
  };
}
