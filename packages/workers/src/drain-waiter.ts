/**
 * Waiting, during a drain, for what a listener has in flight (HTTP exchanges, TCP connections, UDP
 * sessions) to end. The owner keeps the count; it calls `check()` whenever the count may have
 * reached zero, and its drain awaits `wait(timeoutMs)`.
 */
export class DrainWaiter {
  private waiters: (() => void)[] = [];

  /** `count` reads how many things are still in flight. */
  constructor(private readonly count: () => number) {}

  /** Wakes every waiter once the count is zero. */
  check(): void {
    if (this.count() === 0 && this.waiters.length) for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves when nothing is in flight, or after `timeoutMs`; returns how many were still open. */
  wait(timeoutMs: number): Promise<number> {
    if (this.count() === 0) return Promise.resolve(0);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.count()), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(0);
      });
    });
  }
}
