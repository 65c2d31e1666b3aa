import { describe, expect, it } from 'vitest';
import {
  classifyUpstreamResult,
  countEjected,
  createOutlierState,
  decayedTimesEjected,
  DEFAULT_OUTLIER,
  ejectionAllowed,
  ejectionDurationMs,
  isEjected,
  observeOutlier,
  OUTLIER_EJECTED,
  OUTLIER_NONE,
  OUTLIER_OVERFLOW,
  RESULT_GATEWAY_FAILURE,
  RESULT_SERVER_ERROR,
  RESULT_SUCCESS,
  returnToService,
} from '../src/resilience/index.js';
import type { OutlierConfig, OutlierState, UpstreamResult } from '../src/resilience/index.js';

const cfg: OutlierConfig = {
  consecutive5xx: 5,
  consecutiveGatewayFailure: 3,
  baseEjectionTimeMs: 10_000,
  maxEjectionTimeMs: 35_000,
  maxEjectionPercent: 10,
  intervalMs: 10_000,
};

/** Feeds results at `now` to one endpoint alone in its cluster; returns the verdict of each. */
function feed(state: OutlierState, now: number, results: UpstreamResult[], c = cfg): number[] {
  return results.map((r) => observeOutlier(state, classifyUpstreamResult(r), now, c, 0, 1));
}

describe('classifyUpstreamResult', () => {
  it.each<[UpstreamResult, number]>([
    [200, RESULT_SUCCESS],
    [302, RESULT_SUCCESS],
    [404, RESULT_SUCCESS],
    [499, RESULT_SUCCESS],
    [500, RESULT_SERVER_ERROR],
    [501, RESULT_SERVER_ERROR],
    [502, RESULT_GATEWAY_FAILURE],
    [503, RESULT_GATEWAY_FAILURE],
    [504, RESULT_GATEWAY_FAILURE],
    [505, RESULT_SERVER_ERROR],
    [599, RESULT_SERVER_ERROR],
    [600, RESULT_SUCCESS],
    ['connect-failure', RESULT_GATEWAY_FAILURE],
    ['reset', RESULT_GATEWAY_FAILURE],
    ['timeout', RESULT_GATEWAY_FAILURE],
  ])('%s → %i', (result, cls) => {
    expect(classifyUpstreamResult(result)).toBe(cls);
  });
});

describe('counting', () => {
  it('five 500s in a row eject; a success in between starts over', () => {
    const s = createOutlierState();
    expect(feed(s, 0, [500, 500, 500, 500, 200, 500, 500, 500, 500])).toEqual(Array(9).fill(OUTLIER_NONE));
    expect(s).toMatchObject({ consecutive5xx: 4, consecutiveGatewayFailure: 0 });
    expect(feed(s, 1000, [500])).toEqual([OUTLIER_EJECTED]);
    expect(s).toEqual({ consecutive5xx: 0, consecutiveGatewayFailure: 0, timesEjected: 1, ejectedUntil: 11_000 });
  });

  it('a non-gateway 5xx breaks the gateway streak but extends the 5xx one', () => {
    const s = createOutlierState();
    expect(feed(s, 0, [502, 'reset', 500, 503])).toEqual([0, 0, 0, 0]);
    expect(s).toMatchObject({ consecutive5xx: 4, consecutiveGatewayFailure: 1 });
    expect(feed(s, 0, ['timeout'])).toEqual([OUTLIER_EJECTED]); // fifth 5xx, gateway streak only 2
  });

  it('three gateway failures eject before five 5xx', () => {
    const s = createOutlierState();
    expect(feed(s, 0, ['connect-failure', 504, 'reset'])).toEqual([0, 0, OUTLIER_EJECTED]);
  });

  it('4xx counts as success', () => {
    const s = createOutlierState();
    feed(s, 0, [503, 503, 404]);
    expect(s).toMatchObject({ consecutive5xx: 0, consecutiveGatewayFailure: 0 });
  });

  it('a threshold of 0 turns its rule off', () => {
    const s = createOutlierState();
    const off = { ...cfg, consecutive5xx: 0, consecutiveGatewayFailure: 0 };
    expect(feed(s, 0, Array(50).fill(503), off).every((v) => v === OUTLIER_NONE)).toBe(true);
    const only5xx = { ...cfg, consecutiveGatewayFailure: 0 };
    expect(feed(createOutlierState(), 0, [503, 503, 503, 503, 503], only5xx)).toEqual([0, 0, 0, 0, OUTLIER_EJECTED]);
  });
});

describe('ejection timeline of one endpoint', () => {
  it('returns by itself, escalates the ejection time up to the cap, and decays while healthy', () => {
    const s = createOutlierState();
    const gw: UpstreamResult[] = [503, 503, 503];
    // [time, results, verdict of the last, timesEjected, ejectedUntil]
    const timeline: Array<[number, UpstreamResult[], number, number, number]> = [
      [1_000, gw, OUTLIER_EJECTED, 1, 11_000], // 10 s
      [5_000, gw, OUTLIER_NONE, 1, 11_000], // ignored while ejected
      [10_999, [503], OUTLIER_NONE, 1, 11_000],
      [11_000, gw, OUTLIER_EJECTED, 2, 31_000], // back, fails at once: 20 s
      [31_000, gw, OUTLIER_EJECTED, 3, 61_000], // 30 s
      [61_000, gw, OUTLIER_EJECTED, 4, 96_000], // 40 s capped to 35 s
      [96_000, gw, OUTLIER_EJECTED, 4, 131_000], // at the cap the multiplier stops growing
      [156_000, gw, OUTLIER_EJECTED, 3, 186_000], // 25 s healthy: two intervals off, then +1
      [295_999, gw, OUTLIER_EJECTED, 1, 305_999], // 109.999 s healthy: 10 intervals decay it to 0
    ];
    for (const [now, results, verdict, times, until] of timeline) {
      const verdicts = feed(s, now, results);
      expect([now, verdicts[verdicts.length - 1], s.timesEjected, s.ejectedUntil]).toEqual([now, verdict, times, until]);
    }
  });

  it('isEjected switches at the deadline', () => {
    const s = createOutlierState();
    feed(s, 1_000, [503, 503, 503]);
    expect([isEjected(s, 0), isEjected(s, 10_999), isEjected(s, 11_000)]).toEqual([true, true, false]);
  });

  it.each([
    [0, 0, 0],
    [1, 10_000, 10_000],
    [2, 10_000, 20_000],
    [3, 10_000, 30_000],
    [4, 10_000, 35_000],
    [9, 10_000, 35_000],
    [1, 50_000, 50_000], // max below base: the base is the ceiling
    [2, 50_000, 50_000],
  ])('ejectionDurationMs(times %i, base %i) = %i', (times, base, ms) => {
    expect(ejectionDurationMs(times, { ...cfg, baseEjectionTimeMs: base })).toBe(ms);
  });

  it('with the defaults (30 s base, 300 s max) the multiplier stops at 10', () => {
    const s = createOutlierState();
    const durations: number[] = [];
    let now = 0;
    for (let i = 0; i < 12; i++) {
      feed(s, now, [502, 502, 502, 502, 502], DEFAULT_OUTLIER);
      durations.push(s.ejectedUntil - now);
      now = s.ejectedUntil;
    }
    expect(durations).toEqual([30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 300, 300].map((x) => x * 1000));
    expect(s.timesEjected).toBe(10);
  });

  it.each([
    [4, 131_000, 131_000, 4],
    [4, 131_000, 140_999, 4],
    [4, 131_000, 141_000, 3],
    [4, 131_000, 171_000, 0],
    [4, 131_000, 100_000, 4], // still ejected: no decay
    [0, 0, 500_000, 0],
  ])('decayedTimesEjected(times %i, until %i) at %i = %i', (times, until, now, expected) => {
    const s = { ...createOutlierState(), timesEjected: times, ejectedUntil: until };
    expect(decayedTimesEjected(s, now, 10_000)).toBe(expected);
    expect(decayedTimesEjected(s, now, 0)).toBe(times); // interval 0 never decays
  });

  it('returnToService ends an ejection early and decay counts from then', () => {
    const s = createOutlierState();
    feed(s, 1_000, [503, 503, 503]);
    returnToService(s, 5_000);
    expect([isEjected(s, 5_000), s.ejectedUntil]).toEqual([false, 5_000]);
    returnToService(s, 9_000); // not ejected: nothing moves
    expect(s.ejectedUntil).toBe(5_000);
    feed(s, 15_000, [503, 503, 503]); // one interval healthy: 1 → 0 → 1
    expect([s.timesEjected, s.ejectedUntil]).toEqual([1, 25_000]);
  });
});

describe('max_ejection_percent', () => {
  it.each([
    // currently ejected, endpoints, max percent, allowed
    [0, 1, 10, true], // at least one may always be ejected
    [0, 10, 0, true],
    [0, 2, 10, true],
    [1, 10, 10, false],
    [1, 10, 20, true],
    [2, 10, 20, false],
    [1, 3, 50, false],
    [1, 4, 50, true],
    [2, 4, 50, false],
    [3, 4, 100, true],
  ])('%i ejected of %i at %i%% → %s', (ejected, count, pct, allowed) => {
    expect(ejectionAllowed(ejected, count, pct)).toBe(allowed);
  });

  it('a cluster of four at 25%: one out at a time, the second overflows until the first returns', () => {
    const c = { ...cfg, maxEjectionPercent: 25 };
    const eps = [createOutlierState(), createOutlierState(), createOutlierState(), createOutlierState()];
    const fail = (i: number, now: number): number[] => {
      const out: number[] = [];
      for (let k = 0; k < 3; k++) {
        const others = countEjected(eps.map((e) => e.ejectedUntil), now);
        out.push(observeOutlier(eps[i]!, RESULT_GATEWAY_FAILURE, now, c, others, eps.length));
      }
      return out;
    };
    expect(fail(0, 0)).toEqual([0, 0, OUTLIER_EJECTED]);
    expect(fail(1, 1_000)).toEqual([0, 0, OUTLIER_OVERFLOW]);
    expect(eps[1]).toEqual(createOutlierState()); // counters restart after an overflow
    expect(fail(1, 2_000)).toEqual([0, 0, OUTLIER_OVERFLOW]);
    expect(countEjected(eps.map((e) => e.ejectedUntil), 9_999)).toBe(1);
    expect(fail(1, 10_000)).toEqual([0, 0, OUTLIER_EJECTED]); // endpoint 0 is back
    expect(fail(0, 10_000)).toEqual([0, 0, OUTLIER_OVERFLOW]);
    expect(countEjected(eps.map((e) => e.ejectedUntil), 10_000)).toBe(1);
  });

  it('a cluster of two at 10% can still lose its one bad endpoint', () => {
    const c = { ...cfg, maxEjectionPercent: 10 };
    const a = createOutlierState();
    const b = createOutlierState();
    const verdicts = [503, 503, 503].map(() =>
      observeOutlier(a, RESULT_GATEWAY_FAILURE, 0, c, countEjected([a.ejectedUntil, b.ejectedUntil], 0), 2),
    );
    expect(verdicts).toEqual([0, 0, OUTLIER_EJECTED]);
    const second = [503, 503, 503].map(() =>
      observeOutlier(b, RESULT_GATEWAY_FAILURE, 0, c, countEjected([a.ejectedUntil], 0), 2),
    );
    expect(second).toEqual([0, 0, OUTLIER_OVERFLOW]);
  });
});
