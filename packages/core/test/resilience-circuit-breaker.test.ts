import { describe, expect, it } from 'vitest';
import {
  BREAKER_ADMIT,
  BREAKER_CLOSED,
  BREAKER_HALF_OPEN,
  BREAKER_OPEN,
  BREAKER_PROBE,
  BREAKER_REJECT,
  breakerAcquire,
  breakerPhaseAt,
  breakerRecord,
  breakerReleaseProbe,
  canAcquire,
  createBreakerState,
  DEFAULT_FAILURE_RATE_BREAKER,
  DEFAULT_RESOURCE_LIMITS,
  rejectingLimit,
  windowCounts,
} from '../src/resilience/index.js';
import type { BreakerState, FailureRateBreakerConfig, ResourceCounters, ResourceKind } from '../src/resilience/index.js';

describe('resource limits', () => {
  it('defaults are 1024 / 1024 / 1024 / 3', () => {
    expect(DEFAULT_RESOURCE_LIMITS).toEqual({
      maxConnections: 1024,
      maxPendingRequests: 1024,
      maxRequests: 1024,
      maxRetries: 3,
    });
    expect(Object.isFrozen(DEFAULT_RESOURCE_LIMITS)).toBe(true);
  });

  const limits = { maxConnections: 4, maxPendingRequests: 2, maxRequests: 10, maxRetries: 0 };
  const at = (c: Partial<ResourceCounters>): ResourceCounters => ({
    connections: 0,
    pendingRequests: 0,
    requests: 0,
    retries: 0,
    ...c,
  });

  it.each<[ResourceKind, Partial<ResourceCounters>, string | undefined]>([
    ['connection', { connections: 3 }, undefined],
    ['connection', { connections: 4 }, 'max_connections'],
    ['connection', { requests: 10 }, undefined], // only its own limit counts
    ['pending-request', { pendingRequests: 1 }, undefined],
    ['pending-request', { pendingRequests: 2 }, 'max_pending_requests'],
    ['request', { requests: 9 }, undefined],
    ['request', { requests: 10 }, 'max_requests'],
    ['request', { requests: 11 }, 'max_requests'],
    ['retry', { retries: 0 }, 'max_retries'], // a limit of 0 admits nothing
  ])('%s with %j → %s', (kind, counters, limit) => {
    expect(rejectingLimit(kind, at(counters), limits)).toBe(limit);
    expect(canAcquire(kind, at(counters), limits)).toBe(limit === undefined);
  });

  it('Infinity admits everything', () => {
    const open = { maxConnections: Infinity, maxPendingRequests: Infinity, maxRequests: Infinity, maxRetries: Infinity };
    expect(rejectingLimit('retry', at({ retries: 1e9 }), open)).toBeUndefined();
  });
});

const cfg: FailureRateBreakerConfig = {
  windowMs: 10_000,
  buckets: 10,
  failureRateThreshold: 50,
  minimumRequests: 4,
  sleepWindowMs: 30_000,
  halfOpenRequests: 2,
};

type Step =
  | ['acquire', number, number] // time, expected admission
  | ['record', number, boolean, boolean, number] // time, success, probe, expected phase
  | ['release', number]
  | ['counts', number, number, number] // time, failures, total
  | ['phaseAt', number, number];

function run(b: BreakerState, steps: Step[], c = cfg): void {
  steps.forEach((step, i) => {
    switch (step[0]) {
      case 'acquire':
        expect([i, breakerAcquire(b, step[1], c)]).toEqual([i, step[2]]);
        break;
      case 'record':
        expect([i, breakerRecord(b, step[2], step[3], step[1], c)]).toEqual([i, step[4]]);
        break;
      case 'release':
        breakerReleaseProbe(b);
        break;
      case 'counts':
        expect([i, windowCounts(b, step[1], c)]).toEqual([i, [step[2], step[3]]]);
        break;
      case 'phaseAt':
        expect([i, breakerPhaseAt(b, step[1], c)]).toEqual([i, step[2]]);
        break;
    }
  });
}

const C = BREAKER_CLOSED;
const O = BREAKER_OPEN;
const H = BREAKER_HALF_OPEN;

describe('failure-rate breaker', () => {
  const fullCycle: Step[] = [
    ['acquire', 0, BREAKER_ADMIT],
    ['record', 0, true, false, C],
    ['record', 1_000, false, false, C],
    ['record', 2_000, false, false, C], // 2 of 3 failed, but fewer than minimumRequests
    ['counts', 2_500, 2, 3],
    ['record', 3_000, true, false, O], // 4 results, 2 failures = 50%: opens
    ['counts', 3_000, 0, 0], // opening clears the window
    ['acquire', 3_001, BREAKER_REJECT],
    ['phaseAt', 32_999, O],
    ['acquire', 32_999, BREAKER_REJECT],
    ['record', 20_000, false, false, O], // late result of a request sent before it opened: dropped
    ['phaseAt', 33_000, H],
    ['acquire', 33_000, BREAKER_PROBE], // sleep window over: half-open
    ['acquire', 33_001, BREAKER_PROBE],
    ['acquire', 33_002, BREAKER_REJECT], // two probes already out
    ['record', 33_100, false, false, H], // an ordinary straggler does not count as a probe
    ['record', 33_200, true, true, H],
    ['acquire', 33_300, BREAKER_REJECT], // one out, one succeeded: the quota is used
    ['record', 33_400, true, true, C], // second success closes
    ['acquire', 33_500, BREAKER_ADMIT],
    ['counts', 33_500, 0, 0],
  ];

  it('closed → open → half-open → closed', () => {
    run(createBreakerState(10), fullCycle);
  });

  it('the same timeline on Int32Array buckets', () => {
    const b = createBreakerState(10);
    b.successes = new Int32Array(10);
    b.failures = new Int32Array(10);
    run(b, fullCycle);
  });

  it('a failed probe reopens for another sleep window', () => {
    run(createBreakerState(10), [
      ['record', 0, false, false, C],
      ['record', 0, false, false, C],
      ['record', 0, false, false, C],
      ['record', 0, false, false, O],
      ['acquire', 30_000, BREAKER_PROBE],
      ['acquire', 30_000, BREAKER_PROBE],
      ['record', 30_500, false, true, O],
      ['record', 30_600, true, true, O], // the other probe's success comes too late
      ['acquire', 30_700, BREAKER_REJECT],
      ['phaseAt', 60_499, O],
      ['acquire', 60_500, BREAKER_PROBE],
      ['record', 60_600, true, true, H],
      ['acquire', 60_700, BREAKER_PROBE],
      ['record', 60_800, true, true, C],
    ]);
  });

  it('a released probe frees its slot', () => {
    run(createBreakerState(10), [
      ['record', 0, false, false, C],
      ['record', 0, false, false, C],
      ['record', 0, false, false, C],
      ['record', 0, false, false, O],
      ['acquire', 30_000, BREAKER_PROBE],
      ['acquire', 30_000, BREAKER_PROBE],
      ['acquire', 30_000, BREAKER_REJECT],
      ['release', 30_100],
      ['acquire', 30_200, BREAKER_PROBE],
    ]);
  });

  it('old buckets roll out of the window', () => {
    run(createBreakerState(10), [
      ['record', 0, false, false, C],
      ['record', 1_000, false, false, C],
      ['record', 2_000, false, false, C],
      ['counts', 9_999, 3, 3],
      ['counts', 10_000, 2, 2], // the bucket of t=0 is gone
      ['record', 10_000, true, false, C], // 2 failures of 3
      ['record', 10_500, false, false, O], // 3 of 4 = 75%
    ]);
    run(createBreakerState(10), [
      ['record', 0, false, false, C],
      ['record', 0, false, false, C],
      ['record', 0, false, false, C],
      ['counts', 25_000, 0, 0], // a long quiet spell empties the window
      ['record', 25_000, false, false, C],
    ]);
  });

  it('below the failure rate it stays closed however many requests', () => {
    const b = createBreakerState(10);
    for (let i = 0; i < 100; i++) {
      expect(breakerRecord(b, i % 5 !== 0, false, i * 50, cfg)).toBe(C); // 20% failures
    }
    expect(windowCounts(b, 4_999, cfg)).toEqual([20, 100]);
  });

  it('opens exactly at the threshold with the default config (50% of at least 20)', () => {
    const d = DEFAULT_FAILURE_RATE_BREAKER;
    const b = createBreakerState(d.buckets);
    const phases: number[] = [];
    for (let i = 0; i < 20; i++) phases.push(breakerRecord(b, i % 2 === 0, false, i, d));
    expect(phases.slice(0, 19).every((p) => p === C)).toBe(true);
    expect(phases[19]).toBe(O);
    expect(b.openedAt).toBe(19);
  });
});
