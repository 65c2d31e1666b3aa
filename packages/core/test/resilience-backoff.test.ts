import { describe, expect, it } from 'vitest';
import { backoffDelay, DEFAULT_RETRY, parseHttpDate, parseRetryAfter, retryDelay } from '../src/resilience/index.js';

describe('backoffDelay (full jitter)', () => {
  it.each([
    // attempt, base, max, random → ms
    [0, 25, 250, 0, 0],
    [0, 25, 250, 0.5, 12],
    [0, 25, 250, 0.999, 24],
    [1, 25, 250, 0.5, 25],
    [2, 25, 250, 0.5, 50],
    [3, 25, 250, 0.5, 100],
    [3, 25, 250, 0.999, 199],
    [4, 25, 250, 0.5, 125], // 400 capped to 250
    [10, 25, 250, 0.999, 249],
    [2000, 25, 250, 0.5, 125], // 2^2000 overflows to Infinity; the cap still holds
    [-1, 25, 250, 0.5, 12],
    [0, 0, 250, 0.5, 0],
    [5, 100, 30_000, 0.25, 800],
    [9, 100, 30_000, 0.75, 22_500], // 51 200 capped to 30 000
  ])('attempt %i base %i max %i random %f → %i', (attempt, base, max, random, expected) => {
    expect(backoffDelay(attempt, base, max, random)).toBe(expected);
  });
});

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0); // Wed, 15 Jan 2025 12:00:00 GMT
const RFC_EXAMPLE = Date.UTC(1994, 10, 6, 8, 49, 37); // Sun, 06 Nov 1994 08:49:37 GMT

describe('parseRetryAfter', () => {
  it.each<[string | undefined, number | undefined]>([
    ['120', 120_000],
    [' 5 ', 5_000],
    ['\t7', 7_000],
    ['0', 0],
    ['007', 7_000],
    ['99999999999', 2_147_483_648_000], // delta-seconds capped at 2^31
    ['Wed, 15 Jan 2025 12:00:30 GMT', 30_000],
    ['Wed, 15 Jan 2025 13:00:00 GMT', 3_600_000],
    ['Wed, 15 Jan 2025 11:59:59 GMT', 0], // in the past
    ['wed, 15 jan 2025 12:00:30 gmt', 30_000],
    ['Wednesday, 15-Jan-25 12:01:00 GMT', 60_000],
    ['Wed Jan 15 12:00:05 2025', 5_000],
    ['Thu Jan 16 12:00:00 2025', 86_400_000],
    ['Sun, 06 Nov 1994 08:49:37 GMT', 0],
    [undefined, undefined],
    ['', undefined],
    ['   ', undefined],
    ['-5', undefined],
    ['+5', undefined],
    ['1.5', undefined],
    ['5s', undefined],
    ['soon', undefined],
    ['Wed, 31 Feb 2025 12:00:00 GMT', undefined],
    ['Wed, 15 Jan 2025 25:00:00 GMT', undefined],
    ['Wed, 15 Jan 2025 12:61:00 GMT', undefined],
    ['Wed, 15 Jan 2025 12:00:30 UTC', undefined],
    ['Wed, 15 Foo 2025 12:00:30 GMT', undefined],
    ['Wed, 15 Jan 2025 12:00:30', undefined],
    ['2025-01-15T12:00:30Z', undefined],
    ['Wed, 5 Jan 2025 12:00:30 GMT', undefined], // IMF-fixdate has a two-digit day
  ])('%j → %s', (value, expected) => {
    expect(parseRetryAfter(value, NOW)).toBe(expected);
  });
});

describe('parseHttpDate', () => {
  it.each<[string, number | undefined]>([
    ['Sun, 06 Nov 1994 08:49:37 GMT', RFC_EXAMPLE],
    ['Sunday, 06-Nov-94 08:49:37 GMT', RFC_EXAMPLE],
    ['Sun Nov  6 08:49:37 1994', RFC_EXAMPLE],
    ['Sun Nov 06 08:49:37 1994', RFC_EXAMPLE],
    ['Friday, 01-Jan-70 00:00:00 GMT', Date.UTC(2070, 0, 1)], // within 50 years ahead
    ['Friday, 01-Jan-76 00:00:00 GMT', Date.UTC(1976, 0, 1)], // more than 50 ahead: last century
    ['Thu, 29 Feb 2024 00:00:00 GMT', Date.UTC(2024, 1, 29)],
    ['Fri, 29 Feb 2025 00:00:00 GMT', undefined],
    ['Sun Nov 31 08:49:37 1994', undefined],
    ['Wed, 31 Dec 2025 23:59:60 GMT', Date.UTC(2026, 0, 1)], // leap second
    ['Sun, 06 Nov 1994 24:00:00 GMT', undefined],
  ])('%j', (text, expected) => {
    expect(parseHttpDate(text, NOW)).toBe(expected);
  });
});

describe('retryDelay', () => {
  const policy = { baseMs: DEFAULT_RETRY.backoffBaseMs, maxMs: DEFAULT_RETRY.backoffMaxMs, retryAfterMaxMs: 10_000 };
  it.each<[number, number, string | undefined, number]>([
    [0, 0.5, undefined, 12],
    [2, 0.5, undefined, 50],
    [5, 0.999, undefined, 249],
    [0, 0.5, '3', 3_000], // Retry-After wins over the backoff
    [0, 0.5, '0', 0],
    [0, 0.5, '60', 10_000], // capped
    [0, 0.5, 'Wed, 15 Jan 2025 12:00:02 GMT', 2_000],
    [0, 0.5, 'Wed, 15 Jan 2025 11:00:00 GMT', 0],
    [2, 0.5, 'later', 50], // garbage: back to the backoff
  ])('attempt %i random %f Retry-After %j → %i', (attempt, random, header, expected) => {
    expect(retryDelay(policy, attempt, random, header, NOW)).toBe(expected);
  });

  it('defaults are base 25 ms and max 250 ms', () => {
    expect([DEFAULT_RETRY.backoffBaseMs, DEFAULT_RETRY.backoffMaxMs]).toEqual([25, 250]);
  });
});
