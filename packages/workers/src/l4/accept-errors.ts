/**
 * A listener's accept errors: each is counted (pillion_accept_errors_total{listener}), and logged at
 * most once per interval, with how many came since the last line. Out of file descriptors a listener
 * fails every accept in a tight loop; a line per failure would flood the log and take the CPU the
 * proxy needs to recover.
 *
 * What reaches here: errors Node's listeners emit from accept(2). libuv answers EMFILE itself while it
 * can (it closes its reserved descriptor, accepts and closes the waiting connections, and reopens it),
 * so an exhausted process mostly shows as clients reset and `process_open_fds` at `process_max_fds`;
 * when the reserve is lost (another thread took the freed descriptor) the errors come here instead.
 */
import type { Logger } from '../logger.js';

export const ACCEPT_ERROR_LOG_INTERVAL_MS = 10_000;

export class AcceptErrors {
  private sinceLine = 0;
  private lastLine = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly listener: string,
    private readonly count: () => void,
    private readonly log: Logger,
    private readonly now: () => number = () => performance.now(),
    private readonly intervalMs = ACCEPT_ERROR_LOG_INTERVAL_MS,
  ) {}

  /** A server 'error' event: an accept error is counted (and maybe logged); any other is logged as it is. */
  onServerError(err: NodeJS.ErrnoException): void {
    if (err.syscall !== 'accept') {
      this.log.error({ listener: this.listener, err: err.message }, 'listener failed');
      return;
    }
    this.count();
    this.sinceLine++;
    const t = this.now();
    if (t - this.lastLine < this.intervalMs) return;
    this.log.error({ listener: this.listener, code: err.code, errors: this.sinceLine, err: err.message }, 'listener cannot accept connections');
    this.sinceLine = 0;
    this.lastLine = t;
  }
}
