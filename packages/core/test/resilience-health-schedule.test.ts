import { describe, expect, it } from 'vitest';
import { DEFAULT_HEALTH_CHECK, expectedStatusProblem, nextCheckDelay, parseExpectedStatuses } from '../src/resilience/index.js';

describe('nextCheckDelay', () => {
  it.each([
    [5000, 0, 0.7, 5000],
    [5000, 1000, 0, 5000],
    [5000, 1000, 0.5, 5500],
    [5000, 1000, 0.25, 5250],
    [5000, 1000, 0.9999, 5999],
    [1000, 333, 0.5, 1166],
    [2000, -10, 0.5, 2000],
  ])('interval %i jitter %i random %f → %i', (interval, jitter, random, expected) => {
    expect(nextCheckDelay(interval, jitter, random)).toBe(expected);
  });
});

describe('parseExpectedStatuses', () => {
  const matcher = parseExpectedStatuses(['200-299', 304, '418']);
  it.each([
    [199, false],
    [200, true],
    [204, true],
    [299, true],
    [300, false],
    [304, true],
    [404, false],
    [418, true],
    [500, false],
    [0, false],
    [700, false],
  ])('%i → %s', (status, expected) => {
    expect(matcher.matches(status)).toBe(expected);
  });

  it('the default accepts 2xx only', () => {
    const d = parseExpectedStatuses(DEFAULT_HEALTH_CHECK.expectedStatuses);
    expect([199, 200, 204, 299, 301, 503].map((s) => d.matches(s))).toEqual([false, true, true, true, false, false]);
  });

  it('accepts spaces around a range', () => {
    expect(parseExpectedStatuses([' 500 - 502 ']).matches(501)).toBe(true);
  });

  it.each([['200-'], ['299-200'], [99], [600], ['abc'], [200.5], ['2xx'], ['100-600'], [null], ['']])(
    'rejects %j',
    (entry) => {
      expect(expectedStatusProblem(entry)).toMatch(/expected a status/);
      expect(() => parseExpectedStatuses([204, entry as string])).toThrow(/^expected_statuses\[1\]: expected a status/);
    },
  );

  it.each([[200], ['204'], ['200-299'], ['100-599']])('accepts %j', (entry) => {
    expect(expectedStatusProblem(entry)).toBeUndefined();
  });
});
