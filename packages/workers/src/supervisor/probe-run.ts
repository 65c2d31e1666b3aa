/**
 * What every kind of active health check shares: its result, the one-shot bookkeeping of one check
 * (it resolves once, its timeout stops it, and whatever it opened is destroyed when it resolves, so a
 * check leaves no socket or session behind whichever way it ends), and how a socket error reads.
 */
import { tlsFailureReason } from '../upstream/upstream-tls.js';

export interface ProbeResult {
  ok: boolean;
  /** Why the check failed, or what it saw ("status 503", "timeout after 1000ms", "connect ECONNREFUSED", "SERVING"). */
  detail: string;
}

/** One check in flight. `done` may be called any number of times; the first call decides. */
export class ProbeRun {
  private settled = false;
  private readonly timer: NodeJS.Timeout;
  private readonly owned: { destroy(): unknown }[] = [];

  /** `timeoutDetail`: the failure's detail when the timeout fires (default `timeout after <ms>ms`). */
  constructor(
    timeoutMs: number,
    private readonly resolve: (r: ProbeResult) => void,
    timeoutDetail: () => string = () => `timeout after ${timeoutMs}ms`,
  ) {
    this.timer = setTimeout(() => this.done(false, timeoutDetail()), timeoutMs);
  }

  get finished(): boolean {
    return this.settled;
  }

  /** Destroys `x` when the check ends (at once when it already has). */
  own<T extends { destroy(): unknown }>(x: T): T {
    this.owned.push(x);
    if (this.settled) x.destroy();
    return x;
  }

  done(ok: boolean, detail: string): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    for (const x of this.owned) x.destroy();
    this.resolve({ ok, detail });
  }
}

/** A socket error as a check reports it: `ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1`. */
export function errorDetail(e: NodeJS.ErrnoException): string {
  return `${e.code ?? 'error'}: ${e.message}`;
}

/** A failure's detail: the TLS reason once TCP was up on a TLS check, else the socket error's code and message. */
export function failureDetail(e: NodeJS.ErrnoException, tls: boolean, tcpUp: boolean): string {
  return tls && tcpUp ? tlsFailureReason(e) : errorDetail(e);
}
