/**
 * A clock for the endpoint pool's tests: time stands still until the test moves it, and then every
 * timer that falls due fires at its own time, in order, synchronously.
 */
import type { PoolClock, PoolTimer } from '../src/upstream/endpoint-pool.js';

interface Timer extends PoolTimer {
  due: number;
  /** Repeat period of an interval; null for a timeout. */
  every: number | null;
  /** Order of arming, for timers due at the same time. */
  seq: number;
  fn: () => void;
}

export class FakeClock implements PoolClock {
  private t: number;
  private seq = 0;
  private readonly timers = new Set<Timer>();

  constructor(start = 1_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): PoolTimer {
    return this.arm(fn, ms, null);
  }

  setInterval(fn: () => void, ms: number): PoolTimer {
    return this.arm(fn, ms, Math.max(1, ms));
  }

  clearTimeout(timer: PoolTimer): void {
    this.timers.delete(timer as Timer);
  }

  clearInterval(timer: PoolTimer): void {
    this.timers.delete(timer as Timer);
  }

  /** Timers armed and neither fired (timeouts) nor cleared. */
  get pending(): number {
    return this.timers.size;
  }

  /** Milliseconds until the next timer is due, or null when none is armed. */
  untilNext(): number | null {
    const next = this.next(Infinity);
    return next ? next.due - this.t : null;
  }

  /** Moves time forward by `ms`, firing every timer due up to then. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (let timer = this.next(end); timer; timer = this.next(end)) {
      this.t = timer.due;
      if (timer.every === null) this.timers.delete(timer);
      else {
        timer.due += timer.every;
        timer.seq = this.seq++;
      }
      timer.fn();
    }
    this.t = end;
  }

  private arm(fn: () => void, ms: number, every: number | null): Timer {
    // Node fires a timer of 0 ms (or less) after 1 ms.
    const timer: Timer = { due: this.t + Math.max(1, ms), every, seq: this.seq++, fn, unref: () => timer };
    this.timers.add(timer);
    return timer;
  }

  private next(until: number): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.timers) {
      if (t.due > until) continue;
      if (!best || t.due < best.due || (t.due === best.due && t.seq < best.seq)) best = t;
    }
    return best;
  }
}
