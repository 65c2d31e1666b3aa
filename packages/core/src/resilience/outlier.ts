/**
 * Passive outlier detection for one endpoint (Envoy's consecutive_5xx and consecutive_gateway_failure
 * detectors). Real responses feed two streak counters through the shared threshold rule; when one
 * reaches its threshold the endpoint is ejected for `base_ejection_time x times ejected`, capped by
 * `max_ejection_time`, and comes back by itself once that time has passed.
 *
 * State per endpoint is four numbers (see {@link OutlierState}); ejection is a deadline, so returning
 * needs no timer: an endpoint is ejected while `now < ejectedUntil`. The ejection multiplier decays
 * lazily: every whole `interval` the endpoint has spent back in service takes one off it, applied
 * the next time it is ejected (Envoy decrements it once per sweep interval while the host is
 * healthy; computing it from the return time gives the same count without a sweep).
 *
 * In shared memory every call is a read-modify-write of the four fields: callers serialise updates
 * per endpoint.
 */
import { nextStreak, streakFlips } from './threshold.js';
import { RESULT_GATEWAY_FAILURE, RESULT_SUCCESS } from './upstream-result.js';
import type { ResultClass } from './upstream-result.js';

export interface OutlierConfig {
  /** Consecutive 5xx (gateway failures included) before ejection; 0 turns the rule off. */
  consecutive5xx: number;
  /** Consecutive 502/503/504, connect failures, resets and timeouts before ejection; 0 turns it off. */
  consecutiveGatewayFailure: number;
  baseEjectionTimeMs: number;
  /** The ejection time stops growing here (a value below the base counts as the base). */
  maxEjectionTimeMs: number;
  /** Percent of the cluster's endpoints that may be ejected at once; one may always be. */
  maxEjectionPercent: number;
  /** One whole interval back in service takes one off the ejection multiplier; 0 never decays it. */
  intervalMs: number;
}

/** The per-endpoint fields: integers, and one time in ms (`ejectedUntil`, 0 when never ejected). */
export interface OutlierState {
  consecutive5xx: number;
  consecutiveGatewayFailure: number;
  /** The ejection multiplier: grows by one per ejection (up to the cap), decays while healthy. */
  timesEjected: number;
  ejectedUntil: number;
}

export function createOutlierState(): OutlierState {
  return { consecutive5xx: 0, consecutiveGatewayFailure: 0, timesEjected: 0, ejectedUntil: 0 };
}

/** Nothing to do. */
export const OUTLIER_NONE = 0;
/** The endpoint has just been ejected (count `pillion_outlier_ejections_total`). */
export const OUTLIER_EJECTED = 1;
/** A threshold was reached but `max_ejection_percent` kept the endpoint in (Envoy's overflow). */
export const OUTLIER_OVERFLOW = 2;
export type OutlierVerdict = typeof OUTLIER_NONE | typeof OUTLIER_EJECTED | typeof OUTLIER_OVERFLOW;

export function isEjected(state: OutlierState, now: number): boolean {
  return now < state.ejectedUntil;
}

/**
 * Envoy's rule: eject when, counting this endpoint, no more than `maxEjectionPercent` of the cluster
 * would be out, and always allow the first ejection so small clusters can still lose a bad endpoint.
 * `currentlyEjected` excludes the endpoint being considered. Integer arithmetic, so 10% of 10 is 1.
 */
export function ejectionAllowed(currentlyEjected: number, endpointCount: number, maxEjectionPercent: number): boolean {
  if (currentlyEjected <= 0) return true;
  return (currentlyEjected + 1) * 100 <= maxEjectionPercent * endpointCount;
}

/** The multiplier after the decay earned by time back in service since `ejectedUntil`. */
export function decayedTimesEjected(state: OutlierState, now: number, intervalMs: number): number {
  const times = state.timesEjected;
  if (times === 0 || intervalMs <= 0 || now < state.ejectedUntil) return times;
  const healthyIntervals = Math.floor((now - state.ejectedUntil) / intervalMs);
  return healthyIntervals >= times ? 0 : times - healthyIntervals;
}

function ejectionCeilingMs(cfg: OutlierConfig): number {
  return cfg.maxEjectionTimeMs > cfg.baseEjectionTimeMs ? cfg.maxEjectionTimeMs : cfg.baseEjectionTimeMs;
}

/** How long an ejection with this multiplier lasts. */
export function ejectionDurationMs(timesEjected: number, cfg: OutlierConfig): number {
  const ceiling = ejectionCeilingMs(cfg);
  const d = cfg.baseEjectionTimeMs * timesEjected;
  return d < ceiling ? d : ceiling;
}

/**
 * Ejects now, whatever the counters say: decays the multiplier, raises it by one unless the
 * ejection time has already reached its ceiling (so it stays bounded), sets the deadline and clears
 * the counters. Returns the deadline.
 */
export function ejectEndpoint(state: OutlierState, now: number, cfg: OutlierConfig): number {
  let times = decayedTimesEjected(state, now, cfg.intervalMs);
  if (cfg.baseEjectionTimeMs * times < ejectionCeilingMs(cfg)) times++;
  state.timesEjected = times;
  state.ejectedUntil = now + ejectionDurationMs(times, cfg);
  state.consecutive5xx = 0;
  state.consecutiveGatewayFailure = 0;
  return state.ejectedUntil;
}

/** Ends an ejection early (an active health check passed); decay counts from now. */
export function returnToService(state: OutlierState, now: number): void {
  if (now < state.ejectedUntil) state.ejectedUntil = now;
}

/**
 * Feeds one result into the endpoint's counters and ejects it when a threshold is reached.
 * Results that arrive while the endpoint is ejected are ignored, and the counters restart after an
 * ejection or an overflow, so a refused ejection is tried again only after another full streak.
 * `currentlyEjected` (other endpoints of the cluster ejected at `now`) and `endpointCount` feed
 * {@link ejectionAllowed}.
 */
export function observeOutlier(
  state: OutlierState,
  result: ResultClass,
  now: number,
  cfg: OutlierConfig,
  currentlyEjected: number,
  endpointCount: number,
): OutlierVerdict {
  if (now < state.ejectedUntil) return OUTLIER_NONE;
  // Two streaks of the shared rule: any 5xx extends the first, a gateway failure both, and a
  // non-gateway 5xx breaks the gateway streak (as Envoy counts them).
  const c5xx = nextStreak(state.consecutive5xx, result === RESULT_SUCCESS);
  const cGateway = nextStreak(state.consecutiveGatewayFailure, result !== RESULT_GATEWAY_FAILURE);
  const tripped =
    (cfg.consecutive5xx > 0 && streakFlips(c5xx, cfg.consecutive5xx)) ||
    (cfg.consecutiveGatewayFailure > 0 && streakFlips(cGateway, cfg.consecutiveGatewayFailure));
  if (!tripped) {
    state.consecutive5xx = c5xx;
    state.consecutiveGatewayFailure = cGateway;
    return OUTLIER_NONE;
  }
  if (ejectionAllowed(currentlyEjected, endpointCount, cfg.maxEjectionPercent)) {
    ejectEndpoint(state, now, cfg);
    return OUTLIER_EJECTED;
  }
  state.consecutive5xx = 0;
  state.consecutiveGatewayFailure = 0;
  return OUTLIER_OVERFLOW;
}

/** How many of `ejectedUntil` deadlines are still in the future: the cluster's ejected count. */
export function countEjected(ejectedUntil: ArrayLike<number>, now: number): number {
  let n = 0;
  for (let i = 0; i < ejectedUntil.length; i++) if (now < ejectedUntil[i]!) n++;
  return n;
}
