import { describe, expect, it } from 'vitest';
import {
  observeThreshold,
  packedConsecutive,
  packedFlipped,
  packedHealthy,
  packThreshold,
  stepPackedThreshold,
} from '../src/resilience/index.js';
import type { ThresholdState } from '../src/resilience/index.js';

const S = true;
const F = false;

describe('observeThreshold (healthy 2, unhealthy 3)', () => {
  // Each row: observation, then healthy flag, streak and flipped after it.
  const script: Array<[boolean, boolean, number, boolean]> = [
    [F, true, 1, false],
    [F, true, 2, false],
    [S, true, 0, false], // an agreeing result starts the count over
    [F, true, 1, false],
    [F, true, 2, false],
    [F, false, 0, true], // third failure in a row flips
    [F, false, 0, false],
    [S, false, 1, false],
    [F, false, 0, false],
    [S, false, 1, false],
    [S, true, 0, true], // second success in a row flips back
    [S, true, 0, false],
  ];

  it('walks the scripted timeline', () => {
    const state: ThresholdState = { healthy: true, consecutive: 0 };
    script.forEach(([obs, healthy, consecutive, flipped], step) => {
      const did = observeThreshold(state, obs, 2, 3);
      expect({ step, ...state, did }).toEqual({ step, healthy, consecutive, did: flipped });
    });
  });

  it('packed words follow the same timeline', () => {
    let word = packThreshold(true, 0);
    for (const [obs, healthy, consecutive, flipped] of script) {
      const next = stepPackedThreshold(word, obs, 2, 3);
      expect([packedHealthy(next), packedConsecutive(next), packedFlipped(word, next)]).toEqual([
        healthy,
        consecutive,
        flipped,
      ]);
      word = next;
    }
  });
});

describe('threshold edge cases', () => {
  it.each([
    // start healthy, start streak, observation, healthy threshold, unhealthy threshold → healthy, streak, flipped
    [true, 0, F, 1, 1, false, 0, true],
    [false, 0, S, 1, 1, true, 0, true],
    [true, 0, F, 0, 0, false, 0, true], // a threshold below one counts as one
    [false, 4, S, 5, 1, true, 0, true],
    [false, 3, S, 5, 1, false, 4, false],
    [true, 7, F, 1, 10, true, 8, false],
    [true, 7, S, 1, 10, true, 0, false],
  ])('healthy=%s streak=%i obs=%s ht=%i ut=%i', (h, c, obs, ht, ut, eh, ec, ef) => {
    const state = { healthy: h, consecutive: c };
    expect(observeThreshold(state, obs, ht, ut)).toBe(ef);
    expect(state).toEqual({ healthy: eh, consecutive: ec });
    const word = stepPackedThreshold(packThreshold(h, c), obs, ht, ut);
    expect(word).toBe(packThreshold(eh, ec));
  });

  it('agrees with the object form over a long pseudo-random sequence', () => {
    let seed = 12345;
    const state: ThresholdState = { healthy: false, consecutive: 0 };
    let word = packThreshold(false, 0);
    let flips = 0;
    for (let i = 0; i < 2000; i++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      const obs = seed % 3 !== 0;
      const flipped = observeThreshold(state, obs, 3, 2);
      const next = stepPackedThreshold(word, obs, 3, 2);
      expect(packedFlipped(word, next)).toBe(flipped);
      word = next;
      expect(word).toBe(packThreshold(state.healthy, state.consecutive));
      if (flipped) flips++;
    }
    expect(flips).toBeGreaterThan(10);
  });
});
