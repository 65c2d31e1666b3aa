/**
 * Whether a failed attempt is tried again, and when: the route's retry policy (which failures, how
 * many attempts, whether the request and its body can be sent again), the cluster's retry budget and
 * max_retries breaker, and the backoff before the next attempt (honouring Retry-After).
 */
import { retryBudgetAllows, retryDelay, shouldRetry, type CompiledRoute, type SharedState, type StatsWriter } from '@pillion/core';
import type { ClusterRuntime, UpstreamResult } from './cluster-runtime.js';

/** What the retry decision needs to know about the request so far. */
export interface RetryFacts {
  method: string;
  /** Attempts made before this one failed (0 after the first). */
  attempt: number;
  /** Some of the failed attempt's request reached the upstream socket. */
  reached: boolean;
  hasBody: boolean;
  /** The whole body so far is still in the replay buffer. */
  replayable: boolean;
}

/** Whether the route's retry policy allows another attempt after `outcome`. */
export function retryAllowed(route: CompiledRoute, facts: RetryFacts, outcome: UpstreamResult): boolean {
  const policy = route.config.retry;
  if (route.retryOn === null || policy === undefined || facts.attempt >= policy.attempts) return false;
  const reached = facts.reached;
  if (!shouldRetry(route.retryOn, { outcome, method: facts.method, requestReachedUpstream: reached, bodyReplayable: facts.replayable || !reached })) {
    return false;
  }
  // A retry of a request that never reached the upstream resends nothing, but one that did needs the
  // whole body, which must still be complete in the replay buffer.
  return !(reached && facts.hasBody && !facts.replayable);
}

/**
 * Whether the route retries a gRPC answer with this `grpc-status` (listed by name in `retry.on`). The
 * operator lists the codes a service returns for calls it did not carry out (UNAVAILABLE above all),
 * so the method rule does not apply (every gRPC call is a POST); the body must still be replayable.
 */
export function grpcRetryAllowed(route: CompiledRoute, facts: RetryFacts, grpcStatus: number): boolean {
  const policy = route.config.retry;
  if (route.retryOn === null || policy === undefined || facts.attempt >= policy.attempts) return false;
  return route.retryOn.coversGrpc(grpcStatus) && (!facts.hasBody || facts.replayable);
}

/**
 * Takes a place for a retry in the cluster's rq_retry_active when its retry budget and max_retries
 * breaker allow one (counting which refused); false when they do not.
 */
export function takeRetrySlot(route: CompiledRoute, cluster: ClusterRuntime, state: SharedState, stats: StatsWriter): boolean {
  const policy = route.config.retry!;
  const active = state.cluster(cluster.slot, 'rq_active');
  const inFlight = state.cluster(cluster.slot, 'rq_retry_active');
  if (!retryBudgetAllows(active, inFlight, policy.budget_percent, policy.min_retry_concurrency)) {
    stats.cluster(cluster.slot, 'retry_budget_exhausted', 1);
    return false;
  }
  if (state.addCluster(cluster.slot, 'rq_retry_active', 1) >= cluster.snapshot.config.circuit_breaker.max_retries) {
    state.addCluster(cluster.slot, 'rq_retry_active', -1);
    stats.cluster(cluster.slot, 'cb_reject_max_retries', 1);
    return false;
  }
  stats.cluster(cluster.slot, 'retries', 1);
  return true;
}

/** Milliseconds to wait before attempt number `attempt` + 1, after a failure that may carry a Retry-After value. */
export function retryBackoff(route: CompiledRoute, attempt: number, retryAfter: string | undefined): number {
  const b = route.config.retry!.backoff;
  return retryDelay({ baseMs: b.base, maxMs: b.max, retryAfterMaxMs: b.retry_after_max }, attempt, Math.random(), retryAfter, Date.now());
}
