import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SLOW_START,
  effectiveWeight,
  slowStartActive,
  slowStartFactor,
  warmPoolFactor,
} from '../src/resilience/index.js';

const ADDED = 1_000_000;
const WINDOW = 10_000;

describe('slowStartFactor', () => {
  it.each([
    // ms since added, aggression, min weight % → factor
    [-500, 1, 10, 0.1],
    [0, 1, 10, 0.1],
    [500, 1, 10, 0.1], // 0.05 is below the floor
    [1_000, 1, 10, 0.1],
    [2_500, 1, 10, 0.25],
    [5_000, 1, 10, 0.5],
    [7_500, 1, 10, 0.75],
    [9_999, 1, 10, 0.9999],
    [10_000, 1, 10, 1],
    [60_000, 1, 10, 1],
    [2_500, 2, 10, 0.5], // sqrt(0.25)
    [100, 2, 10, 0.1], // sqrt(0.01)
    [40, 2, 10, 0.1], // sqrt(0.004) ≈ 0.063, floored
    [5_625, 2, 10, 0.75],
    [6_400, 2, 10, 0.8],
    [5_000, 0.5, 10, 0.25], // 0.5^2
    [7_500, 0.5, 10, 0.5625],
    [2_500, 0.5, 10, 0.1], // 0.0625, floored
    [625, 4, 10, 0.5], // 0.0625^(1/4)
    [0, 1, 0, 0],
    [2_000, 1, 0, 0.2],
    [2_000, 1, 100, 1],
    [2_000, 1, 50, 0.5],
    [6_000, 1, 50, 0.6],
    [2_500, 0, 10, 0.25], // a non-positive aggression counts as 1
  ])('t=%i aggression %f min %i%% → %f', (t, aggression, min, expected) => {
    expect(slowStartFactor(ADDED + t, ADDED, WINDOW, aggression, min)).toBe(expected);
  });

  it.each([
    [1_250, 3, 0.5], // 0.125^(1/3)
    [8_000, 3, 0.928_317_766_722_556],
    [3_000, 1.5, 0.448_140_474_655_716_1],
  ])('t=%i aggression %f ≈ %f', (t, aggression, expected) => {
    expect(slowStartFactor(ADDED + t, ADDED, WINDOW, aggression, 10)).toBeCloseTo(expected, 12);
  });

  it('a window of 0 turns it off', () => {
    expect(slowStartFactor(ADDED, ADDED, 0, 1, 10)).toBe(1);
    expect(slowStartActive(ADDED, ADDED, 0)).toBe(false);
  });

  it.each([
    [0, true],
    [9_999, true],
    [10_000, false],
  ])('slowStartActive at t=%i → %s', (t, expected) => {
    expect(slowStartActive(ADDED + t, ADDED, WINDOW)).toBe(expected);
  });

  it('defaults are aggression 1 and 10%', () => {
    expect(DEFAULT_SLOW_START).toEqual({ aggression: 1, minWeightPercent: 10 });
  });

  it('never decreases along the window', () => {
    for (const aggression of [0.5, 1, 2, 3]) {
      let last = 0;
      for (let t = -100; t <= WINDOW + 100; t += 50) {
        const f = slowStartFactor(ADDED + t, ADDED, WINDOW, aggression, 10);
        expect(f).toBeGreaterThanOrEqual(last);
        last = f;
      }
      expect(last).toBe(1);
    }
  });
});

describe('warmPoolFactor', () => {
  it.each([
    // warm, wanted, min % → factor
    [0, 4, 10, 0.1],
    [1, 4, 10, 0.25],
    [2, 4, 10, 0.5],
    [3, 4, 10, 0.75],
    [4, 4, 10, 1],
    [5, 4, 10, 1],
    [0, 0, 10, 1], // no warm-up configured
    [1, 20, 10, 0.1], // 0.05, floored
    [3, 4, 50, 0.75],
    [1, 4, 50, 0.5],
    [0, 8, 0, 0],
  ])('%i warm of %i, min %i%% → %f', (warm, wanted, min, expected) => {
    expect(warmPoolFactor(warm, wanted, min)).toBe(expected);
  });
});

describe('effectiveWeight', () => {
  it.each([
    [10, 1, 1, 10],
    [10, 0.5, 0.25, 2.5], // the smaller factor wins
    [10, 0.25, 0.5, 2.5],
    [3, 0.1, 1, 0.30000000000000004],
    [0, 0.5, 0.5, 0],
  ])('weight %f, slow %f, warm %f → %f', (weight, slow, warm, expected) => {
    expect(effectiveWeight(weight, slow, warm)).toBe(expected);
  });
});
