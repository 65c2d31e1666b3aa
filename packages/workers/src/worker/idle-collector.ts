/**
 * Gives a worker's memory back once a busy spell is over. V8 shrinks a heap (the young generation it
 * grew to, the old-generation pages the spell's garbage sits on) only in and after a full collection,
 * and an idle worker allocates nothing, so without one that memory stays resident until the next
 * burst.
 *
 * So when a worker that served traffic has served none for a whole period, it asks V8 for one full
 * collection, and for another once the connections the traffic left open have timed out; V8's
 * memory reducer then shrinks the heap over the next seconds. Node has no API for
 * that without --expose-gc, except `vm.measureMemory` with eager execution, which starts one. It runs
 * on the worker's thread while the worker is idle, never per request; a request that arrives during
 * it waits for it (a full collection of a worker's heap took 5-10 ms in --trace-gc runs).
 */
import { measureMemory } from 'node:vm';

/** How often the worker looks at its traffic counter. */
export const IDLE_CHECK_MS = 5000;
/** The longest wait for the second collection, whatever the config's idle timeouts. */
const MAX_LATER_MS = 10 * 60_000;

export class IdleCollector {
  private last = -1;
  private quietSince = 0;
  /** Collections done since the last traffic: 0, 1 (after a quiet period) or 2 (after the idle timeouts too). */
  private done = 2;
  private timer: NodeJS.Timeout | null = null;

  /**
   * `activity`: a counter that grows with the worker's traffic (its accepted requests, connections,
   * datagrams). `idleTimeoutMs`: how long the worker keeps what a busy spell left open (upstream pool
   * connections, UDP sessions); a second collection follows once that long has passed quietly, so the
   * memory those held is given back too.
   */
  constructor(
    private readonly activity: () => number,
    private readonly idleTimeoutMs: () => number,
    private readonly periodMs = IDLE_CHECK_MS,
  ) {}

  start(): void {
    if (this.timer) return;
    this.last = this.activity();
    this.timer = setInterval(() => this.check(Date.now()), this.periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One look: traffic since the last one restarts the count; quiet long enough collects. */
  check(now: number): boolean {
    const n = this.activity();
    if (n !== this.last) {
      this.last = n;
      this.quietSince = now;
      this.done = 0;
      return false;
    }
    const quiet = now - this.quietSince;
    const due = this.done === 0 ? this.periodMs : this.done === 1 ? Math.min(this.idleTimeoutMs(), MAX_LATER_MS) + this.periodMs : Infinity;
    if (quiet < due) return false;
    this.done++;
    collect();
    return true;
  }
}

/** Starts a full collection (vm.measureMemory's eager execution), without its experimental warning. */
function collect(): void {
  const emitWarning = process.emitWarning;
  process.emitWarning = () => {};
  try {
    measureMemory({ mode: 'summary', execution: 'eager' }).catch(() => {});
  } catch {
    // not available: the heap shrinks at the next collection instead
  } finally {
    process.emitWarning = emitWarning;
  }
}
