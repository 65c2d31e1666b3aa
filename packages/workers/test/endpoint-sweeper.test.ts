import { EndpointState, HEALTH_EJECTED } from '@pillion/core';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { EndpointSweeper } from '../src/supervisor/endpoint-sweeper.js';
import { SharedOutlier, outlierConfigOf } from '../src/worker/outlier.js';
import { Process, configWith } from './lb-fixtures.js';

const silent = pino({ level: 'silent' });

function setup() {
  const p = new Process(configWith({ endpoints: [{ port: 1001 }, { port: 1002 }], outlier_detection: { consecutive_5xx: 1, base_ejection_time: '1s', max_ejection_percent: 50 } }));
  const sweeper = new EndpointSweeper(p.state, p.slots, silent, () => 30_000, p.clock.now);
  return { p, sweeper };
}

describe('removed endpoints drain, then free their slot', () => {
  it('marks a removed endpoint draining and frees it once every worker moved on and it is idle', () => {
    const { p, sweeper } = setup();
    const prev = p.snapshot;
    const gone = p.slotOf(1002);
    p.state.addEndpoint(gone, 'rq_active', 1); // a request still in flight on it
    const next = p.slots.snapshot(configWith({ endpoints: [{ port: 1001 }, { port: 1003 }] }));
    const left = sweeper.retire(prev, next);
    expect(left.map((d) => d.key)).toEqual(['127.0.0.1:1002']);
    expect(p.state.cluster(next.clusters[0]!.slot, 'membership_generation')).toBe(1);

    let appliedGeneration = prev.generation;
    const applied = (g: number) => appliedGeneration >= g;
    sweeper.sweep(next, applied);
    // A worker still runs the old config: it may pick the endpoint, so it is not marked yet.
    expect(p.state.endpoint(gone, 'state')).toBe(EndpointState.Active);
    appliedGeneration = next.generation;
    sweeper.sweep(next, applied);
    expect(p.state.endpoint(gone, 'state')).toBe(EndpointState.Draining);
    expect(p.state.cluster(next.clusters[0]!.slot, 'membership_generation')).toBe(2);
    expect(p.slots.endpointSlot('c', '127.0.0.1:1002')).toBe(gone); // a request is still in flight
    p.state.addEndpoint(gone, 'rq_active', -1);
    sweeper.sweep(next, applied);
    expect(p.slots.endpointSlot('c', '127.0.0.1:1002')).toBeUndefined();
    expect(sweeper.drainingEndpoints).toEqual([]);
    expect(p.state.endpoint(gone, 'state')).toBe(EndpointState.Free);
  });

  it('gives an endpoint that comes back before it drained its old slot, live again', () => {
    const { p, sweeper } = setup();
    const slot = p.slotOf(1002);
    const first = p.snapshot;
    const without = p.slots.snapshot(configWith({ endpoints: [{ port: 1001 }] }));
    sweeper.retire(first, without);
    p.state.addEndpoint(slot, 'rq_active', 1);
    const back = p.slots.snapshot(configWith({ endpoints: [{ port: 1001 }, { port: 1002 }] }));
    sweeper.retire(without, back);
    expect(back.clusters[0]!.endpoints[1]!.slot).toBe(slot);
    expect(p.state.endpoint(slot, 'state')).toBe(EndpointState.Active);
    expect(sweeper.drainingEndpoints).toEqual([]);
  });

  it('ends ejections on an idle cluster and keeps the ejected count right when an ejected endpoint leaves', () => {
    const { p, sweeper } = setup();
    const c = p.snapshot.clusters[0]!;
    const outlier = new SharedOutlier(p.state, c.slot, outlierConfigOf(c.config.outlier_detection!), p.clock.now);
    outlier.record(p.slotOf(1001), 500, 2);
    expect(p.state.cluster(c.slot, 'ejected_count')).toBe(1);
    p.clock.t += 1000;
    sweeper.sweep(p.snapshot, () => true);
    expect(p.state.endpoint(p.slotOf(1001), 'health') & HEALTH_EJECTED).toBe(0);
    expect(p.state.cluster(c.slot, 'ejected_count')).toBe(0);

    outlier.record(p.slotOf(1002), 500, 2);
    const next = p.slots.snapshot(configWith({ endpoints: [{ port: 1001 }] }));
    sweeper.retire(p.snapshot, next);
    sweeper.sweep(next, () => true);
    expect(p.state.cluster(c.slot, 'ejected_count')).toBe(0);
  });
});

describe('slot capacity', () => {
  it('refuses a config that needs more slots than are free, counting draining endpoints', () => {
    const { p } = setup();
    const full = Array.from({ length: 32 }, (_, i) => ({ port: 2000 + i }));
    expect(p.slots.capacityProblem(configWith({ endpoints: full.slice(0, 30) }))).toBeUndefined();
    expect(p.slots.capacityProblem(configWith({ endpoints: full.slice(0, 31) }))).toMatch(/capacity.max_endpoints \(32\) reached: 31 new endpoints, 30 slots free/);
  });
});
