/**
 * Route statistics slots: keyed by listener and route name (`route-N` when unnamed), stable across
 * reloads that reorder routes, shared by equal names, bounded by capacity.max_routes.
 */
import { describe, expect, it } from 'vitest';
import { SharedState, validateConfig, type Config } from '@pillion/core';
import { SlotRegistry } from '../src/supervisor/slot-registry.js';
import { routeSlots } from '../src/supervisor/latency-metrics.js';

function config(routes: Record<string, unknown>[][], maxRoutes = 8): Config {
  const r = validateConfig({
    workers: 1,
    capacity: { max_routes: maxRoutes },
    listeners: routes.map((rs, i) => ({ name: `l${i}`, protocol: 'http', port: 1000 + i, routes: rs })),
    clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: 9 }] }],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config;
}
const route = (prefix: string, name?: string) => ({ ...(name === undefined ? {} : { name }), match: { prefix }, cluster: 'c' });
const state = (maxRoutes: number) => SharedState.create({ maxClusters: 2, maxEndpoints: 2, maxListeners: 2, maxThreads: 2, maxRoutes });

describe('route statistics slots', () => {
  it('keep a named route\'s slot when routes are reordered, per listener', () => {
    const reg = new SlotRegistry(state(8));
    const first = reg.snapshot(config([[route('/a', 'a'), route('/b', 'b')], [route('/a', 'a')]]));
    expect(first.routeSlots).toEqual({ l0: [0, 1], l1: [2] });
    const second = reg.snapshot(config([[route('/b', 'b'), route('/x', 'x'), route('/a', 'a')], [route('/a', 'a')]]));
    expect(second.routeSlots).toEqual({ l0: [1, 3, 0], l1: [2] });
    expect(reg.routeSlot('l0', 'x')).toBe(3);
    expect(routeSlots(second)).toEqual([
      ['l0', 'b', 1],
      ['l0', 'x', 3],
      ['l0', 'a', 0],
      ['l1', 'a', 2],
    ]);
  });

  it('names an unnamed route by its index, and lists a name shared by two routes once', () => {
    const reg = new SlotRegistry(state(8));
    const snap = reg.snapshot(config([[route('/a'), route('/b', 'same'), route('/c', 'same'), route('/d')]]));
    expect(snap.routeSlots).toEqual({ l0: [0, 1, 1, 2] });
    expect(routeSlots(snap)).toEqual([
      ['l0', 'route-0', 0],
      ['l0', 'same', 1],
      ['l0', 'route-3', 2],
    ]);
  });

  it('refuses a config whose new route names do not fit, before taking any slot', () => {
    const reg = new SlotRegistry(state(3));
    reg.snapshot(config([[route('/a', 'a'), route('/b', 'b')]], 3));
    expect(reg.capacityProblem(config([[route('/a', 'a'), route('/c', 'c')]], 3))).toBeUndefined();
    expect(reg.capacityProblem(config([[route('/c', 'c'), route('/d', 'd')]], 3))).toMatch(/capacity\.max_routes \(3\) reached: 2 new route names, 1 slots free/);
    expect(reg.routeSlot('l0', 'c')).toBeUndefined();
  });

  it('rejects more routes than capacity.max_routes in the config itself', () => {
    const r = validateConfig({
      workers: 1,
      capacity: { max_routes: 1 },
      listeners: [{ name: 'l', protocol: 'http', port: 1, routes: [route('/a'), route('/b')] }],
      clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: 9 }] }],
    });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.map((p) => p.message)).toContain('has 2 HTTP routes, more than capacity.max_routes (1)');
  });

  it('keeps no route slots without route capacity', () => {
    expect(new SlotRegistry(state(0)).snapshot(config([[route('/a', 'a')]])).routeSlots).toEqual({});
  });
});
