import { describe, expect, it } from 'vitest';
import { BREAKER_ADMIT, BREAKER_CLOSED, BREAKER_HALF_OPEN, BREAKER_OPEN, BREAKER_PROBE, BREAKER_REJECT, SharedState } from '@pillion/core';
import { SharedFailureBreaker, releaseBreakerProbes } from '../src/worker/failure-breaker.js';

const cfg = { windowMs: 10_000, buckets: 10, failureRateThreshold: 50, minimumRequests: 4, sleepWindowMs: 30_000, halfOpenRequests: 2 };

function twoWorkers() {
  const state = SharedState.create({ maxClusters: 1, maxEndpoints: 2, maxListeners: 1, maxThreads: 3 });
  let now = 1_000_000;
  const clock = () => now;
  // Two breakers over the same memory stand for two worker threads.
  const a = new SharedFailureBreaker(SharedState.attach(state.buffer), cfg, clock);
  const b = new SharedFailureBreaker(SharedState.attach(state.buffer), cfg, clock);
  return { state, a, b, advance: (ms: number) => (now += ms) };
}

describe('shared failure-rate breaker', () => {
  it('opens on failures seen by any worker, sleeps, probes and closes', () => {
    const { state, a, b, advance } = twoWorkers();
    // Scripted timeline: [worker, success] results, then the phase expected after each.
    const steps: [SharedFailureBreaker, boolean, number][] = [
      [a, true, BREAKER_CLOSED],
      [b, false, BREAKER_CLOSED],
      [a, false, BREAKER_CLOSED],
      [b, false, BREAKER_OPEN], // 3 failures of 4 = 75% >= 50%, minimum 4 reached
    ];
    for (const [w, ok, phase] of steps) {
      expect(w.acquire(0)).toBe(BREAKER_ADMIT);
      expect(w.record(0, ok, false)).toBe(phase);
    }
    expect(a.acquire(0)).toBe(BREAKER_REJECT);
    expect(b.acquire(0)).toBe(BREAKER_REJECT);
    advance(29_999);
    expect(a.acquire(0)).toBe(BREAKER_REJECT);
    advance(1);
    // Half-open: two probes in all, whichever worker asks.
    expect(a.acquire(0)).toBe(BREAKER_PROBE);
    expect(state.endpoint(0, 'frb_phase')).toBe(BREAKER_HALF_OPEN);
    expect(b.acquire(0)).toBe(BREAKER_PROBE);
    expect(a.acquire(0)).toBe(BREAKER_REJECT);
    expect(a.record(0, true, true)).toBe(BREAKER_HALF_OPEN);
    expect(b.record(0, true, true)).toBe(BREAKER_CLOSED);
    expect(a.acquire(0)).toBe(BREAKER_ADMIT);
    // The other endpoint's breaker never moved.
    expect(state.endpoint(1, 'frb_phase')).toBe(BREAKER_CLOSED);
  });

  it('re-opens when a probe fails and gives back a probe that ended without a verdict', () => {
    const { a, b, advance } = twoWorkers();
    for (let i = 0; i < 4; i++) {
      a.acquire(0);
      a.record(0, false, false);
    }
    advance(30_000);
    expect(a.acquire(0)).toBe(BREAKER_PROBE);
    a.releaseProbe(0); // client went away
    expect(b.acquire(0)).toBe(BREAKER_PROBE);
    expect(b.record(0, false, true)).toBe(BREAKER_OPEN);
    expect(a.acquire(0)).toBe(BREAKER_REJECT);
  });

  it('forgets failures that fall out of the window', () => {
    const { a, advance } = twoWorkers();
    for (let i = 0; i < 3; i++) {
      a.acquire(0);
      a.record(0, false, false);
    }
    advance(10_000);
    a.acquire(0);
    expect(a.record(0, false, false)).toBe(BREAKER_CLOSED); // only 1 in the window now
  });

  it('gives back the probes of a worker that died: the breaker can probe again instead of refusing for good', () => {
    const { state, a, b, advance } = twoWorkers();
    for (let i = 0; i < 4; i++) {
      a.acquire(0);
      a.record(0, false, false);
    }
    advance(cfg.sleepWindowMs);
    // Worker b takes both probes and dies with them in flight.
    expect([b.acquire(0), b.acquire(0)]).toEqual([BREAKER_PROBE, BREAKER_PROBE]);
    expect(a.acquire(0)).toBe(BREAKER_REJECT);
    expect(state.endpoint(0, 'frb_phase')).toBe(BREAKER_HALF_OPEN);
    // Endpoint 1 has no breaker activity: left alone.
    expect(releaseBreakerProbes(state, [0, 1])).toBe(2);
    expect(a.acquire(0)).toBe(BREAKER_PROBE);
    expect(a.record(0, true, true)).toBe(BREAKER_HALF_OPEN);
    expect(a.acquire(0)).toBe(BREAKER_PROBE);
    expect(a.record(0, true, true)).toBe(BREAKER_CLOSED);
  });
});
