/**
 * Resource limits (Envoy's circuit breaker thresholds): how many connections, queued requests,
 * requests and concurrent retries a cluster, or one endpoint, may have at once. The counters live
 * in SharedState so every worker sees the same totals; this file only decides. Check the cluster's
 * limits and then the endpoint's, and answer the first rejection with 503 and
 * `x-pillion-overloaded: true`, labelling `pillion_circuit_breaker_rejections_total{limit}` with
 * the returned name. Defaults are in `defaults.ts` (1024 / 1024 / 1024 / 3).
 */

export interface ResourceLimits {
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  /** Retries in flight at once. */
  maxRetries: number;
}

/** Current usage, summed over all workers. */
export interface ResourceCounters {
  connections: number;
  pendingRequests: number;
  requests: number;
  retries: number;
}

export type ResourceKind = 'connection' | 'pending-request' | 'request' | 'retry';

/**
 * Every limit a breaker refuses on, named as in the config, and so in the `limit` label of
 * `pillion_circuit_breaker_rejections_total` and in the `cb_reject_<limit>` cluster statistics: the
 * four resource limits, then an endpoint's failure-rate breaker.
 */
export const BREAKER_LIMITS = ['max_connections', 'max_pending_requests', 'max_requests', 'max_retries', 'failure_rate'] as const;
export type BreakerLimit = (typeof BREAKER_LIMITS)[number];

/** The resource limits (config field names), the ones `rejectingLimit` decides. */
export type LimitName = Exclude<BreakerLimit, 'failure_rate'>;

/**
 * Which limit stops one more `kind` from being taken, or undefined when it may be. The counter is
 * the usage before this acquisition; a limit of 0 admits nothing, Infinity everything.
 */
export function rejectingLimit(
  kind: ResourceKind,
  counters: ResourceCounters,
  limits: ResourceLimits,
): LimitName | undefined {
  switch (kind) {
    case 'connection':
      return counters.connections < limits.maxConnections ? undefined : 'max_connections';
    case 'pending-request':
      return counters.pendingRequests < limits.maxPendingRequests ? undefined : 'max_pending_requests';
    case 'request':
      return counters.requests < limits.maxRequests ? undefined : 'max_requests';
    case 'retry':
      return counters.retries < limits.maxRetries ? undefined : 'max_retries';
  }
}

/** Shorthand for `rejectingLimit(...) === undefined`. */
export function canAcquire(kind: ResourceKind, counters: ResourceCounters, limits: ResourceLimits): boolean {
  return rejectingLimit(kind, counters, limits) === undefined;
}
