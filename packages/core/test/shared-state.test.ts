import { describe, expect, it } from 'vitest';
import {
  CLUSTER_FIELDS,
  CLUSTER_STATS,
  CODE_CLASSES,
  DURATION_BUCKETS,
  ENDPOINT_FIELDS,
  ENDPOINT_STATS,
  ENDPOINT_TIME_FIELDS,
  HEADER_FIELDS,
  LISTENER_STATS,
  computeLayout,
  durationBucket,
} from '../src/shared-state/layout.js';
import { SharedState } from '../src/shared-state/shared-state.js';
import { SlotAllocator } from '../src/shared-state/slot-allocator.js';

const cap = { maxClusters: 3, maxEndpoints: 5, maxListeners: 2, maxThreads: 3, maxRoutes: 4 };

describe('SharedState layout', () => {
  it('gives every coordination field its own Int32 and every statistic its own Float64', () => {
    const s = SharedState.create(cap);
    const i32 = new Int32Array(s.buffer, 0, s.layout.int32Length);
    // Write a distinct value through every accessor, then check every one reads back untouched.
    let v = 1;
    const expected: [() => number, number][] = [];
    for (let c = 0; c < cap.maxClusters; c++)
      for (const f of CLUSTER_FIELDS) {
        const val = v++;
        s.setCluster(c, f, val);
        expected.push([() => s.cluster(c, f), val]);
      }
    for (let e = 0; e < cap.maxEndpoints; e++) {
      for (const f of ENDPOINT_FIELDS) {
        const val = v++;
        s.setEndpoint(e, f, val);
        expected.push([() => s.endpoint(e, f), val]);
      }
      for (const f of ENDPOINT_TIME_FIELDS) {
        const val = 1e12 + v++;
        s.setEndpointTime(e, f, val);
        expected.push([() => s.endpointTime(e, f), val]);
      }
    }
    for (const [read, val] of expected) expect(read()).toBe(val);
    // The header (written by create) survived all of that.
    expect(s.header('max_endpoints')).toBe(cap.maxEndpoints);
    // Int32 regions are exactly as long as their fields, with no gaps.
    expect(s.layout.clustersAt).toBe(HEADER_FIELDS.length);
    expect(s.layout.endpointsAt).toBe(HEADER_FIELDS.length + cap.maxClusters * CLUSTER_FIELDS.length);
    expect(i32.length).toBeGreaterThanOrEqual(s.layout.endpointsAt + cap.maxEndpoints * ENDPOINT_FIELDS.length);
  });

  it('keeps each thread in its own statistics row and sums them on read', () => {
    const s = SharedState.create(cap);
    const w0 = s.statsWriter(0);
    const w2 = s.statsWriter(2);
    w0.request(1, 2, 2, 0.003);
    w2.request(1, 2, 2, 0.2);
    w2.request(1, -1, 4, 0.0001);
    w0.listener(1, 'downstream_bytes_in', 10);
    w2.listener(1, 'downstream_bytes_in', 5);
    w0.cluster(2, 'retries', 1);
    w2.endpoint(4, 'requests', 3);
    expect(s.requests(1, 2, 2)).toBe(2);
    expect(s.requests(1, -1, 4)).toBe(1);
    expect(s.requests(0, 2, 2)).toBe(0);
    expect(s.listenerStat(1, 'downstream_bytes_in')).toBe(15);
    expect(s.threadListenerStat(2, 1, 'downstream_bytes_in')).toBe(5);
    expect(s.clusterStat(2, 'retries')).toBe(1);
    expect(s.endpointStat(4, 'requests')).toBe(3);
    const h = s.durationHistogram(1);
    expect(h.count).toBe(3);
    expect(h.sum).toBeCloseTo(0.2031, 10);
    expect(h.buckets[durationBucket(0.0001)]).toBe(1);
    expect(h.buckets[durationBucket(0.003)]).toBe(1);
    expect(h.buckets[durationBucket(0.2)]).toBe(1);
  });

  it('computes statistics offsets that do not overlap', () => {
    const l = computeLayout(cap);
    const r = l.row;
    expect(r.durationAt).toBe(r.requestsAt + cap.maxListeners * (cap.maxClusters + 1) * CODE_CLASSES.length);
    expect(r.listenerStatsAt).toBe(r.durationAt + cap.maxListeners * (DURATION_BUCKETS.length + 2));
    expect(r.clusterStatsAt).toBe(r.listenerStatsAt + cap.maxListeners * LISTENER_STATS.length);
    expect(r.endpointStatsAt).toBe(r.clusterStatsAt + cap.maxClusters * CLUSTER_STATS.length);
    expect(r.routeRequestsAt).toBe(r.endpointStatsAt + cap.maxEndpoints * ENDPOINT_STATS.length);
    expect(l.byteLength).toBe((l.statsAt + l.rowLength * cap.maxThreads) * 8);
    expect((l.endpointTimesAt * 8) % 8).toBe(0);
    expect(l.endpointTimesAt * 2).toBeGreaterThanOrEqual(l.int32Length);
  });

  it('attaches in another context to the same memory', () => {
    const s = SharedState.create(cap);
    const t = SharedState.attach(s.buffer);
    s.setEndpoint(3, 'rq_active', 7);
    t.addEndpoint(3, 'rq_active', 1);
    expect(s.endpoint(3, 'rq_active')).toBe(8);
    expect(t.layout).toEqual(s.layout);
    expect(() => SharedState.attach(new SharedArrayBuffer(64))).toThrow(/unknown layout/);
  });

  it('refuses a statistics row that does not exist', () => {
    const s = SharedState.create(cap);
    expect(() => s.statsWriter(cap.maxThreads)).toThrow(RangeError);
  });

  it('shares one round-robin sequence per cluster', () => {
    const s = SharedState.create(cap);
    expect([s.nextSequence(1), s.nextSequence(1), s.nextSequence(0), s.nextSequence(1)]).toEqual([0, 1, 0, 2]);
  });
});

describe('SlotAllocator', () => {
  it('hands out distinct slots until full', () => {
    const a = new SlotAllocator(3);
    expect([a.alloc(), a.alloc(), a.alloc(), a.alloc()]).toEqual([0, 1, 2, -1]);
    expect(a.inUse).toBe(3);
  });

  it('reuses released slots, lowest first, without moving the others', () => {
    const a = new SlotAllocator(5);
    for (let i = 0; i < 5; i++) a.alloc();
    a.release(3);
    a.release(1);
    expect(a.isUsed(0) && a.isUsed(2) && a.isUsed(4)).toBe(true);
    expect(a.alloc()).toBe(1);
    expect(a.alloc()).toBe(3);
    expect(a.alloc()).toBe(-1);
  });

  it('rejects releasing a slot twice', () => {
    const a = new SlotAllocator(2);
    const s = a.alloc();
    a.release(s);
    expect(() => a.release(s)).toThrow(RangeError);
  });
});
