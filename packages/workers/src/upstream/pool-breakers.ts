/**
 * The breaker places an endpoint's pool takes and gives back in SharedState, whatever the protocol
 * (HTTP/1.1 connections or HTTP/2 sessions): pending requests and open connections, each counted for
 * the cluster and for the endpoint across every worker, and the endpoint's warmth. A place is added
 * first and then checked, so two workers can never both take the last one.
 */
import type { SharedState, StatsWriter } from '@pillion/core';
import type { PoolRejection } from './upstream-exchange.js';

/** Where a pool's counters live and the limits that apply to them (all workers together). */
export interface BreakerSlots {
  readonly clusterSlot: number;
  readonly endpointSlot: number;
  readonly clusterMaxPending: number;
  readonly endpointMaxPending: number;
  readonly clusterMaxConnections: number;
  readonly endpointMaxConnections: number;
}

/** Takes a place among the requests waiting for a connection; the limit that refused it (counted), or null. */
export function enterPending(state: SharedState, stats: StatsWriter, o: BreakerSlots): PoolRejection | null {
  if (state.addCluster(o.clusterSlot, 'rq_pending', 1) >= o.clusterMaxPending) {
    state.addCluster(o.clusterSlot, 'rq_pending', -1);
    stats.cluster(o.clusterSlot, 'cb_reject_max_pending_requests', 1);
    return 'max_pending_requests';
  }
  if (state.addEndpoint(o.endpointSlot, 'rq_pending', 1) >= o.endpointMaxPending) {
    leavePending(state, o);
    stats.cluster(o.clusterSlot, 'cb_reject_max_pending_requests', 1);
    return 'max_pending_requests';
  }
  return null;
}

export function leavePending(state: SharedState, o: BreakerSlots): void {
  state.addCluster(o.clusterSlot, 'rq_pending', -1);
  state.addEndpoint(o.endpointSlot, 'rq_pending', -1);
}

/** Takes a place for one more connection (or session); false when a connection breaker is full. */
export function enterConnection(state: SharedState, o: BreakerSlots): boolean {
  if (state.addCluster(o.clusterSlot, 'cx_active', 1) >= o.clusterMaxConnections) {
    state.addCluster(o.clusterSlot, 'cx_active', -1);
    return false;
  }
  if (state.addEndpoint(o.endpointSlot, 'cx_active', 1) >= o.endpointMaxConnections) {
    leaveConnection(state, o);
    return false;
  }
  return true;
}

export function leaveConnection(state: SharedState, o: BreakerSlots): void {
  state.addEndpoint(o.endpointSlot, 'cx_active', -1);
  state.addCluster(o.clusterSlot, 'cx_active', -1);
}

/** This worker's pool to the endpoint is (or stops being) warm; every worker's balancer rebuilds to weigh it. */
export function reportWarm(state: SharedState, o: BreakerSlots, warm: boolean): void {
  state.addEndpoint(o.endpointSlot, 'warm_pools', warm ? 1 : -1);
  state.addCluster(o.clusterSlot, 'membership_generation', 1);
}
