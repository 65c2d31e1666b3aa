import { describe, expect, it } from 'vitest';
import {
  CLUSTER_HISTOGRAMS,
  CLUSTER_STATS,
  CODE_CLASSES,
  DURATION_BUCKETS,
  ENDPOINT_STATS,
  HISTOGRAM_LENGTH,
  RETRY_REASONS,
  RETRY_REASON_STATS,
  computeLayout,
  durationBucket,
} from '../src/shared-state/layout.js';
import { SharedState } from '../src/shared-state/shared-state.js';

const cap = { maxClusters: 3, maxEndpoints: 5, maxListeners: 2, maxThreads: 3, maxRoutes: 4 };

describe('SharedState route, endpoint-response and cluster latency regions', () => {
  it('places the new regions after the endpoint statistics, without overlap, and sizes the row from them', () => {
    const l = computeLayout(cap);
    const r = l.row;
    expect(HISTOGRAM_LENGTH).toBe(DURATION_BUCKETS.length + 2);
    expect(r.routeRequestsAt).toBe(r.endpointStatsAt + cap.maxEndpoints * ENDPOINT_STATS.length);
    expect(r.routeDurationAt).toBe(r.routeRequestsAt + cap.maxRoutes * CODE_CLASSES.length);
    expect(r.clusterHistogramsAt).toBe(r.routeDurationAt + cap.maxRoutes * HISTOGRAM_LENGTH);
    expect(l.rowLength).toBe(r.clusterHistogramsAt + cap.maxClusters * CLUSTER_HISTOGRAMS.length * HISTOGRAM_LENGTH);
    // No route statistics at all when the capacity is 0 (SharedState.create's default).
    const none = computeLayout({ ...cap, maxRoutes: 0 });
    expect(none.row.clusterHistogramsAt).toBe(none.row.routeRequestsAt);
    expect(SharedState.create({ maxClusters: 1, maxEndpoints: 1, maxListeners: 1, maxThreads: 1 }).layout.cap.maxRoutes).toBe(0);
  });

  it('counts route requests by code class and duration, per route slot, summed over threads', () => {
    const s = SharedState.create(cap);
    const w0 = s.statsWriter(0);
    const w1 = s.statsWriter(1);
    w0.routeRequest(3, 2, 0.004);
    w1.routeRequest(3, 2, 0.02);
    w1.routeRequest(3, 5, 2);
    w0.routeRequest(0, 4, 0.0002);
    expect(CODE_CLASSES.map((_, k) => s.routeRequests(3, k))).toEqual([0, 0, 2, 0, 0, 1]);
    expect(CODE_CLASSES.map((_, k) => s.routeRequests(0, k))).toEqual([0, 0, 0, 0, 1, 0]);
    expect(CODE_CLASSES.map((_, k) => s.routeRequests(1, k))).toEqual([0, 0, 0, 0, 0, 0]);
    const h = s.routeDuration(3);
    const expected = new Array(DURATION_BUCKETS.length + 1).fill(0);
    expected[durationBucket(0.004)]++;
    expected[durationBucket(0.02)]++;
    expected[durationBucket(2)]++;
    expect(h).toEqual({ buckets: expected, sum: 2.024, count: 3 });
    expect(s.routeDuration(0).count).toBe(1);
    expect(s.routeDuration(2)).toEqual({ buckets: new Array(DURATION_BUCKETS.length + 1).fill(0), sum: 0, count: 0 });
    // Route statistics leave the listener's own histogram and requests alone.
    expect(s.durationHistogram(0).count + s.durationHistogram(1).count).toBe(0);
  });

  it('keeps the three latency histograms of each cluster apart', () => {
    const s = SharedState.create(cap);
    const w = s.statsWriter(2);
    w.clusterLatency(1, 'upstream_first_byte', 0.001);
    w.clusterLatency(1, 'upstream_duration', 0.003);
    w.clusterLatency(1, 'upstream_duration', 40);
    w.clusterLatency(1, 'pool_wait', 0);
    w.clusterLatency(2, 'pool_wait', 0.5);
    const first = s.clusterHistogram(1, 'upstream_first_byte');
    expect([first.count, first.sum, first.buckets[durationBucket(0.001)]]).toEqual([1, 0.001, 1]);
    const total = s.clusterHistogram(1, 'upstream_duration');
    expect([total.count, total.sum, total.buckets[durationBucket(0.003)], total.buckets[DURATION_BUCKETS.length]]).toEqual([2, 40.003, 1, 1]);
    const wait = s.clusterHistogram(1, 'pool_wait');
    expect([wait.count, wait.sum, wait.buckets[0]]).toEqual([1, 0, 1]);
    expect(s.clusterHistogram(2, 'pool_wait').buckets[durationBucket(0.5)]).toBe(1);
    expect(s.clusterHistogram(0, 'upstream_duration').count).toBe(0);
    expect(s.clusterHistogram(2, 'upstream_first_byte').count).toBe(0);
  });

  it('counts endpoint responses by class without touching the endpoint\'s other statistics', () => {
    const s = SharedState.create(cap);
    const w = s.statsWriter(0);
    w.endpointResponse(4, 0);
    w.endpointResponse(4, 5);
    w.endpointResponse(4, 5);
    w.endpointResponse(3, 2);
    expect(CODE_CLASSES.map((c) => s.endpointStat(4, `responses_${c}`))).toEqual([1, 0, 0, 0, 0, 2]);
    expect(CODE_CLASSES.map((c) => s.endpointStat(3, `responses_${c}`))).toEqual([0, 0, 1, 0, 0, 0]);
    expect([s.endpointStat(4, 'requests'), s.endpointStat(4, 'connect_failures')]).toEqual([0, 0]);
  });

  it('names a cluster stat for every retry reason', () => {
    expect(RETRY_REASON_STATS).toEqual(['retry_connect_failure', 'retry_reset', 'retry_refused', 'retry_timeout', 'retry_status', 'retry_grpc_status']);
    expect(RETRY_REASON_STATS.length).toBe(RETRY_REASONS.length);
    for (const stat of RETRY_REASON_STATS) expect(CLUSTER_STATS).toContain(stat);
  });

  it('carries the route capacity to a thread that attaches', () => {
    const s = SharedState.create(cap);
    const t = SharedState.attach(s.buffer);
    expect(t.layout).toEqual(s.layout);
    s.statsWriter(1).routeRequest(2, 3, 0.01);
    expect(t.routeRequests(2, 3)).toBe(1);
  });
});
