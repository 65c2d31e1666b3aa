/**
 * The failure-rate breaker of one endpoint: closed, open and half-open.
 *
 * Closed: every result lands in a rolling window of `buckets` time buckets spanning `window`. When
 * the window holds at least `minimumRequests` results and failures reach `failureRateThreshold`
 * percent of them, the breaker opens. Open: everything is refused for `sleepWindow`. Then the next
 * acquisition turns it half-open: `halfOpenRequests` probes are let through; as many successes
 * close it (with an empty window), and any probe failure opens it again for another sleep window.
 *
 * State is integers plus one time (see {@link BreakerState}); the buckets are two fixed-length
 * arrays, so an Int32Array view of shared memory can hold them. The window advances lazily from
 * `now`: no timer. In shared memory each call is a read-modify-write of the fields, so callers
 * serialise updates per endpoint; use a monotonic clock (ms since process start), since a bucket's
 * slot number is `floor(now / bucket width)`.
 */

export interface FailureRateBreakerConfig {
  windowMs: number;
  buckets: number;
  /** Percent of failures (1-100) at which the breaker opens. */
  failureRateThreshold: number;
  /** Results the window must hold before the rate is judged at all. */
  minimumRequests: number;
  sleepWindowMs: number;
  /** Probes let through while half-open; this many successes close the breaker. */
  halfOpenRequests: number;
}

export const BREAKER_CLOSED = 0;
export const BREAKER_OPEN = 1;
export const BREAKER_HALF_OPEN = 2;
export type BreakerPhase = typeof BREAKER_CLOSED | typeof BREAKER_OPEN | typeof BREAKER_HALF_OPEN;

/** Refused: answer 503 with `x-pillion-overloaded: true`. */
export const BREAKER_REJECT = 0;
/** Let through as an ordinary request. */
export const BREAKER_ADMIT = 1;
/** Let through as a half-open probe: report its result with `probe = true`. */
export const BREAKER_PROBE = 2;
export type BreakerAdmission = typeof BREAKER_REJECT | typeof BREAKER_ADMIT | typeof BREAKER_PROBE;

/** Fixed-length integer storage: a number[] or an Int32Array. */
export interface CountArray {
  [index: number]: number;
  readonly length: number;
}

export interface BreakerState {
  phase: BreakerPhase;
  /** When the breaker last opened (ms). */
  openedAt: number;
  probesInFlight: number;
  probeSuccesses: number;
  /** Slot number (`floor(now / bucket width)`) of the newest bucket. */
  slot: number;
  /** Per-bucket counts; bucket `slot % buckets` is the current one. */
  successes: CountArray;
  failures: CountArray;
}

export function createBreakerState(buckets: number): BreakerState {
  return {
    phase: BREAKER_CLOSED,
    openedAt: 0,
    probesInFlight: 0,
    probeSuccesses: 0,
    slot: 0,
    successes: new Array<number>(buckets).fill(0),
    failures: new Array<number>(buckets).fill(0),
  };
}

/** Moves the window to `now`, zeroing the buckets that fell out of it. */
export function advanceWindow(b: BreakerState, now: number, cfg: FailureRateBreakerConfig): void {
  const n = b.successes.length;
  const slot = Math.floor((now * n) / cfg.windowMs);
  // A slot behind the newest one (a clock read earlier on another thread) writes to the newest.
  if (slot <= b.slot) return;
  const steps = slot - b.slot;
  if (steps >= n) {
    clearCounts(b);
  } else {
    for (let s = b.slot + 1; s <= slot; s++) {
      const i = s % n;
      b.successes[i] = 0;
      b.failures[i] = 0;
    }
  }
  b.slot = slot;
}

function clearCounts(b: BreakerState): void {
  for (let i = 0; i < b.successes.length; i++) {
    b.successes[i] = 0;
    b.failures[i] = 0;
  }
}

function sum(counts: CountArray): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  return total;
}

/** Failures and total results in the window at `now` (advances it). */
export function windowCounts(b: BreakerState, now: number, cfg: FailureRateBreakerConfig): [failures: number, total: number] {
  advanceWindow(b, now, cfg);
  const failures = sum(b.failures);
  return [failures, failures + sum(b.successes)];
}

function open(b: BreakerState, now: number): void {
  b.phase = BREAKER_OPEN;
  b.openedAt = now;
  b.probesInFlight = 0;
  b.probeSuccesses = 0;
  clearCounts(b);
}

function probeLimit(cfg: FailureRateBreakerConfig): number {
  return cfg.halfOpenRequests > 1 ? cfg.halfOpenRequests : 1;
}

/** Asks to send one request; an open breaker whose sleep window is over turns half-open here. */
export function breakerAcquire(b: BreakerState, now: number, cfg: FailureRateBreakerConfig): BreakerAdmission {
  if (b.phase === BREAKER_CLOSED) return BREAKER_ADMIT;
  if (b.phase === BREAKER_OPEN) {
    if (now - b.openedAt < cfg.sleepWindowMs) return BREAKER_REJECT;
    b.phase = BREAKER_HALF_OPEN;
    b.probesInFlight = 0;
    b.probeSuccesses = 0;
  }
  if (b.probesInFlight + b.probeSuccesses >= probeLimit(cfg)) return BREAKER_REJECT;
  b.probesInFlight++;
  return BREAKER_PROBE;
}

/**
 * Records the result of a request admitted by {@link breakerAcquire}; `probe` says whether it was
 * admitted as one. Returns the phase afterwards. Results of ordinary requests that finish while the
 * breaker is open or half-open are dropped: they were sent before it opened and say nothing about
 * the endpoint's recovery.
 */
export function breakerRecord(
  b: BreakerState,
  success: boolean,
  probe: boolean,
  now: number,
  cfg: FailureRateBreakerConfig,
): BreakerPhase {
  if (b.phase === BREAKER_CLOSED) {
    advanceWindow(b, now, cfg);
    const i = b.slot % b.successes.length;
    if (success) b.successes[i] += 1;
    else b.failures[i] += 1;
    const failures = sum(b.failures);
    const total = failures + sum(b.successes);
    if (total >= cfg.minimumRequests && total > 0 && failures * 100 >= cfg.failureRateThreshold * total) open(b, now);
    return b.phase;
  }
  if (b.phase === BREAKER_HALF_OPEN && probe) {
    if (b.probesInFlight > 0) b.probesInFlight--;
    if (!success) {
      open(b, now);
    } else if (++b.probeSuccesses >= probeLimit(cfg)) {
      b.phase = BREAKER_CLOSED;
      b.probeSuccesses = 0;
      clearCounts(b);
      advanceWindow(b, now, cfg);
    }
  }
  return b.phase;
}

/** Gives back a probe that ended without a verdict (the client went away), so another may go. */
export function breakerReleaseProbe(b: BreakerState): void {
  if (b.phase === BREAKER_HALF_OPEN && b.probesInFlight > 0) b.probesInFlight--;
}

/** The phase as `/clusters` should show it at `now`: open past its sleep window reads half-open. */
export function breakerPhaseAt(b: BreakerState, now: number, cfg: FailureRateBreakerConfig): BreakerPhase {
  if (b.phase === BREAKER_OPEN && now - b.openedAt >= cfg.sleepWindowMs) return BREAKER_HALF_OPEN;
  return b.phase;
}
