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

  /** The SharedState slot of the endpoint to use, or -1 when no endpoint may be chosen. */
  pick(ctx: PickContext, attempt: number): number {
    const i = this.picker.pick(ctx, attempt);
    return i < 0 ? -1 : this.current.hosts[i].slot;
  }

  private rebuild(): void {
    const set = this.current;
    if (this.zoneAware !== null) this.zoneAware.update(set.hosts, set.zoneCapacity, set.panic);
    else this.picker.build(set.hosts);
  }
}
