/**
 * Verifies a freshly warmed connection before the pool counts it: sends the cluster's HTTP health
 * check request on it and accepts the connection when the answer has an expected status. The
 * connection then returns to the pool as an ordinary idle one.
 */
import type { HeaderList } from '@pillion/core';
import type { EndpointPool } from './endpoint-pool.js';
import type { UpstreamExchange, UpstreamStream } from './upstream-exchange.js';

const NO_BODY = Object.freeze({ kind: 'none', length: 0 } as const);

export interface WarmupCheck {
  /** The request target to GET, e.g. `/health`. */
  path: string;
  /** Its fields (host, user-agent). */
  headers: HeaderList;
  accepts(status: number): boolean;
}

export class WarmupProbe implements UpstreamExchange {
  private ok = false;
  private conn: UpstreamStream | null = null;

  constructor(
    private readonly pool: EndpointPool,
    private readonly check: WarmupCheck,
  ) {}

  onConnection(conn: UpstreamStream): void {
    this.conn = conn;
    conn.sendRequest('GET', this.check.path, this.check.headers, NO_BODY, null, true, null);
  }

  onResponseHead(status: number, _reason: string, _headers: HeaderList): void {
    this.ok = this.check.accepts(status);
    if (!this.ok) {
      this.conn?.destroy();
      this.pool.onWarmVerified(false);
    }
  }

  onResponseComplete(): void {
    // The connection goes back to the pool right after this (it completed cleanly).
    if (this.ok) this.pool.onWarmVerified(true);
  }

  onConnectFailure(): void {
    this.pool.onWarmVerified(false);
  }

  onUpstreamError(): void {
    this.pool.onWarmVerified(false);
  }

  onInformational(): void {}
  onResponseBody(): void {}
  onResponseTrailers(): void {}
  onUpstreamDrain(): void {}
  onReadDone(): void {}
}
