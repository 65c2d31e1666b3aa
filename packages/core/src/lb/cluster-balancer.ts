import { createPicker } from './create-picker.js';
import { buildHostSet, sameHostSet, type LbEndpoint, type HostSet } from './host-set.js';
import type { LbHost, LbPolicyConfig, PickContext, Picker } from './types.js';
import { ZoneAwarePicker } from './zone-aware.js';

/** A cluster's `lb` block: the policy's options plus what the host set and zones need. */
export interface ClusterLbConfig extends LbPolicyConfig {
  /** Percent of healthy endpoints below which all non-draining ones are used (default 50). */
  readonly panic_threshold?: number;
  /** The proxy's own zone: turns zone-aware routing on. */
  readonly local_zone?: string;
  /** Hosts needed before zone routing applies (default 1). */
  readonly min_cluster_size?: number;
}

/** Builds made by every balancer of this thread: each build's epoch. */
let builds = 0;

/**
 * One cluster's balancer in one worker: the host set in front of the policy's picker. The worker
 * calls update() whenever it sees endpoint state change (an unchanged set costs a comparison, no
 * rebuild) and pick() per request and attempt.
 */
export class ClusterBalancer {
  private readonly panicThreshold: number | undefined;
  private readonly picker: Picker;
  private readonly zoneAware: ZoneAwarePicker | null;
  private current: HostSet = { hosts: [], panic: false, healthyCount: 0, totalCount: 0, zoneCapacity: new Map() };
  /** Which build the picker holds: unique over every balancer of the thread, never 0. */
  private epoch = 0;

  constructor(lb: ClusterLbConfig) {
    this.panicThreshold = lb.panic_threshold;
    if (lb.local_zone !== undefined) {
      this.zoneAware = new ZoneAwarePicker({
        localZone: lb.local_zone,
        createPicker: () => createPicker(lb),
        minClusterSize: lb.min_cluster_size,
      });
      this.picker = this.zoneAware;
    } else {
      this.zoneAware = null;
      this.picker = createPicker(lb);
    }
    this.rebuild();
  }

  /** The host set the picker is built over. */
  get hostSet(): HostSet {
    return this.current;
  }

  get hosts(): readonly LbHost[] {
    return this.current.hosts;
  }

  /** Recomputes eligibility and weights; returns whether the picker was rebuilt. */
  update(endpoints: readonly LbEndpoint[]): boolean {
    const next = buildHostSet(endpoints, { panicThreshold: this.panicThreshold });
    if (sameHostSet(this.current, next)) return false;
    this.current = next;
    this.rebuild();
    return true;
  }

  /**
   * The SharedState slot of the endpoint to use, or -1 when no endpoint may be chosen.
   *
   * A picker's walk scratch (ctx.walk*) holds indexes into the host set it was written against. When
   * the set was rebuilt between two attempts of one request (an ejection, a health change, an admin
   * edit: any move of the membership generation), a later attempt does not walk on from those
   * indexes: it starts a fresh walk over the new set, as a first pick that steps past the slot the
   * previous attempt used when another host is there. Over the picker itself, attempt 0 costs three
   * number writes into ctx and a bounds check; nothing is allocated.
   */
  pick(ctx: PickContext, attempt: number): number {
    const hosts = this.current.hosts;
    let i: number;
    if (attempt === 0) {
      ctx.walkEpoch = this.epoch;
      ctx.walkStart = 0;
      i = this.picker.pick(ctx, 0);
    } else if (ctx.walkEpoch === this.epoch && attempt > ctx.walkStart) {
      i = this.picker.pick(ctx, attempt - ctx.walkStart);
    } else {
      // Rebuilt since the walk began (or the scratch belongs to no walk of this balancer): restart.
      ctx.walkEpoch = this.epoch;
      ctx.walkStart = attempt;
      i = this.picker.pick(ctx, 0);
      if (i >= 0 && i < hosts.length && hosts[i].slot === ctx.walkLast && hosts.length > 1) {
        ctx.walkStart = attempt - 1;
        i = this.picker.pick(ctx, 1);
      }
    }
    // A picker never answers outside the set it was built over; should one ever do, no endpoint.
    const slot = i >= 0 && i < hosts.length ? hosts[i].slot : -1;
    ctx.walkLast = slot;
    return slot;
  }

  private rebuild(): void {
    this.epoch = ++builds;
    const set = this.current;
    if (this.zoneAware !== null) this.zoneAware.update(set.hosts, set.zoneCapacity, set.panic);
    else this.picker.build(set.hosts);
  }
}
