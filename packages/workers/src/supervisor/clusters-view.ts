/**
 * `GET /clusters`: every cluster and endpoint as SharedState sees it right now. Endpoints removed
 * from the config but still finishing requests are listed too, as `draining`.
 */
import { EndpointState, HEALTH_ACTIVE_FAILED, HEALTH_EJECTED, HEALTH_UNKNOWN, type SharedState } from '@pillion/core';
import type { ClusterSnapshot, EndpointSource, RuntimeSnapshot } from '../messages.js';
import type { DrainingEndpoint } from './endpoint-sweeper.js';
import { outlierDetectionOn } from '../worker/outlier.js';

interface EndpointRef {
  slot: number;
  address: string;
  port: number;
  zone: string;
  source?: EndpointSource | undefined;
  hostname?: string | undefined;
}

/** Names of the failure-rate breaker's phases, by their number in SharedState. */
const BREAKER_PHASES = ['closed', 'open', 'half-open'] as const;

/** One endpoint in `GET /clusters` (and in `GET /stats`). */
export interface EndpointView {
  address: string;
  port: number;
  zone: string;
  /** Where the endpoint came from: the config file, the admin API (PUT), or DNS (discovery). */
  source: EndpointSource;
  /** The name its address was resolved from (a host name in the config, a DNS name), or null. */
  hostname: string | null;
  state: 'active' | 'draining';
  weight: number;
  effective_weight: number;
  health: {
    active: 'unchecked' | 'unknown' | 'unhealthy' | 'healthy';
    passive: 'unchecked' | 'ejected' | 'ok';
    ejected: boolean;
    ejected_until: string | null;
    ejection_remaining_ms: number;
    times_ejected: number;
    consecutive_5xx: number;
    consecutive_gateway_failure: number;
  };
  active_requests: number;
  active_connections: number;
  warm_connections: number;
  warm: boolean | null;
  failure_breaker: (typeof BREAKER_PHASES)[number] | null;
  requests_total: number;
  connect_failures_total: number;
}

/** One cluster in `GET /clusters`. */
export interface ClusterView {
  name: string;
  lb_policy: string;
  local_zone: string | undefined;
  active_requests: number;
  active_connections: number;
  ejected_endpoints: number;
  outlier_ejections_total: number;
  endpoints: EndpointView[];
}

export function clustersView(state: SharedState, snapshot: RuntimeSnapshot, draining: readonly DrainingEndpoint[], now = Date.now()): ClusterView[] {
  return snapshot.clusters.map((c) => ({
    name: c.name,
    lb_policy: c.config.lb.policy,
    local_zone: c.config.lb.local_zone,
    active_requests: state.cluster(c.slot, 'rq_active'),
    active_connections: state.cluster(c.slot, 'cx_active'),
    ejected_endpoints: state.cluster(c.slot, 'ejected_count'),
    outlier_ejections_total: state.clusterStat(c.slot, 'outlier_ejections'),
    endpoints: [
      ...c.endpoints.map((e) => endpointView(state, c, e, now, false)),
      ...draining.filter((d) => d.clusterSlot === c.slot).map((d) => endpointView(state, c, d, now, true)),
    ],
  }));
}

function endpointView(state: SharedState, c: ClusterSnapshot, e: EndpointRef, now: number, removed: boolean): EndpointView {
  const s = state;
  const health = s.endpoint(e.slot, 'health');
  const ejected = (health & HEALTH_EJECTED) !== 0;
  const ejectedUntil = s.endpointTime(e.slot, 'ejected_until');
  const active = !c.config.health_check
    ? 'unchecked'
    : health & HEALTH_UNKNOWN
      ? 'unknown'
      : health & HEALTH_ACTIVE_FAILED
        ? 'unhealthy'
        : 'healthy';
  return {
    address: e.address,
    port: e.port,
    zone: e.zone,
    source: e.source ?? 'config',
    hostname: e.hostname ?? null,
    state: removed || s.endpoint(e.slot, 'state') === EndpointState.Draining ? 'draining' : 'active',
    weight: s.endpoint(e.slot, 'weight'),
    effective_weight: s.endpoint(e.slot, 'effective_weight_milli') / 1000,
    health: {
      active,
      passive: !outlierDetectionOn(c.config.outlier_detection) ? 'unchecked' : ejected ? 'ejected' : 'ok',
      ejected,
      ejected_until: ejected && ejectedUntil > 0 ? new Date(ejectedUntil).toISOString() : null,
      ejection_remaining_ms: ejected ? Math.max(0, Math.round(ejectedUntil - now)) : 0,
      times_ejected: s.endpoint(e.slot, 'times_ejected'),
      consecutive_5xx: s.endpoint(e.slot, 'consecutive_5xx'),
      consecutive_gateway_failure: s.endpoint(e.slot, 'consecutive_gateway_failure'),
    },
    active_requests: s.endpoint(e.slot, 'rq_active'),
    active_connections: s.endpoint(e.slot, 'cx_active'),
    warm_connections: s.endpoint(e.slot, 'warm_connections'),
    // Warm when every worker's pool has finished warming up (null: the cluster has no pool.warmup).
    warm: c.config.pool.warmup ? s.endpoint(e.slot, 'warm_pools') >= s.layout.cap.maxThreads - 1 : null,
    failure_breaker: c.config.failure_breaker ? BREAKER_PHASES[s.endpoint(e.slot, 'frb_phase')] ?? 'closed' : null,
    requests_total: s.endpointStat(e.slot, 'requests'),
    connect_failures_total: s.endpointStat(e.slot, 'connect_failures'),
  };
}
