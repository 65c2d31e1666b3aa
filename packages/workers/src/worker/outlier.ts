/**
 * Passive outlier detection over SharedState: every worker feeds the results of its attempts into the
 * same per-endpoint counters, so "5 failures in a row" means five in a row for the process, whichever
 * threads saw them (Envoy counts per worker). The arithmetic is core's (`observeOutlier`); this module
 * only keeps its four fields in shared slots and makes each update whole.
 *
 * The four fields of one endpoint change together, so a short per-endpoint lock (the `outlier_lock`
 * slot, taken with SharedState.lockEndpoint) serialises updates. The common case takes no lock: a success while both
 * counters are already zero changes nothing. `max_ejection_percent` is enforced across threads by
 * reserving a place in the cluster's `ejected_count` with one atomic add and giving it back when the
 * cluster is already at its limit.
 *
 * Ejection sets HEALTH_EJECTED and bumps the cluster's membership generation, so every worker
 * rebuilds its balancer before its next pick. An ejection ends when `ejected_until` has passed and
 * someone calls {@link returnIfDue}: a worker's next pick, or the supervisor's periodic sweep.
 */
import {
  HEALTH_EJECTED,
  OUTLIER_EJECTED,
  OUTLIER_NONE,
  OUTLIER_OVERFLOW,
  RESULT_SUCCESS,
  classifyUpstreamResult,
  ejectionAllowed,
  observeOutlier,
  type ClusterConfig,
  type OutlierConfig,
  type OutlierState,
  type OutlierVerdict,
  type SharedState,
  type UpstreamResult,
} from '@pillion/core';

type OutlierDetectionConfig = NonNullable<ClusterConfig['outlier_detection']>;

/** Whether the block ejects at all: both consecutive rules at 0 turn outlier detection off. */
export function outlierDetectionOn(c: OutlierDetectionConfig): boolean {
  return c.consecutive_5xx > 0 || c.consecutive_gateway_failure > 0;
}

/** The core's outlier parameters from a cluster's `outlier_detection` block. */
export function outlierConfigOf(c: OutlierDetectionConfig): OutlierConfig {
  return {
    consecutive5xx: c.consecutive_5xx,
    consecutiveGatewayFailure: c.consecutive_gateway_failure,
    baseEjectionTimeMs: c.base_ejection_time,
    maxEjectionTimeMs: c.max_ejection_time,
    maxEjectionPercent: c.max_ejection_percent,
    intervalMs: c.interval,
  };
}

function bumpGeneration(state: SharedState, cluster: number): void {
  state.addCluster(cluster, 'membership_generation', 1);
}

// One thread runs one update at a time: a module-level scratch keeps the path allocation-free.
const scratch: OutlierState = { consecutive5xx: 0, consecutiveGatewayFailure: 0, timesEjected: 0, ejectedUntil: 0 };

/** One cluster's outlier detection, as one worker (or a test) sees it. */
export class SharedOutlier {
  constructor(
    private readonly state: SharedState,
    private readonly clusterSlot: number,
    private readonly config: OutlierConfig,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Records how one attempt on the endpoint in `slot` ended. `endpointCount` is the cluster's
   * endpoints that are not draining (the base of max_ejection_percent).
   */
  record(slot: number, result: UpstreamResult, endpointCount: number): OutlierVerdict {
    const state = this.state;
    const cls = classifyUpstreamResult(result);
    if (cls === RESULT_SUCCESS && state.endpoint(slot, 'consecutive_5xx') === 0 && state.endpoint(slot, 'consecutive_gateway_failure') === 0) {
      return OUTLIER_NONE;
    }
    const now = this.now();
    let verdict: OutlierVerdict;
    state.lockEndpoint(slot, 'outlier_lock');
    try {
      const s = scratch;
      s.consecutive5xx = state.endpoint(slot, 'consecutive_5xx');
      s.consecutiveGatewayFailure = state.endpoint(slot, 'consecutive_gateway_failure');
      s.timesEjected = state.endpoint(slot, 'times_ejected');
      s.ejectedUntil = state.endpointTime(slot, 'ejected_until');
      const timesBefore = s.timesEjected;
      const untilBefore = s.ejectedUntil;
      // The percent rule is applied below against the shared count, so the core's check always passes here.
      verdict = observeOutlier(s, cls, now, this.config, 0, endpointCount);
      if (verdict === OUTLIER_EJECTED) {
        const before = state.addCluster(this.clusterSlot, 'ejected_count', 1);
        if (!ejectionAllowed(before, endpointCount, this.config.maxEjectionPercent)) {
          state.addCluster(this.clusterSlot, 'ejected_count', -1);
          s.timesEjected = timesBefore;
          s.ejectedUntil = untilBefore;
          verdict = OUTLIER_OVERFLOW;
        }
      }
      state.setEndpoint(slot, 'consecutive_5xx', s.consecutive5xx);
      state.setEndpoint(slot, 'consecutive_gateway_failure', s.consecutiveGatewayFailure);
      state.setEndpoint(slot, 'times_ejected', s.timesEjected);
      // The deadline is written before the flag: whoever sees the flag sees the deadline that goes with it.
      state.setEndpointTime(slot, 'ejected_until', s.ejectedUntil);
      if (verdict === OUTLIER_EJECTED) state.orEndpoint(slot, 'health', HEALTH_EJECTED);
    } finally {
      state.unlockEndpoint(slot, 'outlier_lock');
    }
    if (verdict === OUTLIER_EJECTED) bumpGeneration(state, this.clusterSlot);
    return verdict;
  }
}

/**
 * Ends the endpoint's ejection when its time has passed. Returns whether it did (and then the
 * cluster's membership generation has moved). Safe to call from any thread, any number of times.
 */
export function returnIfDue(state: SharedState, clusterSlot: number, slot: number, now: number): boolean {
  if ((state.endpoint(slot, 'health') & HEALTH_EJECTED) === 0) return false;
  if (now < state.endpointTime(slot, 'ejected_until')) return false;
  let returned = false;
  state.lockEndpoint(slot, 'outlier_lock');
  try {
    if ((state.endpoint(slot, 'health') & HEALTH_EJECTED) !== 0 && now >= state.endpointTime(slot, 'ejected_until')) {
      state.andEndpoint(slot, 'health', ~HEALTH_EJECTED);
      state.addCluster(clusterSlot, 'ejected_count', -1);
      returned = true;
    }
  } finally {
    state.unlockEndpoint(slot, 'outlier_lock');
  }
  if (returned) bumpGeneration(state, clusterSlot);
  return returned;
}

/**
 * Takes an endpoint out of the cluster's ejected count before its slot is freed (it is leaving while
 * ejected). Returns whether it was ejected.
 */
export function forgetEjection(state: SharedState, clusterSlot: number, slot: number): boolean {
  let was = false;
  state.lockEndpoint(slot, 'outlier_lock');
  try {
    if ((state.endpoint(slot, 'health') & HEALTH_EJECTED) !== 0) {
      state.andEndpoint(slot, 'health', ~HEALTH_EJECTED);
      state.addCluster(clusterSlot, 'ejected_count', -1);
      was = true;
    }
  } finally {
    state.unlockEndpoint(slot, 'outlier_lock');
  }
  return was;
}
