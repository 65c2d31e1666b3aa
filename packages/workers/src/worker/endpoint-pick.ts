/**
 * The endpoint for one attempt of a request: the cluster's pick, walking past endpoints whose request
 * limit is full or whose failure-rate breaker is open; and the attempt's result fed back to passive
 * health and the breaker once it ends.
 */
import type { BreakerLimit, PickRequest, SharedState } from '@pillion/core';
import type { ClusterRuntime, UpstreamEndpoint, UpstreamResult } from './cluster-runtime.js';
import { BREAKER_ADMIT, BREAKER_PROBE, BREAKER_REJECT, failureBreakerOf } from './failure-breaker.js';

/** A request as the attempt logic sees it: its pick scratch plus where its walk stands. */
export interface AttemptCursor extends PickRequest {
  /** Picks made so far: successive picks walk on to endpoints not tried yet. */
  picks: number;
  /** The failure-rate breaker's admission for the current attempt (BREAKER_ADMIT or _PROBE), 0 once recorded. */
  breakerVerdict: number;
}

/**
 * Picks the endpoint for an attempt and takes a place in its rq_active. Returns the endpoint; or the
 * breaker limit that refused every candidate; or null when the cluster has no endpoint to offer.
 */
export function pickEndpoint(cluster: ClusterRuntime, req: AttemptCursor, state: SharedState): UpstreamEndpoint | BreakerLimit | null {
  const perEndpointMax = cluster.snapshot.config.circuit_breaker.per_endpoint.max_requests;
  const breaker = failureBreakerOf(cluster);
  const tries = Math.max(1, cluster.endpoints.length);
  let refused: BreakerLimit | null = null;
  for (let i = 0; i < tries; i++) {
    const e = cluster.pick(req, req.picks++);
    if (e === null) break;
    if (perEndpointMax !== undefined && state.addEndpoint(e.slot, 'rq_active', 1) >= perEndpointMax) {
      state.addEndpoint(e.slot, 'rq_active', -1);
      refused = 'max_requests';
      continue;
    }
    const verdict = breaker === null ? BREAKER_ADMIT : breaker.acquire(e.slot);
    if (verdict === BREAKER_REJECT) {
      if (perEndpointMax !== undefined) state.addEndpoint(e.slot, 'rq_active', -1);
      refused = 'failure_rate';
      continue;
    }
    if (perEndpointMax === undefined) state.addEndpoint(e.slot, 'rq_active', 1);
    req.breakerVerdict = breaker === null ? 0 : verdict;
    return e;
  }
  return refused;
}

/** Tells the cluster how the attempt on `endpoint` ended (passive health, the failure-rate breaker). */
export function reportResult(cluster: ClusterRuntime, endpoint: UpstreamEndpoint, req: AttemptCursor, result: UpstreamResult): void {
  cluster.onResult(endpoint, result);
  if (req.breakerVerdict !== 0) {
    failureBreakerOf(cluster)!.record(endpoint.slot, typeof result === 'number' && result < 500, req.breakerVerdict === BREAKER_PROBE);
    req.breakerVerdict = 0;
  }
}

/** Lets go of an attempt's endpoint: a half-open probe that ended without a verdict frees its place, and rq_active. */
export function releaseEndpoint(cluster: ClusterRuntime, endpoint: UpstreamEndpoint, req: AttemptCursor, state: SharedState): void {
  if (req.breakerVerdict === BREAKER_PROBE) failureBreakerOf(cluster)!.releaseProbe(endpoint.slot);
  req.breakerVerdict = 0;
  state.addEndpoint(endpoint.slot, 'rq_active', -1);
}
