import { describe, expect, it } from 'vitest';
import { SharedState } from '../src/shared-state/shared-state.js';

const cap = { maxClusters: 2, maxEndpoints: 4, maxListeners: 1, maxThreads: 3, maxRoutes: 0 };

/** Two worker views of one buffer, holding as threads 0 and 1, and the supervisor's view. */
function threads() {
  const sup = SharedState.create(cap);
  const t0 = SharedState.attach(sup.buffer);
  t0.holdAs(0);
  const t1 = SharedState.attach(sup.buffer);
  t1.holdAs(1);
  return { sup, t0, t1 };
}

describe('what a thread holds', () => {
  it('gives back exactly the dead thread share of every held field', () => {
    const { sup, t0, t1 } = threads();
    // Table: [view, cluster field or endpoint field, slot, delta]
    t0.addCluster(1, 'cx_active', 3);
    t0.addCluster(1, 'rq_active', 2);
    t0.addCluster(1, 'rq_pending', 1);
    t0.addCluster(1, 'rq_retry_active', 1);
    t0.addEndpoint(2, 'cx_active', 3);
    t0.addEndpoint(2, 'rq_active', 2);
    t0.addEndpoint(2, 'warm_connections', 2);
    t0.addEndpoint(2, 'rq_active', -1); // one of its requests ended before it died
    t1.addCluster(1, 'cx_active', 5);
    t1.addCluster(1, 'rq_active', 4);
    t1.addEndpoint(2, 'cx_active', 5);
    t1.addEndpoint(2, 'rq_active', 4);

    expect(sup.releaseThread(0)).toBe(3 + 2 + 1 + 1 + 3 + 1 + 2);
    expect(sup.cluster(1, 'cx_active')).toBe(5);
    expect(sup.cluster(1, 'rq_active')).toBe(4);
    expect(sup.cluster(1, 'rq_pending')).toBe(0);
    expect(sup.cluster(1, 'rq_retry_active')).toBe(0);
    expect(sup.endpoint(2, 'cx_active')).toBe(5);
    expect(sup.endpoint(2, 'rq_active')).toBe(4);
    expect(sup.endpoint(2, 'warm_connections')).toBe(0);
    // Released once: a second release gives back nothing.
    expect(sup.releaseThread(0)).toBe(0);
    expect(sup.cluster(1, 'cx_active')).toBe(5);
  });

  it('does not count fields that are not held, nor adds made by a view holding nothing', () => {
    const { sup, t0 } = threads();
    t0.addCluster(0, 'membership_generation', 1);
    t0.addEndpoint(0, 'times_ejected', 1);
    sup.addCluster(0, 'cx_active', 2);
    expect(sup.releaseThread(0)).toBe(0);
    expect(sup.cluster(0, 'membership_generation')).toBe(1);
    expect(sup.cluster(0, 'cx_active')).toBe(2);
  });

  it('forgets every share of an endpoint slot that is cleared for reuse', () => {
    const { sup, t0, t1 } = threads();
    t0.addEndpoint(3, 'cx_active', 2);
    t1.addEndpoint(3, 'rq_active', 1);
    sup.clearEndpoint(3);
    expect(t0.heldEndpoint(0, 3, 'cx_active')).toBe(0);
    expect(t1.heldEndpoint(1, 3, 'rq_active')).toBe(0);
    t0.addEndpoint(3, 'cx_active', 1); // the slot's new endpoint
    expect(sup.releaseThread(0)).toBe(1);
    expect(sup.endpoint(3, 'cx_active')).toBe(0);
  });

  it('zeroes the dead thread share of the listener gauges', () => {
    const { sup } = threads();
    const w0 = sup.statsWriter(0);
    const w1 = sup.statsWriter(1);
    w0.listener(0, 'downstream_cx_active', 7);
    w0.listener(0, 'downstream_cx_total', 9);
    w1.listener(0, 'downstream_cx_active', 2);
    sup.releaseThread(0);
    expect(sup.listenerStat(0, 'downstream_cx_active')).toBe(2);
    expect(sup.listenerStat(0, 'downstream_cx_total')).toBe(9);
  });

  it('refuses a thread it has no row for', () => {
    const { sup } = threads();
    expect(() => sup.releaseThread(3)).toThrow(RangeError);
    expect(() => SharedState.attach(sup.buffer).holdAs(-1)).toThrow(RangeError);
  });
});
