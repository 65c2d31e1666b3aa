/**
 * Assigns shared-memory slots to listeners, clusters and endpoints, by name, and keeps them stable across
 * config changes so counters carry on and workers never see a slot move under them.
 *
 * An endpoint keeps its slot from the snapshot that first names it until `releaseEndpoint`: an
 * endpoint removed from the config stays registered (draining) until the supervisor frees it, and
 * one that comes back before that gets its old slot, and its counters, again.
 */
import { EndpointState, HEALTH_UNKNOWN, SlotAllocator, type Config, type SharedState } from '@pillion/core';
import type { ClusterSnapshot, RuntimeSnapshot } from '../messages.js';

export class SlotRegistry {
  private readonly listeners: SlotAllocator;
  private readonly clusters: SlotAllocator;
  private readonly endpoints: SlotAllocator;
  private readonly routes: SlotAllocator;
  /** `listener name \0 route name` → slot of the route's statistics */
  private readonly routeSlots = new Map<string, number>();
  private readonly listenerSlots = new Map<string, number>();
  private readonly clusterSlots = new Map<string, number>();
  /** cluster name → endpoint key → slot */
  private readonly endpointSlots = new Map<string, Map<string, number>>();
  private generation = 0;

  constructor(private readonly state: SharedState) {
    const cap = state.layout.cap;
    this.listeners = new SlotAllocator(cap.maxListeners);
    this.clusters = new SlotAllocator(cap.maxClusters);
    this.endpoints = new SlotAllocator(cap.maxEndpoints);
    this.routes = new SlotAllocator(cap.maxRoutes);
  }

  /**
   * Why `config` cannot get slots (new names beyond what is free), or undefined when it can. Checked
   * before `snapshot`, so a refused change leaves no slot half-assigned.
   */
  capacityProblem(config: Config): string | undefined {
    const newListeners = config.listeners.filter((l) => !this.listenerSlots.has(l.name)).length;
    if (newListeners > this.listeners.capacity - this.listeners.inUse) {
      return `capacity.max_listeners (${this.listeners.capacity}) reached`;
    }
    const newClusters = config.clusters.filter((c) => !this.clusterSlots.has(c.name)).length;
    if (newClusters > this.clusters.capacity - this.clusters.inUse) {
      return `capacity.max_clusters (${this.clusters.capacity}) reached`;
    }
    const newRoutes = this.routes.capacity === 0 ? 0 : routeKeys(config).filter((k) => !this.routeSlots.has(k)).length;
    if (newRoutes > this.routes.capacity - this.routes.inUse) {
      return `capacity.max_routes (${this.routes.capacity}) reached: ${newRoutes} new route names, ${this.routes.capacity - this.routes.inUse} slots free (a route name keeps its slot once seen)`;
    }
    let newEndpoints = 0;
    for (const c of config.clusters) {
      const known = this.endpointSlots.get(c.name);
      for (const e of c.endpoints) if (!known?.has(`${e.address}:${e.port}`)) newEndpoints++;
    }
    const free = this.endpoints.capacity - this.endpoints.inUse;
    if (newEndpoints > free) {
      return `capacity.max_endpoints (${this.endpoints.capacity}) reached: ${newEndpoints} new endpoints, ${free} slots free (removed endpoints hold theirs until they have drained)`;
    }
    return undefined;
  }

  /** Builds the snapshot workers run from, allocating slots for anything new. */
  snapshot(config: Config, now = Date.now()): RuntimeSnapshot {
    const listenerSlots: Record<string, number> = {};
    for (const l of config.listeners) listenerSlots[l.name] = this.slotFor(this.listenerSlots, this.listeners, l.name, 'listeners');
    const clusters: ClusterSnapshot[] = config.clusters.map((c) => {
      const slot = this.slotFor(this.clusterSlots, this.clusters, c.name, 'clusters');
      let bySlot = this.endpointSlots.get(c.name);
      if (!bySlot) this.endpointSlots.set(c.name, (bySlot = new Map()));
      const endpoints = c.endpoints.map((e) => {
        const key = `${e.address}:${e.port}`;
        let es = bySlot!.get(key);
        if (es === undefined) {
          es = this.endpoints.alloc();
          if (es < 0) throw new Error(`capacity.max_endpoints (${this.endpoints.capacity}) reached`);
          bySlot!.set(key, es);
          this.state.clearEndpoint(es);
          this.state.setEndpoint(es, 'cluster', slot);
          this.state.setEndpointTime(es, 'added_at', now);
          this.state.setEndpointTime(es, 'healthy_since', now);
          // Not chosen before its first check passes (unless the cluster is in panic).
          if (c.health_check) this.state.setEndpoint(es, 'health', HEALTH_UNKNOWN);
        }
        if (this.state.endpoint(es, 'weight') !== e.weight) {
          this.state.setEndpoint(es, 'weight', e.weight);
          this.state.setEndpoint(es, 'effective_weight_milli', e.weight * 1000);
        }
        // New, or back before its old slot was freed.
        this.state.setEndpoint(es, 'state', EndpointState.Active);
        return { slot: es, address: e.address, port: e.port, weight: e.weight, zone: e.zone, key, priority: e.priority };
      });
      return { slot, name: c.name, config: c, endpoints };
    });
    // A SharedState without route capacity (maxRoutes 0) keeps no per-route statistics.
    const routeSlots: Record<string, number[]> = {};
    for (const l of config.listeners) {
      if (l.protocol !== 'http' || this.routes.capacity === 0) continue;
      routeSlots[l.name] = l.routes.map((r, i) => this.slotFor(this.routeSlots, this.routes, routeKey(l.name, r.name, i), 'routes'));
    }
    this.generation++;
    return { generation: this.generation, config, listenerSlots, clusters, routeSlots };
  }

  /** The slot of a route's statistics, by listener and route name (`route-N` for an unnamed one). */
  routeSlot(listener: string, route: string): number | undefined {
    return this.routeSlots.get(`${listener}\u0000${route}`);
  }

  listenerSlot(name: string): number | undefined {
    return this.listenerSlots.get(name);
  }
  clusterSlot(name: string): number | undefined {
    return this.clusterSlots.get(name);
  }
  endpointSlot(cluster: string, key: string): number | undefined {
    return this.endpointSlots.get(cluster)?.get(key);
  }

  /** Frees an endpoint's slot once nothing refers to it any more. */
  releaseEndpoint(cluster: string, key: string): void {
    const bySlot = this.endpointSlots.get(cluster);
    const slot = bySlot?.get(key);
    if (slot === undefined) return;
    bySlot!.delete(key);
    this.state.clearEndpoint(slot);
    this.endpoints.release(slot);
  }

  private slotFor(map: Map<string, number>, alloc: SlotAllocator, name: string, what: string): number {
    let slot = map.get(name);
    if (slot === undefined) {
      slot = alloc.alloc();
      if (slot < 0) throw new Error(`capacity.max_${what} (${alloc.capacity}) reached`);
      map.set(name, slot);
    }
    return slot;
  }
}

/** A route's statistics are keyed by listener and route name, defaulted as the route table does (`route-N`). */
function routeKey(listener: string, name: string | undefined, index: number): string {
  return `${listener}\u0000${name ?? `route-${index}`}`;
}

function routeKeys(config: Config): string[] {
  return config.listeners.flatMap((l) => (l.protocol === 'http' ? l.routes.map((r, i) => routeKey(l.name, r.name, i)) : []));
}
