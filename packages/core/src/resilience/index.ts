/**
 * Resilience: the pure state machines and arithmetic that keep upstreams healthy and requests
 * flowing. No timers, no sockets, no shared memory here: every function takes `now` in ms and any
 * random value it needs, and each machine's state is a handful of numbers that the worker layer
 * keeps in SharedState slots.
 *
 * - threshold: the one "N in a row before flipping" rule (active checks and outlier detection)
 * - health-schedule: when the next active check runs; which statuses pass it
 * - upstream-result + outlier: classifying results, passive ejection with growing ejection times
 * - circuit-breaker: resource limits; failure-rate-breaker: closed / open / half-open per endpoint
 * - backoff + retry-policy: when to retry, how long to wait, the retry budget
 * - slow-start: ramping new, recovered and still-warming endpoints
 * - defaults: every default above, in one place
 */
export {
  DEFAULT_FAILURE_RATE_BREAKER,
  DEFAULT_HEALTH_CHECK,
  DEFAULT_OUTLIER,
  DEFAULT_RESOURCE_LIMITS,
  DEFAULT_RETRY,
  DEFAULT_SLOW_START,
} from './defaults.js';
export {
  nextStreak,
  observeThreshold,
  packedConsecutive,
  packedFlipped,
  packedHealthy,
  packThreshold,
  stepPackedThreshold,
  streakFlips,
} from './threshold.js';
export type { ThresholdState } from './threshold.js';
export { expectedStatusProblem, nextCheckDelay, parseExpectedStatuses, StatusMatcher } from './health-schedule.js';
export {
  classifyUpstreamResult,
  isGatewayErrorStatus,
  RESULT_GATEWAY_FAILURE,
  RESULT_SERVER_ERROR,
  RESULT_SUCCESS,
} from './upstream-result.js';
export type { ResultClass, UpstreamFailure, UpstreamResult } from './upstream-result.js';
export {
  countEjected,
  createOutlierState,
  decayedTimesEjected,
  ejectEndpoint,
  ejectionAllowed,
  ejectionDurationMs,
  isEjected,
  observeOutlier,
  OUTLIER_EJECTED,
  OUTLIER_NONE,
  OUTLIER_OVERFLOW,
  returnToService,
} from './outlier.js';
export type { OutlierConfig, OutlierState, OutlierVerdict } from './outlier.js';
export { BREAKER_LIMITS, canAcquire, rejectingLimit } from './circuit-breaker.js';
export type { BreakerLimit, LimitName, ResourceCounters, ResourceKind, ResourceLimits } from './circuit-breaker.js';
export {
  advanceWindow,
  BREAKER_ADMIT,
  BREAKER_CLOSED,
  BREAKER_HALF_OPEN,
  BREAKER_OPEN,
  BREAKER_PROBE,
  BREAKER_REJECT,
  breakerAcquire,
  breakerPhaseAt,
  breakerRecord,
  breakerReleaseProbe,
  createBreakerState,
  windowCounts,
} from './failure-rate-breaker.js';
export type {
  BreakerAdmission,
  BreakerPhase,
  BreakerState,
  CountArray,
  FailureRateBreakerConfig,
} from './failure-rate-breaker.js';
export { backoffDelay, parseHttpDate, parseRetryAfter, retryDelay } from './backoff.js';
export type { BackoffPolicy } from './backoff.js';
export {
  compileRetryOn,
  isIdempotentMethod,
  retryBudgetAllows,
  RetryOn,
  retryOnProblem,
  shouldRetry,
} from './retry-policy.js';
export type { AttemptFacts, RetryCondition } from './retry-policy.js';
export { effectiveWeight, slowStartActive, slowStartFactor, warmPoolFactor } from './slow-start.js';
