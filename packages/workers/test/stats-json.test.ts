/**
 * `GET /stats` from SharedState: what each listener protocol counts, a cluster's requests summed over
 * the listeners that route to it, the statistics rows of every thread added up, breaker limits and
 * rejections, and the endpoints exactly as `GET /clusters` has them.
 */
import { describe, expect, it } from 'vitest';
import { SharedState, parseConfig } from '@pillion/core';
import { clustersView } from '../src/supervisor/clusters-view.js';
import { SlotRegistry } from '../src/supervisor/slot-registry.js';
import { statsJson } from '../src/supervisor/stats-json.js';

function setup() {
  const config = parseConfig({
    listeners: [
      { name: 'web', protocol: 'http', port: 8080, routes: [{ match: { prefix: '/' }, cluster: 'api' }] },
      { name: 'side', protocol: 'http', address: '127.0.0.2', port: 8081, routes: [{ match: { prefix: '/' }, cluster: 'api' }] },
      { name: 'raw', protocol: 'tcp', port: 9000, cluster: 'db' },
      { name: 'dns', protocol: 'udp', port: 5353, cluster: 'db' },
    ],
    clusters: [
      { name: 'api', endpoints: [{ address: '127.0.0.1', port: 1 }], circuit_breaker: { max_requests: 7, max_retries: 1 } },
      { name: 'db', protocol: 'h2c', endpoints: [{ address: '127.0.0.1', port: 2 }] },
    ],
  });
  const state = SharedState.create({ maxClusters: 4, maxEndpoints: 4, maxListeners: 4, maxThreads: 3 });
  const snapshot = new SlotRegistry(state).snapshot(config);
  return { state, snapshot };
}

describe('statsJson', () => {
  it('sums every thread and names what each listener counts', () => {
    const { state, snapshot } = setup();
    const ls = snapshot.listenerSlots;
    const api = snapshot.clusters[0];
    const t0 = state.statsWriter(0);
    const t1 = state.statsWriter(1);
    // web: three to api (2xx, 2xx, 5xx) and one without a route; side: one to api with no response.
    t0.listener(ls.web!, 'downstream_cx_total', 3);
    t1.listener(ls.web!, 'downstream_cx_total', 1);
    t1.listener(ls.web!, 'downstream_cx_active', 1);
    t0.listener(ls.web!, 'local_replies', 1);
    t0.listener(ls.web!, 'downstream_bytes_in', 100);
    t1.listener(ls.web!, 'downstream_bytes_out', 250);
    t0.request(ls.web!, api!.slot, 2, 0.01);
    t1.request(ls.web!, api!.slot, 2, 0.01);
    t1.request(ls.web!, api!.slot, 5, 0.01);
    t0.request(ls.web!, -1, 4, 0.001);
    t0.listener(ls.side!, 'downstream_cx_total', 1);
    t0.request(ls.side!, api!.slot, 0, 0.01);
    t0.listener(ls.raw!, 'tcp_connections_total', 2);
    t0.listener(ls.raw!, 'tcp_connections_active', 1);
    t1.listener(ls.dns!, 'udp_sessions_total', 5);
    t1.listener(ls.dns!, 'udp_sessions_active', 2);
    t0.cluster(api!.slot, 'retries', 2);
    t1.cluster(api!.slot, 'cb_reject_max_requests', 3);
    t0.cluster(api!.slot, 'cb_reject_failure_rate', 1);
    state.setCluster(api!.slot, 'rq_active', 1);
    state.setCluster(api!.slot, 'rq_pending', 4);
    state.setCluster(api!.slot, 'rq_retry_active', 1);
    state.setHeader('draining', 1);

    const s = statsJson({ state, snapshot, draining: [], workers: 2, workersRunning: 1 }, Date.UTC(2026, 0, 1));
    expect(s.time).toBe('2026-01-01T00:00:00.000Z');
    expect(s.process).toMatchObject({ pid: process.pid, workers: 2, workers_running: 1, config_generation: snapshot.generation, draining: true });
    expect(s.listeners.map((l) => [l.name, l.protocol, l.address, l.port, l.unit, l.requests_total, l.requests_active, l.local_replies, l.bytes_received, l.bytes_sent])).toEqual([
      ['web', 'http', '127.0.0.1', 8080, 'requests', 4, 1, 1, 100, 250],
      ['side', 'http', '127.0.0.2', 8081, 'requests', 1, 0, 0, 0, 0],
      ['raw', 'tcp', '127.0.0.1', 9000, 'connections', 2, 1, 0, 0, 0],
      ['dns', 'udp', '127.0.0.1', 5353, 'sessions', 5, 2, 0, 0, 0],
    ]);
    const [a, d] = s.clusters;
    expect(a).toMatchObject({
      name: 'api',
      protocol: 'http1',
      requests_total: 4,
      requests_by_class: { none: 1, '1xx': 0, '2xx': 2, '3xx': 0, '4xx': 0, '5xx': 1 },
      requests_active: 1,
      requests_pending: 4,
      retries_total: 2,
      retries_active: 1,
      limits: { max_connections: 1024, max_pending_requests: 1024, max_requests: 7, max_retries: 1 },
      breaker_rejections: { max_connections: 0, max_pending_requests: 0, max_requests: 3, max_retries: 0, failure_rate: 1 },
    });
    expect(d).toMatchObject({ name: 'db', protocol: 'h2c', requests_total: 0 });
    expect(s.clusters.map((c) => c.endpoints)).toEqual(clustersView(state, snapshot, [], Date.UTC(2026, 0, 1)).map((c) => c.endpoints));
  });
});
