import type { LbHost, PickContext, Picker } from './types.js';

export interface ZoneAwareOptions {
  /** The zone this proxy runs in. */
  readonly localZone: string;
  /** Makes the inner picker of one zone group (the cluster's policy). */
  readonly createPicker: () => Picker;
  /**
   * Fewer eligible hosts than this turn zone routing off (Envoy's min_cluster_size, whose
   * default is 6; here 1, so setting local_zone is enough).
   */
  readonly minClusterSize?: number;
}

/** How picks are routed after the last build. */
export type ZoneMode = 'all' | 'local' | 'spill';

interface Group {
  readonly zone: string;
  readonly picker: Picker;
  /** Index in the full host list for each host of the group. */
  indices: Int32Array;
}

/**
 * Zone-aware routing after Envoy's: keep traffic in the local zone while it can carry its share,
 * spill the shortfall to the zones with capacity to spare.
 *
 * Envoy compares the share of callers in each zone (from the local cluster) with the share of
 * healthy upstream capacity there. Pillion has no local cluster, so it takes callers to be spread
 * like the upstream's full capacity (`zoneCapacity`, every non-draining host at full weight): the
 * usual case of a proxy beside every instance of a service deployed alike in each zone.
 * With c = local share of full capacity and h = local share of current eligible weight:
 * h >= c keeps every pick local; otherwise h / c of picks stay local and the rest go to the other
 * zones in proportion to their surplus (h_z - c_z), decided per pick with ctx.random.
 * Zone routing is off (one picker over every host) in panic, when the local zone has no eligible
 * host, or when there are fewer than `minClusterSize` hosts.
 */
export class ZoneAwarePicker implements Picker {
  private readonly localZone: string;
  private readonly createPicker: () => Picker;
  private readonly minClusterSize: number;
  private readonly pickers = new Map<string, Picker>();
  private readonly all: Picker;
  private n = 0;
  private groups: Group[] = [];
  private modeNow: ZoneMode = 'all';
  private localShare = 1;
  /** Cumulative surplus of groups 1.. (group 0 is local), normalised to end at 1. */
  private spillPrefix = new Float64Array(0);
  /** Last group with a surplus: where a draw lands when rounding leaves the prefix short of 1. */
  private spillLast = 1;

  constructor(options: ZoneAwareOptions) {
    this.localZone = options.localZone;
    this.createPicker = options.createPicker;
    this.minClusterSize = options.minClusterSize ?? 1;
    this.all = options.createPicker();
  }

  get mode(): ZoneMode {
    return this.modeNow;
  }

  /** Fraction of first picks kept in the local zone (1 in 'local' mode). */
  get localFraction(): number {
    return this.modeNow === 'spill' ? this.localShare : this.modeNow === 'local' ? 1 : 0;
  }

  /** Picker interface: without a capacity map the hosts' own weights stand for it. */
  build(hosts: readonly LbHost[]): void {
    this.update(hosts, zoneWeights(hosts), false);
  }

  /**
   * Rebuilds for the eligible `hosts`, each zone's full capacity (weight units of all its
   * non-draining hosts) and whether the host set is in panic.
   */
  update(hosts: readonly LbHost[], zoneCapacity: ReadonlyMap<string, number>, panic: boolean): void {
    this.n = hosts.length;
    const eligible = zoneWeights(hosts);
    const localEligible = eligible.get(this.localZone) ?? 0;
    if (panic || localEligible === 0 || eligible.size < 2 || hosts.length < this.minClusterSize) {
      this.modeNow = 'all';
      this.groups = [];
      this.all.build(hosts);
      return;
    }
    let eligibleTotal = 0;
    for (const w of eligible.values()) eligibleTotal += w;
    let capacityTotal = 0;
    for (const w of zoneCapacity.values()) capacityTotal += w;
    const h = localEligible / eligibleTotal;
    const c = capacityTotal > 0 ? (zoneCapacity.get(this.localZone) ?? 0) / capacityTotal : 0;
    this.buildGroups(hosts, eligible);
    if (h >= c) {
      this.modeNow = 'local';
      this.localShare = 1;
      return;
    }
    this.modeNow = 'spill';
    this.localShare = h / c;
    const g = this.groups.length;
    const surplus = new Float64Array(g);
    let sum = 0;
    for (let i = 1; i < g; i++) {
      const zone = this.groups[i].zone;
      const hz = (eligible.get(zone) ?? 0) / eligibleTotal;
      const cz = capacityTotal > 0 ? (zoneCapacity.get(zone) ?? 0) / capacityTotal : 0;
      surplus[i] = Math.max(0, hz - cz);
      sum += surplus[i];
    }
    if (sum === 0) {
      // Capacity given for zones that hold no host: spread by what the other zones have.
      for (let i = 1; i < g; i++) {
        surplus[i] = eligible.get(this.groups[i].zone) ?? 0;
        sum += surplus[i];
      }
    }
    this.spillPrefix = new Float64Array(g);
    let acc = 0;
    for (let i = 1; i < g; i++) {
      acc += surplus[i] / sum;
      this.spillPrefix[i] = acc;
      if (surplus[i] > 0) this.spillLast = i;
    }
  }

  pick(ctx: PickContext, attempt: number): number {
    if (this.n === 0) return -1;
    if (this.modeNow === 'all') return this.all.pick(ctx, attempt);
    if (attempt === 0) {
      const g = this.modeNow === 'local' ? 0 : this.chooseGroup(ctx.random());
      ctx.walkGroup = g;
      return this.inGroup(this.groups[g], ctx, 0);
    }
    // Walk the chosen group first, then the others (local first): every host once before repeats.
    // A group number from another build (the caller reused the scratch across a rebuild) falls back to local.
    const groups = this.groups;
    const chosen = ctx.walkGroup >= 0 && ctx.walkGroup < groups.length ? ctx.walkGroup : 0;
    let offset = attempt % this.n;
    for (let j = 0; j < groups.length; j++) {
      const g = j === 0 ? chosen : j <= chosen ? j - 1 : j;
      const group = groups[g];
      const size = group.indices.length;
      if (offset < size) return this.inGroup(group, ctx, offset);
      offset -= size;
    }
    return -1;
  }

  /** The host index of the group's pick, or -1 should the group's picker answer out of its range. */
  private inGroup(group: Group, ctx: PickContext, attempt: number): number {
    const k = group.picker.pick(ctx, attempt);
    return k >= 0 && k < group.indices.length ? group.indices[k] : -1;
  }

  private chooseGroup(u: number): number {
    const local = this.localShare;
    if (u < local) return 0;
    // Reuse the draw: its position within the spill range is uniform too.
    const v = (u - local) / (1 - local);
    const prefix = this.spillPrefix;
    for (let i = 1; i < prefix.length; i++) if (v < prefix[i]) return i;
    return this.spillLast;
  }

  private buildGroups(hosts: readonly LbHost[], eligible: ReadonlyMap<string, number>): void {
    const zones = [this.localZone];
    for (const zone of [...eligible.keys()].sort()) if (zone !== this.localZone) zones.push(zone);
    const groups: Group[] = [];
    for (const zone of zones) {
      let picker = this.pickers.get(zone);
      if (picker === undefined) {
        picker = this.createPicker();
        this.pickers.set(zone, picker);
      }
      const members: LbHost[] = [];
      const indices: number[] = [];
      for (let i = 0; i < hosts.length; i++) {
        if (hosts[i].zone === zone) {
          members.push(hosts[i]);
          indices.push(i);
        }
      }
      picker.build(members);
      groups.push({ zone, picker, indices: Int32Array.from(indices) });
    }
    for (const zone of [...this.pickers.keys()]) if (!eligible.has(zone)) this.pickers.delete(zone);
    this.groups = groups;
  }
}

function zoneWeights(hosts: readonly LbHost[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const h of hosts) m.set(h.zone, (m.get(h.zone) ?? 0) + h.weight);
  return m;
}
