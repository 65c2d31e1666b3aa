/**
 * A worker's pool of keep-alive connections to one upstream endpoint.
 *
 * Idle connections are a LIFO stack (the most recently used is the most likely still open and warm);
 * when none is idle and the pool is below `max_connections_per_endpoint` a new one is opened, otherwise
 * the exchange waits in a FIFO queue. Connections idle past `idle_timeout` are closed by one sweep timer
 * per pool, not one timer per connection.
 */
import type { SharedState, StatsWriter } from '@pillion/core';
import { ConnState, HttpConnection, type UpstreamExchange } from './http-connection.js';

export interface EndpointPoolOptions {
  host: string;
  port: number;
  endpointSlot: number;
  clusterSlot: number;
  maxConnections: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  /** 0 = unlimited */
  maxRequestsPerConnection: number;
  maxResponseHeadBytes: number;
}

interface Waiter {
  exchange: UpstreamExchange;
  isHead: boolean;
}

export class EndpointPool {
  readonly opts: EndpointPoolOptions;
  readonly maxResponseHeadBytes: number;
  private readonly idle: HttpConnection[] = [];
  private readonly all = new Set<HttpConnection>();
  /** Exchanges waiting for a connection, oldest first; `connecting` tracks who a new connection is for. */
  private readonly waiting: Waiter[] = [];
  private sweepTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    opts: EndpointPoolOptions,
    private readonly state: SharedState,
    private readonly stats: StatsWriter,
  ) {
    this.opts = opts;
    this.maxResponseHeadBytes = opts.maxResponseHeadBytes;
  }

  get size(): number {
    return this.all.size;
  }

  get idleCount(): number {
    return this.idle.length;
  }

  /** Gets a connection for an exchange: an idle one now, a new one once connected, or a queue slot. */
  acquire(exchange: UpstreamExchange, isHead: boolean): void {
    while (this.idle.length) {
      const conn = this.idle.pop()!;
      this.state.addEndpoint(this.opts.endpointSlot, 'warm_connections', -1);
      if (conn.state !== ConnState.Idle || conn.socket.destroyed) continue;
      conn.assign(exchange, isHead);
      exchange.onConnection(conn);
      return;
    }
    this.waiting.push({ exchange, isHead });
    if (this.all.size < this.opts.maxConnections) this.open();
  }

  /** Removes a waiting exchange (client gave up). */
  cancel(exchange: UpstreamExchange): void {
    const i = this.waiting.findIndex((w) => w.exchange === exchange);
    if (i !== -1) this.waiting.splice(i, 1);
  }

  get pending(): number {
    return this.waiting.length;
  }

  mayReuse(conn: HttpConnection): boolean {
    if (this.closed) return false;
    const max = this.opts.maxRequestsPerConnection;
    return max === 0 || conn.requests < max;
  }

  /** A connection finished its exchange cleanly. */
  release(conn: HttpConnection): void {
    const w = this.waiting.shift();
    if (w) {
      conn.assign(w.exchange, w.isHead);
      w.exchange.onConnection(conn);
      return;
    }
    conn.idleSince = Date.now();
    this.idle.push(conn);
    this.state.addEndpoint(this.opts.endpointSlot, 'warm_connections', 1);
    this.armSweep();
  }

  onConnected(conn: HttpConnection): void {
    if (this.closed) {
      conn.destroy();
      return;
    }
    conn.state = ConnState.Idle;
    this.release(conn);
  }

  onConnectFailed(conn: HttpConnection, reason: string): void {
    this.stats.cluster(this.opts.clusterSlot, 'upstream_connect_failures', 1);
    this.stats.endpoint(this.opts.endpointSlot, 'connect_failures', 1);
    this.forget(conn);
    // The connection was opened for the oldest waiter; tell it. Others keep waiting for busy ones to free up,
    // unless nothing is left that could serve them.
    const w = this.waiting.shift();
    w?.exchange.onConnectFailure(reason);
    if (this.all.size === 0) {
      while (this.waiting.length) this.waiting.shift()!.exchange.onConnectFailure(reason);
    }
  }

  onClosed(conn: HttpConnection): void {
    const i = this.idle.indexOf(conn);
    if (i !== -1) {
      this.idle.splice(i, 1);
      this.state.addEndpoint(this.opts.endpointSlot, 'warm_connections', -1);
    }
    this.forget(conn);
    // A slot freed up: open a connection for someone still waiting.
    if (this.waiting.length && this.all.size < this.opts.maxConnections && !this.closed) this.open();
  }

  /** Closes every connection; busy ones are cut (the worker is going away). */
  close(): void {
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    for (const conn of [...this.all]) conn.destroy();
    while (this.waiting.length) this.waiting.shift()!.exchange.onConnectFailure('pool closed');
  }

  /** Closes idle connections only; busy ones finish and close when released. */
  closeIdle(): void {
    this.closed = true;
    for (const conn of this.idle.splice(0)) {
      this.state.addEndpoint(this.opts.endpointSlot, 'warm_connections', -1);
      conn.destroy();
    }
  }

  private open(): void {
    const conn = new HttpConnection(this, this.opts.host, this.opts.port, this.opts.connectTimeoutMs);
    this.all.add(conn);
    this.state.addEndpoint(this.opts.endpointSlot, 'cx_active', 1);
    this.state.addCluster(this.opts.clusterSlot, 'cx_active', 1);
    this.stats.cluster(this.opts.clusterSlot, 'upstream_cx_total', 1);
  }

  private forget(conn: HttpConnection): void {
    if (!this.all.delete(conn)) return;
    this.state.addEndpoint(this.opts.endpointSlot, 'cx_active', -1);
    this.state.addCluster(this.opts.clusterSlot, 'cx_active', -1);
  }

  private armSweep(): void {
    if (this.sweepTimer || this.opts.idleTimeoutMs <= 0) return;
    const every = Math.max(250, Math.min(this.opts.idleTimeoutMs / 2, 5000));
    this.sweepTimer = setInterval(() => this.sweep(), every);
    this.sweepTimer.unref();
  }

  private sweep(): void {
    const deadline = Date.now() - this.opts.idleTimeoutMs;
    // The stack's bottom holds the longest idle connections.
    while (this.idle.length && this.idle[0]!.idleSince <= deadline) {
      const conn = this.idle.shift()!;
      this.state.addEndpoint(this.opts.endpointSlot, 'warm_connections', -1);
      conn.destroy();
    }
    if (!this.idle.length && this.sweepTimer) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = null;
    }
  }
}
