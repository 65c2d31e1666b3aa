import { HEALTH_EJECTED, OUTLIER_EJECTED, OUTLIER_NONE, OUTLIER_OVERFLOW, type UpstreamResult } from '@pillion/core';
import { describe, expect, it } from 'vitest';
import { SharedOutlier, outlierConfigOf, returnIfDue } from '../src/worker/outlier.js';
import { Process, configWith, picks } from './lb-fixtures.js';

const N = OUTLIER_NONE;
const E = OUTLIER_EJECTED;
const O = OUTLIER_OVERFLOW;

function setup(outlier: Record<string, unknown>, endpoints = 4) {
  const p = new Process(
    configWith({ endpoints: Array.from({ length: endpoints }, (_, i) => ({ port: 1001 + i })), outlier_detection: { base_ejection_time: '1s', ...outlier } }),
  );
  const cluster = p.snapshot.clusters[0]!;
  // Two workers: each its own detector over the same slots.
  const workers = [0, 1].map(() => new SharedOutlier(p.state, cluster.slot, outlierConfigOf(cluster.config.outlier_detection!), p.clock.now));
  return { p, cluster, workers };
}

describe('outlier detection counted across workers', () => {
  it.each<[string, Record<string, unknown>, UpstreamResult[], number[]]>([
    ['5xx in a row, alternating workers', { consecutive_5xx: 3 }, [500, 503, 500], [N, N, E]],
    ['a success in between starts over', { consecutive_5xx: 3 }, [500, 500, 200, 500, 500, 500], [N, N, N, N, N, E]],
    ['gateway failures: connect failure, reset, timeout', { consecutive_5xx: 0, consecutive_gateway_failure: 3 }, ['connect-failure', 'reset', 'timeout'], [N, N, E]],
    ['a plain 500 breaks the gateway streak', { consecutive_5xx: 0, consecutive_gateway_failure: 2 }, [502, 500, 502, 504], [N, N, N, E]],
    ['4xx is a success', { consecutive_5xx: 2 }, [500, 404, 500, 500], [N, N, N, E]],
  ])('%s', (_name, cfg, results, verdicts) => {
    const { p, cluster, workers } = setup(cfg);
    const slot = p.slotOf(1001);
    const got = results.map((r, i) => workers[i % 2]!.record(slot, r, 4));
    expect(got).toEqual(verdicts);
    const ejected = verdicts.includes(E);
    expect((p.state.endpoint(slot, 'health') & HEALTH_EJECTED) !== 0).toBe(ejected);
    expect(p.state.cluster(cluster.slot, 'ejected_count')).toBe(ejected ? 1 : 0);
    expect(p.state.cluster(cluster.slot, 'membership_generation')).toBe(ejected ? 1 : 0);
    if (ejected) expect(p.state.endpointTime(slot, 'ejected_until')).toBe(p.clock.t + 1000);
  });

  it('keeps max_ejection_percent, letting one endpoint out always', () => {
    const { p, cluster, workers } = setup({ consecutive_5xx: 1, max_ejection_percent: 30 });
    // 30% of 4: one may be out (the first is always allowed), a second would make 50%.
    expect(workers[0]!.record(p.slotOf(1001), 500, 4)).toBe(E);
    expect(workers[1]!.record(p.slotOf(1002), 500, 4)).toBe(O);
    expect(p.state.cluster(cluster.slot, 'ejected_count')).toBe(1);
    expect(p.state.endpoint(p.slotOf(1002), 'health') & HEALTH_EJECTED).toBe(0);
    expect(p.state.endpoint(p.slotOf(1002), 'consecutive_5xx')).toBe(0);
  });

  it('returns after the ejection time, and ejects for longer the next time', () => {
    const { p, cluster, workers } = setup({ consecutive_5xx: 1 });
    const slot = p.slotOf(1001);
    expect(workers[0]!.record(slot, 500, 4)).toBe(E);
    p.clock.t += 999;
    expect(returnIfDue(p.state, cluster.slot, slot, p.clock.t)).toBe(false);
    // Results of requests still in flight while ejected do not count.
    expect(workers[1]!.record(slot, 500, 4)).toBe(N);
    p.clock.t += 1;
    expect(returnIfDue(p.state, cluster.slot, slot, p.clock.t)).toBe(true);
    expect(returnIfDue(p.state, cluster.slot, slot, p.clock.t)).toBe(false);
    expect(p.state.endpoint(slot, 'health') & HEALTH_EJECTED).toBe(0);
    expect(p.state.cluster(cluster.slot, 'ejected_count')).toBe(0);
    expect(p.state.cluster(cluster.slot, 'membership_generation')).toBe(2);
    expect(workers[1]!.record(slot, 503, 4)).toBe(E);
    expect(p.state.endpoint(slot, 'times_ejected')).toBe(2);
    expect(p.state.endpointTime(slot, 'ejected_until')).toBe(p.clock.t + 2000);
  });

  it('takes no lock and writes nothing for a success on a clean endpoint', () => {
    const { p, workers } = setup({ consecutive_5xx: 2 });
    const slot = p.slotOf(1001);
    p.state.setEndpoint(slot, 'outlier_lock', 1); // a held lock would spin: the fast path must not touch it
    expect(workers[0]!.record(slot, 200, 4)).toBe(N);
    p.state.setEndpoint(slot, 'outlier_lock', 0);
  });
});

describe('ejection seen by the balancer', () => {
  it('drops the ejected endpoint from every worker and takes it back when its time is up', () => {
    const { p } = setup({ consecutive_5xx: 2, max_ejection_percent: 50 }, 2);
    const w0 = p.worker(0);
    const w1 = p.worker(1);
    const a = w0.pick({ headers: undefined as never, clientAddress: '', lbScratch: null }, 0)!;
    expect(a.port).toBe(1001);
    w0.onResult(a, 503);
    w1.onResult(a, 503);
    expect(p.state.clusterStat(p.snapshot.clusters[0]!.slot, 'outlier_ejections')).toBe(1);
    expect(picks(w0, 3)).toEqual([1002, 1002, 1002]);
    expect(picks(w1, 3)).toEqual([1002, 1002, 1002]);
    p.clock.t += 1000;
    // The first pick after the deadline ends the ejection for everyone.
    expect(picks(w1, 2).sort()).toEqual([1001, 1002]);
    expect(picks(w0, 2).sort()).toEqual([1001, 1002]);
  });
});
