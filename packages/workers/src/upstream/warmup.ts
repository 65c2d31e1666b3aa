/**
 * Warm-up of one pool, whatever its connections are (HTTP/1.1 connections, HTTP/2 sessions): open up
 * to `connections` before requests need them, at most `concurrency` at a time; back off with full
 * jitter after a failure, so a sick upstream does not get a connection storm from every worker; say
 * "warm" once enough are ready, and "cold" again as soon as one cannot be opened. The pool supplies
 * the counts and opens the connections; this keeps the state and the timer.
 */
import { backoffDelay } from '@pillion/core';
import type { PoolClock, PoolTimer } from './endpoint-pool.js';

export interface WarmupLimits {
  connections: number;
  concurrency: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

/** What warm-up asks of its pool. */
export interface WarmupHost {
  /** Connections warm-up may count as ready now. */
  warmReady(): number;
  /** Connections open or opening, that count against the target. */
  warmOpen(): number;
  /** How many connections make the pool warm. */
  warmTarget(limits: WarmupLimits): number;
  /** Opens a connection for warm-up; false when a breaker refused it. */
  openForWarmup(): boolean;
  /** The pool became warm (true) or cold (false). */
  reportWarm(warm: boolean): void;
}

export class Warmup {
  private warming = false;
  /** Warm-up connections opening or being verified (bounded by `concurrency`). */
  private inFlight = 0;
  private failures = 0;
  private timer: PoolTimer | null = null;
  private reported = false;

  constructor(
    private readonly limits: WarmupLimits,
    private readonly host: WarmupHost,
    private readonly clock: PoolClock,
    private readonly random: () => number,
  ) {}

  get isWarm(): boolean {
    return this.reported;
  }

  /** Starts (or restarts) warming: at start, for a new endpoint, when the endpoint returns to health. */
  start(): void {
    this.set(false);
    this.warming = true;
    this.failures = 0;
    this.pump();
  }

  /** A warm pool lost a connection: warm up again through the same path (and its backoff). */
  replenish(): void {
    if (!this.reported || this.host.warmOpen() >= this.host.warmTarget(this.limits)) return;
    this.warming = true;
    this.pump();
  }

  /** Opens what is missing, or reports the pool warm when nothing is. */
  pump(): void {
    if (!this.warming || this.timer !== null) return;
    const target = this.host.warmTarget(this.limits);
    if (this.host.warmReady() >= target) {
      this.warming = false;
      this.set(true);
      return;
    }
    while (this.inFlight < this.limits.concurrency && this.host.warmOpen() < target) {
      if (!this.host.openForWarmup()) break;
      this.inFlight++;
    }
  }

  /** A warm-up connection is ready. */
  onReady(): void {
    if (this.inFlight > 0) this.inFlight--;
    this.failures = 0;
    this.pump();
  }

  /** A warm-up connection failed: the pool is not warm, and the next try waits for a backoff. */
  onFailed(): void {
    if (this.inFlight > 0) this.inFlight--;
    this.set(false);
    this.retryAfter(backoffDelay(this.failures++, this.limits.backoffBaseMs, this.limits.backoffMaxMs, this.random()));
  }

  /** The pool is not warm and warms up again after `delay` ms (unless a retry is already due). */
  coolFor(delayOf: (baseMs: number, maxMs: number) => number): void {
    this.set(false);
    this.warming = true;
    if (this.timer === null) this.retryAfter(delayOf(this.limits.backoffBaseMs, this.limits.backoffMaxMs));
  }

  /** Stops warming and reports the pool cold (closing, or handing over to another pool). */
  stop(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.warming = false;
    this.inFlight = 0;
    this.set(false);
  }

  private retryAfter(delay: number): void {
    if (this.timer !== null) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.pump();
    }, delay);
    this.timer.unref();
  }

  private set(warm: boolean): void {
    if (this.reported === warm) return;
    this.reported = warm;
    this.host.reportWarm(warm);
  }
}
