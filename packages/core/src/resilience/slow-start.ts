/**
 * Ramps traffic to endpoints that are new, back from an ejection or health failure, or whose
 * connection pool is still warming, so none is flooded before it is ready. These factors feed the
 * shared effective-weight layer every LB policy reads; the formula is Envoy's slow start:
 * `weight x max(min_weight_percent, (t / window)^(1 / aggression))`.
 */

function floorOf(minWeightPercent: number): number {
  if (minWeightPercent <= 0) return 0;
  return minWeightPercent >= 100 ? 1 : minWeightPercent / 100;
}

/**
 * Weight multiplier `t` ms after `addedAtMs`: `max(minWeightPercent / 100, (t / window)^(1 /
 * aggression))` within the window and 1 from its end on. Aggression 1 ramps linearly; above 1 the
 * endpoint gets traffic sooner, below 1 later. A window of 0 turns slow start off; an aggression
 * that is not positive counts as 1.
 */
export function slowStartFactor(
  nowMs: number,
  addedAtMs: number,
  windowMs: number,
  aggression: number,
  minWeightPercent: number,
): number {
  if (windowMs <= 0) return 1;
  const t = nowMs - addedAtMs;
  if (t >= windowMs) return 1;
  const floor = floorOf(minWeightPercent);
  if (t <= 0) return floor;
  const share = t / windowMs;
  const f = aggression > 0 && aggression !== 1 ? Math.pow(share, 1 / aggression) : share;
  return f > floor ? f : floor;
}

/** Whether the endpoint is still ramping (so its weight must be recomputed as time passes). */
export function slowStartActive(nowMs: number, addedAtMs: number, windowMs: number): boolean {
  return windowMs > 0 && nowMs - addedAtMs < windowMs;
}

/**
 * Share for an endpoint whose pool is still warming: warm connections over the connections wanted
 * (`pool.warmup.connections`, summed over the workers when the counts are), bounded below by the
 * same minimum as slow start. 1 once warm, or when no warm-up is configured.
 */
export function warmPoolFactor(warmConnections: number, wantedConnections: number, minWeightPercent: number): number {
  if (wantedConnections <= 0 || warmConnections >= wantedConnections) return 1;
  const floor = floorOf(minWeightPercent);
  const f = warmConnections > 0 ? warmConnections / wantedConnections : 0;
  return f > floor ? f : floor;
}

/**
 * Effective weight from the configured weight and both factors. The smaller factor wins rather than
 * the product: both say how much of its share the endpoint can take yet, and multiplying them would
 * starve an endpoint that is new and cold at once below the minimum both promise.
 */
export function effectiveWeight(weight: number, slowFactor: number, warmFactor: number): number {
  return weight * (slowFactor < warmFactor ? slowFactor : warmFactor);
}
