/**
 * How long to wait before a retry or a reconnect: exponential backoff with full jitter (the AWS
 * architecture blog's "full jitter", which spreads clients best), or what the upstream asked for in
 * `Retry-After` when it said anything.
 */

/**
 * `floor(random * min(maxMs, baseMs * 2^attempt))`: attempt 0 is the first retry, `random` is in
 * [0, 1). Whole milliseconds.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: number): number {
  if (baseMs <= 0 || maxMs <= 0) return 0;
  const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt > 0 ? attempt : 0));
  return Math.floor(random * ceiling);
}

// RFC 9111 caps delta-seconds at 2^31 rather than failing on larger values.
const MAX_DELTA_SECONDS = 2_147_483_648;
const DELTA_SECONDS = /^\d+$/;
const IMF_FIXDATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/i;
const RFC850_DATE =
  /^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/i;
const ASCTIME_DATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Za-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/i;
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/**
 * Parses a `Retry-After` value into milliseconds from `nowMs`: delta-seconds, or an HTTP-date in
 * any of the three forms RFC 9110 makes recipients accept (IMF-fixdate, RFC 850, asctime). A date in
 * the past gives 0. Anything else (negative or fractional numbers, unknown formats, impossible
 * dates) gives undefined, and the caller falls back to its own backoff.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (DELTA_SECONDS.test(text)) {
    const seconds = Number(text);
    return (seconds < MAX_DELTA_SECONDS ? seconds : MAX_DELTA_SECONDS) * 1000;
  }
  const at = parseHttpDate(text, nowMs);
  if (at === undefined) return undefined;
  return at > nowMs ? at - nowMs : 0;
}

/** An HTTP-date as ms since the epoch, or undefined. `nowMs` resolves RFC 850's two-digit years. */
export function parseHttpDate(text: string, nowMs: number): number | undefined {
  let m = IMF_FIXDATE.exec(text);
  if (m) return utc(Number(m[3]), m[2]!, Number(m[1]), m[4]!, m[5]!, m[6]!);
  m = RFC850_DATE.exec(text);
  if (m) {
    // RFC 9110 5.6.7: a two-digit year more than 50 years ahead belongs to the previous century.
    const nowYear = new Date(nowMs).getUTCFullYear();
    let year = nowYear - (nowYear % 100) + Number(m[3]);
    if (year > nowYear + 50) year -= 100;
    return utc(year, m[2]!, Number(m[1]), m[4]!, m[5]!, m[6]!);
  }
  m = ASCTIME_DATE.exec(text);
  if (m) return utc(Number(m[6]), m[1]!, Number(m[2]!.trim()), m[3]!, m[4]!, m[5]!);
  return undefined;
}

function utc(year: number, monthName: string, day: number, hh: string, mm: string, ss: string): number | undefined {
  const month = MONTHS.indexOf(monthName.toLowerCase());
  const hour = Number(hh);
  const minute = Number(mm);
  const second = Number(ss);
  if (month < 0 || day < 1 || hour > 23 || minute > 59 || second > 60) return undefined;
  const midnight = Date.UTC(year, month, day);
  // Date.UTC rolls 31 Feb over into March; such a date is garbage, not a time.
  if (new Date(midnight).getUTCDate() !== day) return undefined;
  // A leap second (:60) lands on the next minute's first second.
  return midnight + ((hour * 60 + minute) * 60 + second) * 1000;
}

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  /** Longest `Retry-After` wait honoured; a longer one is cut to this. */
  retryAfterMaxMs: number;
}

/**
 * Delay before retry number `attempt` (0 for the first): the upstream's `Retry-After` when it sent a
 * usable one, capped by `retryAfterMaxMs`, otherwise {@link backoffDelay}. Pass the header only for
 * responses where it means "come back later" (503, 429).
 */
export function retryDelay(
  policy: BackoffPolicy,
  attempt: number,
  random: number,
  retryAfter: string | undefined,
  nowMs: number,
): number {
  const asked = parseRetryAfter(retryAfter, nowMs);
  if (asked !== undefined) return asked < policy.retryAfterMaxMs ? asked : policy.retryAfterMaxMs;
  return backoffDelay(attempt, policy.baseMs, policy.maxMs, random);
}
