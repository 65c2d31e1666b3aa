/**
 * `GET /stats`: one JSON document with what the status page shows, for scripts too. Counters are
 * totals since start (rates are the reader's difference of two samples over `process.uptime_seconds`);
 * the endpoints are exactly those of `GET /clusters`. The field names are documented in the README's
 * admin table and stay stable.
 */
import { BREAKER_LIMITS, CODE_CLASSES, type BreakerLimit, type ListenerStat, type SharedState } from '@pillion/core';
import type { RuntimeSnapshot } from '../messages.js';
import { clustersView, type EndpointView } from './clusters-view.js';
import type { DrainingEndpoint } from './endpoint-sweeper.js';

export interface StatsSource {
  state: SharedState;
  snapshot: RuntimeSnapshot;
  draining: readonly DrainingEndpoint[];
  /** Worker threads configured. */
  workers: number;
  /** Worker threads serving now. */
  workersRunning: number;
}

export type CodeClass = (typeof CODE_CLASSES)[number];

export interface ListenerStats {
  name: string;
  protocol: 'http' | 'tcp' | 'udp';
  tls: boolean;
  address: string;
  port: number;
  /** What `requests_total` and `requests_active` count: HTTP requests, TCP connections or UDP sessions. */
  unit: 'requests' | 'connections' | 'sessions';
  requests_total: number;
  requests_active: number;
  /** Responses the proxy made itself (404, 502, 503, 504 ...). */
  local_replies: number;
  bytes_received: number;
  bytes_sent: number;
}

export interface ClusterStats {
  name: string;
  protocol: string;
  lb_policy: string;
  /** HTTP requests routed to the cluster, all listeners; `requests_by_class.none` got no response. */
  requests_total: number;
  requests_by_class: Record<CodeClass, number>;
  requests_active: number;
  requests_pending: number;
  connections_active: number;
  retries_total: number;
  retries_active: number;
  /** circuit_breaker limits, to compare with the active counts above. */
  limits: { max_connections: number; max_pending_requests: number; max_requests: number; max_retries: number };
  /** Requests and retries a breaker refused, by the limit that refused them. */
  breaker_rejections: Record<BreakerLimit, number>;
  ejected_endpoints: number;
  outlier_ejections_total: number;
  endpoints: EndpointView[];
}

export interface StatsJson {
  time: string;
  process: {
    pid: number;
    workers: number;
    workers_running: number;
    uptime_seconds: number;
    rss_bytes: number;
    config_generation: number;
    draining: boolean;
  };
  listeners: ListenerStats[];
  clusters: ClusterStats[];
}

/** Per listener protocol: the stats behind requests_total and requests_active. */
const COUNTED: Record<ListenerStats['protocol'], [ListenerStats['unit'], ListenerStat, ListenerStat]> = {
  http: ['requests', 'downstream_cx_total', 'downstream_cx_active'],
  tcp: ['connections', 'tcp_connections_total', 'tcp_connections_active'],
  udp: ['sessions', 'udp_sessions_total', 'udp_sessions_active'],
};

export function statsJson(src: StatsSource, now = Date.now()): StatsJson {
  const { state, snapshot } = src;
  const listenerSlots = Object.values(snapshot.listenerSlots);
  const listeners: ListenerStats[] = [];
  for (const l of snapshot.config.listeners) {
    const slot = snapshot.listenerSlots[l.name];
    if (slot === undefined) continue;
    const [unit, total, active] = COUNTED[l.protocol];
    listeners.push({
      name: l.name,
      protocol: l.protocol,
      tls: 'tls' in l && l.tls !== undefined,
      address: l.address,
      port: l.port,
      unit,
      requests_total: state.listenerStat(slot, total),
      requests_active: state.listenerStat(slot, active),
      local_replies: state.listenerStat(slot, 'local_replies'),
      bytes_received: state.listenerStat(slot, 'downstream_bytes_in'),
      bytes_sent: state.listenerStat(slot, 'downstream_bytes_out'),
    });
  }
  const views = clustersView(state, snapshot, src.draining, now);
  const clusters = snapshot.clusters.map((c, i): ClusterStats => {
    const view = views[i]!;
    const byClass = {} as Record<CodeClass, number>;
    let total = 0;
    CODE_CLASSES.forEach((name, k) => {
      let n = 0;
      for (const ls of listenerSlots) n += state.requests(ls, c.slot, k);
      byClass[name] = n;
      total += n;
    });
    const rejections = {} as Record<BreakerLimit, number>;
    for (const limit of BREAKER_LIMITS) rejections[limit] = state.clusterStat(c.slot, `cb_reject_${limit}`);
    const cb = c.config.circuit_breaker;
    return {
      name: c.name,
      protocol: c.config.protocol,
      lb_policy: view.lb_policy,
      requests_total: total,
      requests_by_class: byClass,
      requests_active: view.active_requests,
      requests_pending: state.cluster(c.slot, 'rq_pending'),
      connections_active: view.active_connections,
      retries_total: state.clusterStat(c.slot, 'retries'),
      retries_active: state.cluster(c.slot, 'rq_retry_active'),
      limits: { max_connections: cb.max_connections, max_pending_requests: cb.max_pending_requests, max_requests: cb.max_requests, max_retries: cb.max_retries },
      breaker_rejections: rejections,
      ejected_endpoints: view.ejected_endpoints,
      outlier_ejections_total: view.outlier_ejections_total,
      endpoints: view.endpoints,
    };
  });
  return {
    time: new Date(now).toISOString(),
    process: {
      pid: process.pid,
      workers: src.workers,
      workers_running: src.workersRunning,
      uptime_seconds: process.uptime(),
      rss_bytes: process.memoryUsage.rss(),
      config_generation: snapshot.generation,
      draining: state.header('draining') !== 0,
    },
    listeners,
    clusters,
  };
}
