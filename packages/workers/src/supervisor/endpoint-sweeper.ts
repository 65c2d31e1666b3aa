/**
 * The supervisor's periodic look at every endpoint, for what no request triggers:
 *
 * - ejections whose time is up end here when no traffic comes to end them on a worker's pick, so
 *   `/clusters` and `pillion_endpoint_healthy` tell the truth on an idle cluster;
 * - ejections and returns are logged (workers eject on the request path, where nothing is logged);
 * - endpoints removed from the config drain: workers on the new config no longer pick them, requests
 *   in flight finish; once every worker runs the new config the endpoint is marked Draining (so no
 *   later attempt of an older request picks it either), and its slot is freed once nothing is in
 *   flight or connected. It is not marked at once: a worker still on the old config would then find
 *   every endpoint it knows draining and answer 503 for the few milliseconds before the new one
 *   reaches it.
 */
import { EndpointState, HEALTH_EJECTED, type SharedState } from '@pillion/core';
import type { Logger } from '../logger.js';
import type { EndpointSource, RuntimeSnapshot } from '../messages.js';
import { forgetEjection, returnIfDue } from '../worker/outlier.js';
import type { SlotRegistry } from './slot-registry.js';

export interface DrainingEndpoint {
  readonly cluster: string;
  readonly clusterSlot: number;
  readonly slot: number;
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly zone: string;
  readonly source: EndpointSource | undefined;
  readonly hostname: string | undefined;
  /** The first snapshot generation without the endpoint: workers running it no longer pick it. */
  readonly generation: number;
  readonly since: number;
  /** Marked Draining in SharedState (after every worker applied `generation`). */
  marked: boolean;
  warned: boolean;
}

export class EndpointSweeper {
  private draining: DrainingEndpoint[] = [];
  /** Slots seen ejected at the last sweep, to log each ejection and return once. */
  private readonly ejected = new Set<number>();

  constructor(
    private readonly state: SharedState,
    private readonly slots: SlotRegistry,
    private readonly log: Logger,
    private readonly drainTimeoutMs: () => number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Endpoints removed but not yet freed. */
  get drainingEndpoints(): readonly DrainingEndpoint[] {
    return this.draining;
  }

  /**
   * Going from `prev` to `next`: endpoints that left start draining, draining ones that came back
   * are live again (the registry gave them their old slot). Every cluster's generation moves, so
   * workers still on the old snapshot rebuild over the weights and flags `next` wrote.
   */
  retire(prev: RuntimeSnapshot, next: RuntimeSnapshot): DrainingEndpoint[] {
    const live = new Set<number>();
    for (const c of next.clusters) for (const e of c.endpoints) live.add(e.slot);
    this.draining = this.draining.filter((d) => !live.has(d.slot));
    const left: DrainingEndpoint[] = [];
    const now = this.now();
    for (const c of prev.clusters) {
      for (const e of c.endpoints) {
        if (live.has(e.slot)) continue;
        const d: DrainingEndpoint = {
          cluster: c.name,
          clusterSlot: c.slot,
          slot: e.slot,
          key: e.key,
          address: e.address,
          port: e.port,
          zone: e.zone,
          source: e.source,
          hostname: e.hostname,
          generation: next.generation,
          since: now,
          marked: false,
          warned: false,
        };
        this.draining.push(d);
        left.push(d);
      }
    }
    const clusters = new Set<number>();
    for (const c of prev.clusters) clusters.add(c.slot);
    for (const c of next.clusters) clusters.add(c.slot);
    for (const slot of clusters) this.state.addCluster(slot, 'membership_generation', 1);
    for (const d of left) this.log.info({ cluster: d.cluster, endpoint: d.key }, 'endpoint removed; draining');
    return left;
  }

  /** One pass. `applied(generation)` says whether every worker runs that generation or a later one. */
  sweep(snapshot: RuntimeSnapshot, applied: (generation: number) => boolean): void {
    const now = this.now();
    const s = this.state;
    for (const c of snapshot.clusters) {
      for (const e of c.endpoints) {
        if (returnIfDue(s, c.slot, e.slot, now)) {
          this.log.info({ cluster: c.name, endpoint: e.key }, 'endpoint back in service after ejection');
        }
        const ejected = (s.endpoint(e.slot, 'health') & HEALTH_EJECTED) !== 0;
        if (ejected && !this.ejected.has(e.slot)) {
          this.ejected.add(e.slot);
          const until = s.endpointTime(e.slot, 'ejected_until');
          this.log.warn(
            { cluster: c.name, endpoint: e.key, until: new Date(until).toISOString(), times_ejected: s.endpoint(e.slot, 'times_ejected') },
            'endpoint ejected by outlier detection',
          );
        } else if (!ejected && this.ejected.has(e.slot)) {
          this.ejected.delete(e.slot);
        }
      }
    }
    this.draining = this.draining.filter((d) => !this.release(d, applied, now));
  }

  /** Marks a removed endpoint Draining, then frees its slot once it has drained; returns whether it did. */
  private release(d: DrainingEndpoint, applied: (generation: number) => boolean, now: number): boolean {
    const s = this.state;
    if (!d.marked && applied(d.generation)) {
      s.setEndpoint(d.slot, 'state', EndpointState.Draining);
      s.addCluster(d.clusterSlot, 'membership_generation', 1);
      d.marked = true;
    }
    const busy = s.endpoint(d.slot, 'rq_active') !== 0 || s.endpoint(d.slot, 'cx_active') !== 0;
    if (busy || !d.marked) {
      if (!d.warned && now - d.since > this.drainTimeoutMs()) {
        d.warned = true;
        this.log.warn(
          { cluster: d.cluster, endpoint: d.key, active_requests: s.endpoint(d.slot, 'rq_active'), active_connections: s.endpoint(d.slot, 'cx_active') },
          'removed endpoint still draining after drain_timeout; its slot stays reserved',
        );
      }
      return false;
    }
    forgetEjection(s, d.clusterSlot, d.slot);
    this.ejected.delete(d.slot);
    this.slots.releaseEndpoint(d.cluster, d.key);
    this.log.info({ cluster: d.cluster, endpoint: d.key }, 'removed endpoint drained; slot freed');
    return true;
  }
}
