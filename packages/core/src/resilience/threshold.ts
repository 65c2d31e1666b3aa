/**
 * The one "N in a row before flipping" rule, shared by active health checks and passive outlier
 * detection (pingora's `Health::observe_health`).
 *
 * An observation that agrees with the current state clears the streak; one that disagrees extends
 * it, and when the streak reaches the threshold for the other side the state flips and the streak
 * starts again from zero. A single disagreeing result therefore never flips a state whose threshold
 * is above one, and an agreeing result in between starts the count over.
 *
 * State is two numbers (a flag and a counter). Besides the object form there is a packed form, one
 * non-negative integer `consecutive * 2 + (healthy ? 1 : 0)`, so a caller can keep it in a single
 * Int32 slot and update it with one compare-and-exchange.
 */

/** Streak length after one observation: zero when it agrees with the current state. */
export function nextStreak(consecutive: number, agrees: boolean): number {
  return agrees ? 0 : consecutive + 1;
}

/** Whether a streak is long enough to flip; a threshold below one counts as one. */
export function streakFlips(consecutive: number, threshold: number): boolean {
  return consecutive >= (threshold > 1 ? threshold : 1);
}

/** Health flag and the length of the current run of results that disagree with it. */
export interface ThresholdState {
  healthy: boolean;
  consecutive: number;
}

/**
 * Records one observation in `state` (updated in place) and returns whether the flag flipped.
 * `healthyThreshold` successes in a row make an unhealthy endpoint healthy; `unhealthyThreshold`
 * failures in a row make a healthy one unhealthy.
 */
export function observeThreshold(
  state: ThresholdState,
  success: boolean,
  healthyThreshold: number,
  unhealthyThreshold: number,
): boolean {
  const streak = nextStreak(state.consecutive, success === state.healthy);
  if (streak > 0 && streakFlips(streak, success ? healthyThreshold : unhealthyThreshold)) {
    state.healthy = success;
    state.consecutive = 0;
    return true;
  }
  state.consecutive = streak;
  return false;
}

/** Packs a threshold state into one integer for a shared slot. */
export function packThreshold(healthy: boolean, consecutive: number): number {
  return consecutive * 2 + (healthy ? 1 : 0);
}

export function packedHealthy(word: number): boolean {
  return (word & 1) === 1;
}

export function packedConsecutive(word: number): number {
  return word >>> 1;
}

/** The packed form of {@link observeThreshold}: returns the new word. */
export function stepPackedThreshold(
  word: number,
  success: boolean,
  healthyThreshold: number,
  unhealthyThreshold: number,
): number {
  const healthy = (word & 1) === 1;
  const streak = nextStreak(word >>> 1, success === healthy);
  if (streak > 0 && streakFlips(streak, success ? healthyThreshold : unhealthyThreshold)) {
    return success ? 1 : 0;
  }
  return streak * 2 + (healthy ? 1 : 0);
}

/** Whether going from `before` to `after` (packed words) changed the health flag. */
export function packedFlipped(before: number, after: number): boolean {
  return ((before ^ after) & 1) === 1;
}
