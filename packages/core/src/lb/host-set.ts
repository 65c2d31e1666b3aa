import type { LbHost } from './types.js';

/**
 * The one layer between endpoint state and every policy: which endpoints may be chosen and at
 * what weight. Health checks, outlier ejection, draining, slow start and warm-up only ever change
 * the inputs here; pickers never look at them.
 *
 * Weights are integers in units of 1/WEIGHT_UNIT of a configured weight: an endpoint of weight 1
 * at full strength has 1000 units, one at 10% of its slow-start ramp 100, and none has fewer than
 * MIN_EFFECTIVE_WEIGHT (1 unit), so a ramping endpoint always gets some traffic and integers fit
 * SharedState's Int32 slots and round robin's exact schedules.
 */

export const WEIGHT_UNIT = 1000;
export const MIN_EFFECTIVE_WEIGHT = 1;
/** Percent of healthy endpoints below which the cluster balances over all of them (Envoy's 50%). */
export const DEFAULT_PANIC_THRESHOLD = 50;

/** One endpoint of a cluster as the balancer sees it, read from SharedState or the config. */
export interface LbEndpoint {
  readonly slot: number;
  /** "address:port". */
  readonly key: string;
  readonly zone: string;
  /** Configured weight, > 0. */
  readonly weight: number;
  /** Passing active health checks (true when the cluster has none). */
  readonly healthy: boolean;
  /** Ejected by outlier detection. */
  readonly ejected: boolean;
  /** Removed or draining: finishes what it has, takes nothing new, not even in panic. */
  readonly draining: boolean;
  /**
   * Priority level, 0 (default) the highest. Only the highest level with a healthy endpoint is
   * balanced over (panic included); lower levels wait until no endpoint above them is healthy.
   */
  readonly priority?: number;
  /** Slow start x pool warm-up, 0..1 (default 1): scales the configured weight. */
  readonly weightFactor?: number;
  /**
   * Effective weight already in weight units (SharedState's effective_weight_milli); when given
   * it is used instead of weight x weightFactor (still at least MIN_EFFECTIVE_WEIGHT).
   */
  readonly effectiveWeight?: number;
}

export interface HostSetOptions {
  /** Percent, 0..100 (default 50); 0 turns panic mode off. */
  readonly panicThreshold?: number;
}

export interface HostSet {
  /** What the picker is built over: eligible endpoints, or every non-draining one in panic. */
  readonly hosts: LbHost[];
  /** Too few endpoints healthy: `hosts` holds unhealthy ones too. */
  readonly panic: boolean;
  /** Non-draining endpoints that are healthy and not ejected. */
  readonly healthyCount: number;
  /** Non-draining endpoints. */
  readonly totalCount: number;
  /** Full-strength weight units of the non-draining endpoints of the priority level in use, per zone: what each zone can serve. */
  readonly zoneCapacity: ReadonlyMap<string, number>;
}

/** Configured weight x factor in weight units, rounded, never below MIN_EFFECTIVE_WEIGHT. */
export function scaledWeight(weight: number, factor = 1): number {
  const f = factor >= 1 ? 1 : factor > 0 ? factor : 0;
  return Math.max(MIN_EFFECTIVE_WEIGHT, Math.round(weight * f * WEIGHT_UNIT));
}

export function buildHostSet(endpoints: readonly LbEndpoint[], options: HostSetOptions = {}): HostSet {
  const threshold = options.panicThreshold ?? DEFAULT_PANIC_THRESHOLD;
  if (!(threshold >= 0 && threshold <= 100)) throw new RangeError(`panic threshold must be a percent in [0, 100], got ${threshold}`);
  // The level in use: the highest priority with a healthy endpoint. With none healthy anywhere, every
  // level together (and so panic over all of them, as without priorities).
  let level = Infinity;
  for (const e of endpoints) if (!e.draining && e.healthy && !e.ejected && (e.priority ?? 0) < level) level = e.priority ?? 0;
  const inLevel = (e: LbEndpoint) => !e.draining && (level === Infinity || (e.priority ?? 0) === level);
  let total = 0;
  let healthy = 0;
  let levelTotal = 0;
  let levelHealthy = 0;
  const zoneCapacity = new Map<string, number>();
  for (const e of endpoints) {
    if (e.draining) continue;
    total++;
    if (e.healthy && !e.ejected) healthy++;
    if (!inLevel(e)) continue;
    levelTotal++;
    if (e.healthy && !e.ejected) levelHealthy++;
    zoneCapacity.set(e.zone, (zoneCapacity.get(e.zone) ?? 0) + scaledWeight(e.weight));
  }
  const panic = levelTotal > 0 && levelHealthy * 100 < threshold * levelTotal;
  const hosts: LbHost[] = [];
  for (const e of endpoints) {
    if (!inLevel(e)) continue;
    if (!panic && !(e.healthy && !e.ejected)) continue;
    const weight =
      e.effectiveWeight !== undefined
        ? Math.max(MIN_EFFECTIVE_WEIGHT, Math.round(e.effectiveWeight) || 0)
        : scaledWeight(e.weight, e.weightFactor ?? 1);
    hosts.push({ slot: e.slot, weight, zone: e.zone, key: e.key });
  }
  return { hosts, panic, healthyCount: healthy, totalCount: total, zoneCapacity };
}

/** Whether two host sets would build the same pickers (so an unchanged poll costs no rebuild). */
export function sameHostSet(a: HostSet, b: HostSet): boolean {
  if (a.panic !== b.panic || a.hosts.length !== b.hosts.length) return false;
  for (let i = 0; i < a.hosts.length; i++) {
    const x = a.hosts[i];
    const y = b.hosts[i];
    if (x.slot !== y.slot || x.weight !== y.weight || x.zone !== y.zone || x.key !== y.key) return false;
  }
  if (a.zoneCapacity.size !== b.zoneCapacity.size) return false;
  for (const [zone, units] of a.zoneCapacity) if (b.zoneCapacity.get(zone) !== units) return false;
  return true;
}
