/**
 * The tests' one way to wait for something to become true. Tests under packages/NAME/test import it
 * as `../../../test/helpers/wait-for.js`; it depends on nothing but Node.
 */

// Captured when this module loads, before any test fakes the timers: polling keeps real time whatever
// the code under test sees.
const realSetTimeout = globalThis.setTimeout;

export type Truthy<T> = Exclude<T, false | 0 | 0n | '' | null | undefined>;

export interface WaitForOptions {
  /** How long to keep trying before throwing; default 5000 ms. */
  timeoutMs?: number;
  /** Pause between two checks; default 10 ms. */
  intervalMs?: number;
  /** What is awaited, for the error on timeout ("the endpoint to turn unhealthy"); default: the condition's source. */
  message?: string;
}

/**
 * Calls `condition` until it returns (or resolves to) a truthy value, and resolves with that value.
 * After `timeoutMs` without one it rejects with an Error naming `message`. The condition is always
 * called at least once, and once more after the deadline has passed, so a slow check (a fetch, say)
 * that takes most of the time still gets its result counted. An exception thrown by the condition
 * rejects at once: a condition that may fail while it is not yet met (a connection refused) catches
 * that itself. It polls on real time, also in a test that fakes the timers (vi.useFakeTimers).
 */
export async function waitFor<T>(condition: () => T | Promise<T>, options: WaitForOptions = {}): Promise<Truthy<T>> {
  const { timeoutMs = 5000, intervalMs = 10 } = options;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const expired = performance.now() >= deadline;
    const value = await condition();
    if (value) return value as Truthy<T>;
    if (expired) throw new Error(`waitFor: ${options.message ?? describe(condition)}: not met within ${timeoutMs} ms`);
    await new Promise((resolve) => realSetTimeout(resolve, Math.max(0, Math.min(intervalMs, deadline - performance.now()))));
  }
}

function describe(condition: () => unknown): string {
  const text = String(condition).replace(/\s+/g, ' ').trim();
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}
