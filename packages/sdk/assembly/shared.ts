import { bucket_take, now_ms, random as host_random } from "./host";

/**
 * A token bucket the host keeps in memory shared by every worker thread, so a limit holds for
 * the whole proxy and not per thread. `id` picks one of the filter's buckets (0 .. 15).
 */
export class TokenBucket {
  constructor(
    readonly id: i32,
    readonly ratePerSec: f64,
    readonly burst: f64,
  ) {}

  /** Takes `tokens`; returns 0 when they were available, else how many ms until they will be. */
  take(tokens: i32 = 1): i32 {
    return bucket_take(this.id, tokens, this.ratePerSec, this.burst);
  }
}

/** Wall-clock milliseconds from the host. */
export function nowMs(): f64 {
  return now_ms();
}

/** A number in [0, 1) from the host's random source. */
export function random(): f64 {
  return host_random();
}
