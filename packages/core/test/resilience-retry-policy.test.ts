import { describe, expect, it } from 'vitest';
import {
  compileRetryOn,
  DEFAULT_RETRY,
  isIdempotentMethod,
  retryBudgetAllows,
  retryOnProblem,
  shouldRetry,
} from '../src/resilience/index.js';
import type { UpstreamResult } from '../src/resilience/index.js';

const ON = {
  route: ['connect-failure', 'reset', '503'],
  fivexx: ['5xx'],
  gateway: ['gateway-error'],
  fourxx: ['retriable-4xx', 429],
  connect: ['connect-failure'],
  numeric: [503],
  none: [],
} as const;

type OnName = keyof typeof ON;

describe('shouldRetry', () => {
  it.each<[OnName, UpstreamResult, string, boolean, boolean, boolean]>([
    // retry.on, outcome, method, reached upstream, body replayable → retry
    ['route', 'connect-failure', 'GET', false, true, true],
    ['route', 'connect-failure', 'POST', false, true, true],
    ['route', 'connect-failure', 'POST', true, true, true], // a connect failure proves nothing was sent
    ['route', 'reset', 'GET', true, true, true],
    ['route', 'reset', 'POST', true, true, false], // the POST reached the upstream
    ['route', 'reset', 'POST', false, true, true], // reused connection closed before the write
    ['route', 'reset', 'PATCH', true, true, false],
    ['route', 503, 'GET', true, true, true],
    ['route', 503, 'POST', true, true, false],
    ['route', 502, 'GET', true, true, false], // not listed, no gateway-error
    ['route', 'timeout', 'GET', true, true, true], // reset covers a per-try timeout
    ['route', 503, 'GET', true, false, false], // body outgrew the replay buffer
    ['route', 'connect-failure', 'GET', false, false, false],
    ['route', 200, 'GET', true, true, false],
    ['fivexx', 500, 'GET', true, true, true],
    ['fivexx', 501, 'PUT', true, true, true],
    ['fivexx', 599, 'DELETE', true, true, true],
    ['fivexx', 'connect-failure', 'GET', false, true, true],
    ['fivexx', 'reset', 'DELETE', true, true, true],
    ['fivexx', 'timeout', 'OPTIONS', true, true, true],
    ['fivexx', 404, 'GET', true, true, false],
    ['fivexx', 429, 'GET', true, true, false], // a 4xx is never retried unless listed
    ['fivexx', 500, 'PATCH', true, true, false],
    ['fivexx', 500, 'get', true, true, true], // uWS's lower-case method
    ['fivexx', 500, 'CONNECT', true, true, false],
    ['fivexx', 500, 'Get', true, true, false], // methods are case-sensitive: unknown means unsafe
    ['gateway', 502, 'GET', true, true, true],
    ['gateway', 503, 'TRACE', true, true, true],
    ['gateway', 504, 'HEAD', true, true, true],
    ['gateway', 500, 'GET', true, true, false],
    ['gateway', 505, 'GET', true, true, false],
    ['gateway', 'timeout', 'GET', true, true, true],
    ['gateway', 'connect-failure', 'POST', false, true, true],
    ['fourxx', 409, 'GET', true, true, true],
    ['fourxx', 429, 'OPTIONS', true, true, true],
    ['fourxx', 400, 'GET', true, true, false],
    ['fourxx', 503, 'GET', true, true, false],
    ['fourxx', 429, 'POST', true, true, false],
    ['connect', 'reset', 'GET', true, true, false],
    ['connect', 'timeout', 'GET', true, true, false],
    ['connect', 503, 'GET', true, true, false],
    ['numeric', 503, 'GET', true, true, true],
    ['none', 'connect-failure', 'GET', false, true, false],
  ])('on %s: %s %s reached=%s replayable=%s → %s', (on, outcome, method, reached, replayable, expected) => {
    const policy = compileRetryOn(ON[on]);
    expect(shouldRetry(policy, { outcome, method, requestReachedUpstream: reached, bodyReplayable: replayable })).toBe(
      expected,
    );
  });
});

describe('compileRetryOn', () => {
  it.each([['sometimes'], ['200'], [399], [600], ['50x'], ['5XX'], [{}], [503.5], ['toString'], ['constructor']])('rejects %j', (entry) => {
    expect(retryOnProblem(entry)).toMatch(/^expected connect-failure, reset/);
    expect(() => compileRetryOn(['reset', entry as string])).toThrow(/^retry\.on\[1\]: expected/);
  });

  it.each([['connect-failure'], ['reset'], ['gateway-error'], ['5xx'], ['retriable-4xx'], ['429'], [404], [599]])(
    'accepts %j',
    (entry) => {
      expect(retryOnProblem(entry)).toBeUndefined();
    },
  );
});

describe('isIdempotentMethod', () => {
  it.each([
    ['GET', true],
    ['HEAD', true],
    ['OPTIONS', true],
    ['PUT', true],
    ['DELETE', true],
    ['TRACE', true],
    ['delete', true],
    ['POST', false],
    ['PATCH', false],
    ['CONNECT', false],
    ['PROPFIND', false],
    ['', false],
  ])('%s → %s', (method, expected) => {
    expect(isIdempotentMethod(method)).toBe(expected);
  });
});

describe('retryBudgetAllows', () => {
  it('defaults are 20% and 3', () => {
    expect([DEFAULT_RETRY.budgetPercent, DEFAULT_RETRY.minRetryConcurrency]).toEqual([20, 3]);
  });

  it.each([
    // active requests, active retries → allowed (defaults 20%, min 3)
    [0, 0, true],
    [0, 2, true], // the minimum holds even with nothing active
    [0, 3, false],
    [10, 2, true],
    [10, 3, false], // 20% of 10 is 2, below the minimum of 3
    [100, 3, true],
    [100, 19, true], // the 20th retry brings it to exactly 20%
    [100, 20, false],
    [1000, 199, true],
    [1000, 200, false],
  ])('%i active, %i retries → %s', (active, retries, expected) => {
    expect(retryBudgetAllows(active, retries)).toBe(expected);
  });

  it.each([
    // active, retries, percent, min → allowed
    [50, 4, 10, 0, true],
    [50, 5, 10, 0, false],
    [7, 0, 20, 0, true], // 1.4 allowed: the first fits
    [7, 1, 20, 0, false],
    [4, 0, 20, 0, false], // 0.8 rounds down to none
    [4, 0, 20, 1, true],
    [8, 3, 50, 0, true],
    [8, 4, 50, 0, false],
    [3, 2, 100, 0, true],
    [3, 3, 100, 0, false],
    [200, 25, 12.5, 0, false],
    [200, 24, 12.5, 0, true],
  ])('%i active, %i retries, %f%%, min %i → %s', (active, retries, pct, min, expected) => {
    expect(retryBudgetAllows(active, retries, pct, min)).toBe(expected);
  });

  it('stops a retry storm: with 100 requests failing at once, 20 retries go out', () => {
    let retries = 0;
    for (let i = 0; i < 100; i++) if (retryBudgetAllows(100, retries)) retries++;
    expect(retries).toBe(20);
  });
});
