/**
 * Every default of the resilience room, in one place. The config schema reads its defaults from
 * here, so the number an operator gets when a field is left out is defined once. Each constant names
 * the config field it stands for; durations are in milliseconds.
 */
import type { ResourceLimits } from './circuit-breaker.js';
import type { FailureRateBreakerConfig } from './failure-rate-breaker.js';
import type { OutlierConfig } from './outlier.js';

/** `clusters[].circuit_breaker` (per cluster and per endpoint): Envoy's defaults. */
export const DEFAULT_RESOURCE_LIMITS: Readonly<ResourceLimits> = Object.freeze({
  maxConnections: 1024, // max_connections
  maxPendingRequests: 1024, // max_pending_requests
  maxRequests: 1024, // max_requests
  maxRetries: 3, // max_retries
});

/**
 * `clusters[].circuit_breaker.failure_rate`: the rolling-window breaker per endpoint. The window and
 * minimum follow Hystrix (10 s in 10 buckets, 20 requests), the sleep window the seed example (30 s).
 */
export const DEFAULT_FAILURE_RATE_BREAKER: Readonly<FailureRateBreakerConfig> = Object.freeze({
  windowMs: 10_000, // window
  buckets: 10, // buckets
  failureRateThreshold: 50, // failure_rate_threshold, percent
  minimumRequests: 20, // minimum_requests
  sleepWindowMs: 30_000, // sleep_window
  halfOpenRequests: 3, // half_open_requests
});

/** `clusters[].outlier_detection`: Envoy's defaults. */
export const DEFAULT_OUTLIER: Readonly<OutlierConfig> = Object.freeze({
  consecutive5xx: 5, // consecutive_5xx (0 turns the rule off)
  consecutiveGatewayFailure: 5, // consecutive_gateway_failure (0 turns the rule off)
  baseEjectionTimeMs: 30_000, // base_ejection_time
  maxEjectionTimeMs: 300_000, // max_ejection_time
  maxEjectionPercent: 10, // max_ejection_percent
  intervalMs: 10_000, // interval: one healthy interval takes one off the ejection multiplier
});

/** `clusters[].health_check` */
export const DEFAULT_HEALTH_CHECK = Object.freeze({
  intervalMs: 5_000, // interval
  timeoutMs: 1_000, // timeout
  jitterMs: 0, // jitter
  healthyThreshold: 2, // healthy_threshold
  unhealthyThreshold: 3, // unhealthy_threshold
  /** expected_statuses for http checks: any 2xx (a /health answering 204 is common). */
  expectedStatuses: Object.freeze(['200-299']) as readonly string[],
});

/** `routes[].retry` */
export const DEFAULT_RETRY = Object.freeze({
  backoffBaseMs: 25, // backoff.base
  backoffMaxMs: 250, // backoff.max
  /** backoff.retry_after_max: the longest Retry-After wait honoured; longer ones are cut to it. */
  retryAfterMaxMs: 10_000,
  budgetPercent: 20, // budget_percent
  minRetryConcurrency: 3, // min_retry_concurrency
  /** replay_buffer: request bodies up to this size are kept so a retry can resend them. */
  replayBufferBytes: 64 * 1024,
});

/** `clusters[].slow_start` (the window has no default: slow start is off unless one is given). */
export const DEFAULT_SLOW_START = Object.freeze({
  aggression: 1.0, // aggression
  minWeightPercent: 10, // min_weight_percent
});
