import { describe, expect, it } from 'vitest';
import { SharedState, parseConfig, EndpointState, HEALTH_ACTIVE_FAILED, HEALTH_EJECTED, HEALTH_UNKNOWN } from '@pillion/core';
import { WeightUpdater } from '../src/supervisor/weight-updater.js';
import type { RuntimeSnapshot } from '../src/messages.js';

function setup(cluster: Record<string, unknown>, workers = 2) {
  const config = parseConfig({
    listeners: [{ name: 'l', protocol: 'http', port: 1, routes: [{ match: { prefix: '/' }, cluster: 'c' }] }],
    clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: 1, weight: 2 }], ...cluster }],
  });
  const state = SharedState.create({ maxClusters: 2, maxEndpoints: 4, maxListeners: 1, maxThreads: workers + 1 });
  const snapshot: RuntimeSnapshot = {
    generation: 1,
    config,
    listenerSlots: { l: 0 },
    clusters: [{ slot: 0, name: 'c', config: config.clusters[0]!, endpoints: [{ slot: 0, address: '127.0.0.1', port: 1, weight: 2, zone: '', key: '127.0.0.1:1' }] }],
  };
  let now = 1_000_000;
  state.setEndpoint(0, 'state', EndpointState.Active);
  state.setEndpoint(0, 'weight', 2);
  state.setEndpoint(0, 'effective_weight_milli', 2000);
  state.setEndpointTime(0, 'added_at', now);
  state.setEndpointTime(0, 'healthy_since', now);
  const updater = new WeightUpdater({ state, snapshot: () => snapshot, workers, now: () => now });
  return { state, updater, advance: (ms: number) => (now += ms), at: () => now };
}

describe('weight updater', () => {
  it('ramps a recovered endpoint along the slow-start curve and bumps the generation', () => {
    const { state, updater, advance, at } = setup({ slow_start: { window: '10s', aggression: 1, min_weight_percent: 10 } });
    // Initial endpoints do not ramp without at_start.
    expect(updater.update()).toBe(0);
    advance(60_000);
    state.setEndpointTime(0, 'healthy_since', at()); // it failed and came back
    const table: [number, number][] = [
      [0, 200], // 10% floor of weight 2
      [2500, 500], // 25%
      [5000, 1000],
      [7500, 1500],
      [10_000, 2000],
    ];
    let gen = state.cluster(0, 'membership_generation');
    for (const [t, milli] of table) {
      const base = at();
      advance(t - (base - state.endpointTime(0, 'healthy_since')));
      updater.update();
      expect(state.endpoint(0, 'effective_weight_milli')).toBe(milli);
      const g = state.cluster(0, 'membership_generation');
      expect(g).toBeGreaterThan(gen);
      gen = g;
    }
  });

  it('ramps an initial endpoint that fails and recovers in its first seconds, from the floor', () => {
    const { state, updater, advance, at } = setup({ slow_start: { window: '10s', aggression: 1, min_weight_percent: 10 } });
    expect(updater.update()).toBe(0); // settled healthy at start: no ramp
    advance(1000);
    state.orEndpoint(0, 'health', HEALTH_ACTIVE_FAILED);
    updater.update();
    // Out of service: already at the floor, so its return starts there.
    expect(state.endpoint(0, 'effective_weight_milli')).toBe(200);
    advance(2000);
    state.setEndpointTime(0, 'healthy_since', at());
    state.andEndpoint(0, 'health', ~HEALTH_ACTIVE_FAILED);
    const table: [number, number][] = [
      [0, 200],
      [5000, 1000],
      [10_000, 2000],
    ];
    for (const [t, milli] of table) {
      advance(t - (at() - state.endpointTime(0, 'healthy_since')));
      updater.update();
      expect([t, state.endpoint(0, 'effective_weight_milli')]).toEqual([t, milli]);
    }
  });

  it('holds an ejected endpoint at the floor, so it comes back (in a worker, between ticks) at the floor and ramps', () => {
    const { state, updater, advance, at } = setup({ slow_start: { window: '10s', aggression: 1, min_weight_percent: 10 } });
    updater.update();
    advance(60_000);
    state.orEndpoint(0, 'health', HEALTH_EJECTED);
    state.setEndpointTime(0, 'ejected_until', at() + 30_000);
    updater.update();
    expect(state.endpoint(0, 'effective_weight_milli')).toBe(200);
    // The ejection runs out and a worker clears the flag before the next tick: the weight is still the floor.
    advance(30_000);
    state.andEndpoint(0, 'health', ~HEALTH_EJECTED);
    expect(state.endpoint(0, 'effective_weight_milli')).toBe(200);
    advance(2500);
    updater.update();
    expect(state.endpoint(0, 'effective_weight_milli')).toBe(500); // 25% of the window since the return
  });

  it('ramps an initial endpoint whose first health check failed once it passes', () => {
    const { state, updater, advance, at } = setup({ slow_start: { window: '10s', aggression: 1, min_weight_percent: 10 } });
    state.setEndpoint(0, 'health', HEALTH_UNKNOWN);
    expect(updater.update()).toBe(0);
    advance(500);
    state.setEndpoint(0, 'health', HEALTH_ACTIVE_FAILED);
    updater.update();
    expect(state.endpoint(0, 'effective_weight_milli')).toBe(200);
    advance(4000);
    state.setEndpointTime(0, 'healthy_since', at());
    state.setEndpoint(0, 'health', 0);
    advance(5000);
    updater.update();
    expect(state.endpoint(0, 'effective_weight_milli')).toBe(1000);
  });

  it('ramps initial endpoints too with at_start, faster with more aggression', () => {
    const { state, updater, advance } = setup({ slow_start: { window: '10s', aggression: 2, min_weight_percent: 0, at_start: true } });
    advance(2500);
    updater.update();
    // (0.25)^(1/2) = 0.5 of weight 2
    expect(state.endpoint(0, 'effective_weight_milli')).toBe(1000);
  });

  it('gives a cold pool a reduced share until every worker reports it warm', () => {
    const { state, updater } = setup({ pool: { warmup: { connections: 2 } } }, 2);
    updater.update();
    expect(state.endpoint(0, 'effective_weight_milli')).toBe(200); // floor: 10% of 2
    state.addEndpoint(0, 'warm_pools', 1);
    updater.update();
    expect(state.endpoint(0, 'effective_weight_milli')).toBe(1000); // half the workers warm
    state.addEndpoint(0, 'warm_pools', 1);
    updater.update();
    expect(state.endpoint(0, 'effective_weight_milli')).toBe(2000);
  });

  it('leaves clusters without slow start or warm-up alone', () => {
    const { state, updater } = setup({});
    state.setEndpoint(0, 'effective_weight_milli', 1234);
    expect(updater.update()).toBe(0);
    expect(state.endpoint(0, 'effective_weight_milli')).toBe(1234);
  });
});
