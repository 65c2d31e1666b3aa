/**
 * The one place effective weights change with time: slow start and pool warmth. For every endpoint of a
 * cluster with `slow_start` or `pool.warmup` it computes
 *   weight x min(slow-start factor, warm-pool factor)
 * and writes it to the endpoint's `effective_weight_milli`; when any value moved, it bumps the
 * cluster's membership generation so every worker's balancer rebuilds from the same numbers. Every
 * policy reads weights through that layer, so slow start applies to all of them.
 *
 * Ramps start when an endpoint is added, returns to health, or comes back from an ejection; the
 * endpoints a process starts with ramp only with `slow_start.at_start`, until they fail once: their
 * return after that is a recovery like any other.
 *
 * While an endpoint is out (failing health checks or ejected) its effective weight is already the
 * ramp's floor, so that the moment it comes back (a health flip here, or an ejection running out in
 * a worker, both between two ticks) it starts at the floor rather than at full weight.
 */
import { HEALTH_ACTIVE_FAILED, HEALTH_EJECTED, HEALTH_UNKNOWN, slowStartActive, slowStartFactor, warmPoolFactor, type SharedState } from '@pillion/core';
import type { RuntimeSnapshot } from '../messages.js';

const TICK_MS = 200;
const DEFAULT_MIN_WEIGHT_PERCENT = 10;
/** An initial endpoint first seen failing: every later return of it is a recovery. */
const FAILED_FIRST = -Infinity;

export interface WeightUpdaterOptions {
  state: SharedState;
  snapshot: () => RuntimeSnapshot;
  workers: number;
  now?: () => number;
}

export class WeightUpdater {
  private timer: NodeJS.Timeout | null = null;
  /**
   * The endpoints the process started with, and for each the ramp start its first settled state had
   * (undefined while its first health check is due; FAILED_FIRST when that state was out of service).
   * A later ramp start is a recovery.
   */
  private readonly initialSlots = new Map<number, number | undefined>();
  private readonly now: () => number;

  constructor(private readonly opts: WeightUpdaterOptions) {
    this.now = opts.now ?? Date.now;
    for (const c of opts.snapshot().clusters) for (const e of c.endpoints) this.initialSlots.set(e.slot, undefined);
  }

  start(): void {
    this.update();
    this.timer = setInterval(() => this.update(), TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One pass over every endpoint; returns how many effective weights changed. */
  update(): number {
    const { state, workers } = this.opts;
    const now = this.now();
    let changed = 0;
    for (const c of this.opts.snapshot().clusters) {
      const slow = c.config.slow_start;
      const warm = c.config.pool.warmup;
      if (!slow && !warm) continue;
      const minPct = slow?.min_weight_percent ?? DEFAULT_MIN_WEIGHT_PERCENT;
      let clusterChanged = false;
      for (const e of c.endpoints) {
        let slowF = 1;
        if (slow) {
          const from = this.rampStart(e.slot, now);
          const health = state.endpoint(e.slot, 'health');
          const out = (health & (HEALTH_ACTIVE_FAILED | HEALTH_EJECTED)) !== 0;
          if ((!this.isInitial(e.slot, health, out, from) || slow.at_start) && slow.window > 0) {
            if (out) slowF = slowStartFactor(now, now, slow.window, slow.aggression, minPct);
            else if (slowStartActive(now, from, slow.window)) slowF = slowStartFactor(now, from, slow.window, slow.aggression, minPct);
          }
        }
        const warmF = warm ? warmPoolFactor(state.endpoint(e.slot, 'warm_pools'), workers, minPct) : 1;
        const weight = state.endpoint(e.slot, 'weight');
        const milli = Math.max(1, Math.round(weight * 1000 * Math.min(slowF, warmF)));
        const current = state.endpoint(e.slot, 'effective_weight_milli');
        // Small steps are not worth a rebuild in every worker; the final value always is.
        if (milli !== current && (Math.abs(milli - current) * 100 >= weight * 1000 || milli === weight * 1000)) {
          state.setEndpoint(e.slot, 'effective_weight_milli', milli);
          clusterChanged = true;
          changed++;
        }
      }
      if (clusterChanged) state.addCluster(c.slot, 'membership_generation', 1);
    }
    return changed;
  }

  /**
   * Whether the endpoint is one the process started with and still in its first life: no ramp for it
   * without `at_start` (its first health check passing is no recovery).
   */
  private isInitial(slot: number, health: number, out: boolean, from: number): boolean {
    if (!this.initialSlots.has(slot)) return false;
    let settled = this.initialSlots.get(slot);
    if (settled === undefined) {
      if (health & HEALTH_UNKNOWN) return true;
      settled = out ? FAILED_FIRST : from;
      this.initialSlots.set(slot, settled);
    }
    return !out && from <= settled;
  }

  /** When the endpoint's current ramp began: added, healthy again, or back from an ejection. */
  private rampStart(slot: number, now: number): number {
    const s = this.opts.state;
    let from = Math.max(s.endpointTime(slot, 'added_at'), s.endpointTime(slot, 'healthy_since'));
    const ejectedUntil = s.endpointTime(slot, 'ejected_until');
    if (ejectedUntil > from && ejectedUntil <= now) from = ejectedUntil;
    return from;
  }
}
