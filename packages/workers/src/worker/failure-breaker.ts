/**
 * Each endpoint's failure-rate breaker (closed → open → half-open → closed), kept in SharedState so all
 * workers see one breaker per endpoint: failures seen by any worker count toward opening it, and the
 * half-open probes are limited across the process. The state machine is core's; this module keeps its
 * fields in shared slots and makes each update whole with a short per-endpoint lock, as outlier
 * detection does.
 */
import {
  BREAKER_ADMIT,
  BREAKER_BUCKETS,
  BREAKER_CLOSED,
  BREAKER_HALF_OPEN,
  BREAKER_PROBE,
  BREAKER_REJECT,
  breakerAcquire,
  breakerRecord,
  breakerReleaseProbe,
  type BreakerPhase,
  type BreakerState,
  type ClusterConfig,
  type FailureRateBreakerConfig,
  type SharedState,
} from '@pillion/core';

export { BREAKER_ADMIT, BREAKER_PROBE, BREAKER_REJECT };

type FailureBreakerConfig = NonNullable<ClusterConfig['failure_breaker']>;

export function failureBreakerConfigOf(c: FailureBreakerConfig): FailureRateBreakerConfig {
  return {
    windowMs: c.window,
    buckets: BREAKER_BUCKETS,
    failureRateThreshold: c.failure_rate_threshold,
    minimumRequests: c.minimum_requests,
    sleepWindowMs: c.sleep_window,
    halfOpenRequests: c.half_open_requests,
  };
}

export class SharedFailureBreaker {
  /** One scratch state per worker: loaded from shared memory, stepped, stored back, under the lock. */
  private readonly scratch: BreakerState = {
    phase: BREAKER_CLOSED,
    openedAt: 0,
    probesInFlight: 0,
    probeSuccesses: 0,
    slot: 0,
    successes: new Int32Array(0),
    failures: new Int32Array(0),
  };

  constructor(
    private readonly state: SharedState,
    readonly cfg: FailureRateBreakerConfig,
    private readonly now: () => number = Date.now,
  ) {}

  /** May a request go to this endpoint now? ADMIT, PROBE (half-open trial) or REJECT. */
  acquire(slot: number): number {
    // Closed is the common case and needs no lock: a closed breaker admits everything.
    if (this.state.endpoint(slot, 'frb_phase') === BREAKER_CLOSED) return BREAKER_ADMIT;
    const b = this.load(slot);
    const verdict = breakerAcquire(b, this.now(), this.cfg);
    this.store(slot, b);
    return verdict;
  }

  /** Counts the result of a request admitted by acquire(); returns the phase afterwards. */
  record(slot: number, success: boolean, probe: boolean): BreakerPhase {
    const b = this.load(slot);
    const phase = breakerRecord(b, success, probe, this.now(), this.cfg);
    this.store(slot, b);
    return phase;
  }

  /** Gives back a probe whose request ended without a verdict (the client went away). */
  releaseProbe(slot: number): void {
    const b = this.load(slot);
    breakerReleaseProbe(b);
    this.store(slot, b);
  }

  private load(slot: number): BreakerState {
    const s = this.state;
    s.lockEndpoint(slot, 'frb_lock');
    const b = this.scratch;
    b.phase = s.endpoint(slot, 'frb_phase') as BreakerPhase;
    b.probesInFlight = s.endpoint(slot, 'frb_probes');
    b.probeSuccesses = s.endpoint(slot, 'frb_probe_ok');
    b.openedAt = s.endpointTime(slot, 'frb_opened_at');
    b.slot = s.endpointTime(slot, 'frb_slot');
    [b.successes, b.failures] = s.breakerBuckets(slot);
    return b;
  }

  private store(slot: number, b: BreakerState): void {
    const s = this.state;
    s.setEndpointTime(slot, 'frb_opened_at', b.openedAt);
    s.setEndpointTime(slot, 'frb_slot', b.slot);
    s.setEndpoint(slot, 'frb_probes', b.probesInFlight);
    s.setEndpoint(slot, 'frb_probe_ok', b.probeSuccesses);
    s.setEndpoint(slot, 'frb_phase', b.phase);
    s.unlockEndpoint(slot, 'frb_lock');
  }
}

/**
 * A worker thread died: the half-open probes it had in flight will never report. Which ones were its
 * is not kept (probes are counted per endpoint, not per thread), so every half-open breaker's probe
 * count starts again from zero; the surviving threads' probes still report and at worst a few more
 * probes than `half_open_requests` are let through, where keeping the dead thread's would have left
 * the breaker half-open, refusing everything, for good. Returns how many probes were dropped.
 */
export function releaseBreakerProbes(state: SharedState, slots: Iterable<number>): number {
  let dropped = 0;
  for (const slot of slots) {
    if (state.endpoint(slot, 'frb_phase') !== BREAKER_HALF_OPEN) continue;
    state.lockEndpoint(slot, 'frb_lock');
    dropped += state.endpoint(slot, 'frb_probes');
    state.setEndpoint(slot, 'frb_probes', 0);
    state.unlockEndpoint(slot, 'frb_lock');
  }
  return dropped;
}

const breakers = new WeakMap<object, SharedFailureBreaker | null>();

/** The cluster runtime's breaker (made on first use), or null when its cluster has none configured. */
export function failureBreakerOf(cluster: { readonly state: SharedState; readonly snapshot: { readonly config: ClusterConfig } }): SharedFailureBreaker | null {
  let b = breakers.get(cluster);
  if (b === undefined) {
    const c = cluster.snapshot.config.failure_breaker;
    b = c ? new SharedFailureBreaker(cluster.state, failureBreakerConfigOf(c)) : null;
    breakers.set(cluster, b);
  }
  return b;
}
