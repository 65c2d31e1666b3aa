/**
 * When the next active health check runs, and which HTTP statuses count as a passing check.
 */

/**
 * Delay before the next check: the interval plus a random share of the jitter, so that checks of
 * many endpoints started together drift apart instead of hitting upstreams in lock step.
 * `random` is in [0, 1). Whole milliseconds.
 */
export function nextCheckDelay(intervalMs: number, jitterMs: number, random: number): number {
  const jitter = jitterMs > 0 ? Math.floor(random * jitterMs) : 0;
  return intervalMs + jitter;
}

const STATUS_MIN = 100;
const STATUS_MAX = 599;
const RANGE = /^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$/;

/** Which statuses pass a check; lookup is one array read. */
export class StatusMatcher {
  private readonly accepted: Uint8Array;

  constructor(accepted: Uint8Array) {
    this.accepted = accepted;
  }

  matches(status: number): boolean {
    return status >= STATUS_MIN && status <= STATUS_MAX && this.accepted[status] === 1;
  }
}

/**
 * Why one `expected_statuses` entry is unusable, or undefined when it is fine. Entries are a status
 * (`204`, `"204"`) or an inclusive range (`"200-299"`) within 100..599.
 */
export function expectedStatusProblem(entry: unknown): string | undefined {
  return parseEntry(entry) === undefined
    ? `expected a status (100-599) or an inclusive range like "200-299", got ${JSON.stringify(entry)}`
    : undefined;
}

/**
 * Builds a matcher from `expected_statuses` entries. Throws a RangeError naming the first bad entry
 * and its index; configuration validation reports them earlier with {@link expectedStatusProblem}.
 */
export function parseExpectedStatuses(entries: ReadonlyArray<string | number>): StatusMatcher {
  const accepted = new Uint8Array(STATUS_MAX + 1);
  for (let i = 0; i < entries.length; i++) {
    const range = parseEntry(entries[i]);
    if (range === undefined) throw new RangeError(`expected_statuses[${i}]: ${expectedStatusProblem(entries[i])}`);
    accepted.fill(1, range[0], range[1] + 1);
  }
  return new StatusMatcher(accepted);
}

function parseEntry(entry: unknown): [number, number] | undefined {
  if (typeof entry === 'number') {
    return Number.isInteger(entry) && entry >= STATUS_MIN && entry <= STATUS_MAX ? [entry, entry] : undefined;
  }
  if (typeof entry !== 'string') return undefined;
  const m = RANGE.exec(entry);
  if (!m) return undefined;
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from < STATUS_MIN || to > STATUS_MAX || from > to) return undefined;
  return [from, to];
}
