/**
 * A worker's pool of keep-alive connections to one upstream endpoint.
 *
 * Idle connections are a LIFO stack (the most recently used is the most likely still open and warm);
 * when none is idle and the pool is below `max_connections_per_endpoint` a new one is opened, otherwise
 * the exchange waits in a FIFO queue. Connections idle past `idle_timeout` are closed by one sweep timer
 * per pool (down to `min_idle`), not one timer per connection.
 *
 * Warm-up opens connections before any request needs them — at start, for a new endpoint, and when an
 * endpoint returns to health — at most `concurrency` at a time, backing off with jitter when the
 * upstream refuses, and verifies each one (with the cluster's HTTP health check request when it has
 * one) before counting it. When the pool is warm it says so in SharedState and bumps the cluster's
 * membership generation, so every worker's balancer gives the endpoint its full share.
 *
 * For a cluster with `tls` every connection is a TLS one (`tls`: the cluster's current secure context
 * and this endpoint's latest session, offered for resumption). A connection counts as connected, and a
 * warm-up connection as warm, only once its handshake is done, so a request on a warm connection pays
 * neither TCP nor TLS setup.
 *
 * Time (idle sweeps, warm-up backoff, connection age, connect timeouts) comes from the pool's clock and
 * jitter from its random source: the system's unless the constructor is given others.
 */
import { backoffDelay, type SharedState, type StatsWriter } from '@pillion/core';
import { ConnState, HttpConnection } from './http-connection.js';
import { enterConnection, enterPending, leaveConnection, leavePending, reportWarm } from './pool-breakers.js';
import type { PoolRejection, UpstreamExchange, UpstreamPool } from './upstream-exchange.js';
import { EndpointTls, type ClusterTlsSource } from './upstream-tls.js';
import { WarmupProbe, type WarmupCheck } from './warmup-probe.js';
import { Warmup, type WarmupHost, type WarmupLimits } from './warmup.js';

export interface WarmupOptions {
  connections: number;
  concurrency: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Request used to verify a new connection; null = a completed TCP connect is enough. */
  check: WarmupCheck | null;
}

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
  warmup: WarmupOptions | null;
  /** Connections kept open per connection in use; 1 = no preconnect. */
  preconnectRatio: number;
  minIdle: number;
  /** 0 = connections may live forever. */
  maxConnectionAgeMs: number;
  /** The cluster's TLS, read at each connect; unset or null: plaintext. */
  tls?: ClusterTlsSource | null;
  /** The name `host` was resolved from, if any: TLS uses it (SNI, certificate check) as it would `host`. */
  tlsName?: string | undefined;
}

/** Breaker limits, all workers together (Infinity = none). */
export interface PoolLimits {
  clusterMaxConnections: number;
  clusterMaxPending: number;
  endpointMaxConnections: number;
  endpointMaxPending: number;
}


/** A pending timer of a PoolClock. `unref` lets the process exit while it is pending. */
export interface PoolTimer {
  unref(): unknown;
}

/** Milliseconds and timers that run on them. */
export interface PoolClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): PoolTimer;
  clearTimeout(timer: PoolTimer): void;
  setInterval(fn: () => void, ms: number): PoolTimer;
  clearInterval(timer: PoolTimer): void;
}

/** Wall-clock time (Date.now) and Node's timers. */
export const systemClock: PoolClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (timer) => clearInterval(timer as NodeJS.Timeout),
};

/** Where a pool takes time and randomness from. */
export interface EndpointPoolSources {
  /** Default: systemClock. */
  clock?: PoolClock;
  /** Uniform in [0, 1), for the jitter of warm-up backoff and connection age. Default: Math.random. */
  random?: () => number;
}

interface Waiter {
  exchange: UpstreamExchange;
  isHead: boolean;
}

export class EndpointPool implements UpstreamPool, WarmupHost {
  readonly opts: EndpointPoolOptions & PoolLimits;
  readonly maxResponseHeadBytes: number;
  /** The pool's time; its connections' connect timeouts run on it too. */
  readonly clock: PoolClock;
  /** TLS to the endpoint (null: plaintext): the secure context of the moment and the session to resume. */
  readonly tls: EndpointTls | null;
  private readonly random: () => number;
  private readonly idle: HttpConnection[] = [];
  private readonly all = new Set<HttpConnection>();
  private connecting = 0;
  /** Exchanges waiting for a connection, oldest first. */
  private readonly waiting: Waiter[] = [];
  private sweepTimer: PoolTimer | null = null;
  private closed = false;

  /** Warm-up (null without `pool.warmup`); warm means this worker is counted in the endpoint's `warm_pools`. */
  private readonly warmup: Warmup | null;
  /** Connected warm-up connections whose verification request is out. */
  private probing = 0;
  /** TLS connections the endpoint refused after the handshake since one last carried a response (backoff). */
  private refusals = 0;

  constructor(
    opts: EndpointPoolOptions & PoolLimits,
    private readonly state: SharedState,
    private readonly stats: StatsWriter,
    sources: EndpointPoolSources = {},
  ) {
    this.opts = opts;
    this.maxResponseHeadBytes = opts.maxResponseHeadBytes;
    this.clock = sources.clock ?? systemClock;
    this.random = sources.random ?? Math.random;
    this.tls = opts.tls ? new EndpointTls(opts.tls, opts.tlsName ?? opts.host, stats, opts.clusterSlot) : null;
    this.warmup = opts.warmup === null ? null : new Warmup(opts.warmup, this, this.clock, this.random);
  }

  /** New breaker limits after a config change; connections already open stay. */
  setLimits(l: PoolLimits): void {
    Object.assign(this.opts, l);
  }

  get size(): number {
    return this.all.size;
  }

  get idleCount(): number {
    return this.idle.length;
  }

  get pending(): number {
    return this.waiting.length;
  }

  get isWarm(): boolean {
    return this.warmup?.isWarm ?? false;
  }

  /**
   * Gets a connection for an exchange: an idle one now, a new one once connected, or a place in the
   * queue. Returns the breaker limit that refused it, or null when it was served or queued.
   */
  acquire(exchange: UpstreamExchange, isHead: boolean): PoolRejection | null {
    while (this.idle.length) {
      const conn = this.idle.pop()!;
      this.state.addEndpoint(this.opts.endpointSlot, 'warm_connections', -1);
      if (conn.state !== ConnState.Idle || conn.socket.destroyed) continue;
      conn.assign(exchange, isHead);
      exchange.onConnection(conn);
      if (this.opts.preconnectRatio > 1) this.preconnect();
      return null;
    }
    const o = this.opts;
    // Pending requests are counted across workers; add first, then check, so two workers cannot both
    // take the last place.
    const refused = enterPending(this.state, this.stats, o);
    if (refused !== null) return refused;
    this.waiting.push({ exchange, isHead });
    // Open a connection for this waiter unless enough are already on their way.
    if (this.connecting < this.waiting.length && this.all.size < o.maxConnections && !this.open() && this.all.size === 0) {
      // Other workers hold every connection the breaker allows, and this worker has none that could
      // free up for us: waiting would only end in a timeout.
      this.waiting.pop();
      this.leavePending();
      this.stats.cluster(o.clusterSlot, 'cb_reject_max_connections', 1);
      return 'max_connections';
    }
    if (this.opts.preconnectRatio > 1) this.preconnect();
    return null;
  }

  /** Removes a waiting exchange (client gave up). */
  cancel(exchange: UpstreamExchange): void {
    const i = this.waiting.findIndex((w) => w.exchange === exchange);
    if (i !== -1) {
      this.waiting.splice(i, 1);
      this.leavePending();
    }
  }

  mayReuse(conn: HttpConnection): boolean {
    if (this.closed) return false;
    const max = this.opts.maxRequestsPerConnection;
    if (max !== 0 && conn.requests >= max) return false;
    return conn.ageDeadline === 0 || this.clock.now() < conn.ageDeadline;
  }

  /** A connection finished its exchange cleanly (or a warm-up verified it). */
  release(conn: HttpConnection): void {
    if (conn.requests > 0) this.refusals = 0;
    const w = this.shiftWaiter();
    if (w) {
      conn.assign(w.exchange, w.isHead);
      w.exchange.onConnection(conn);
      if (this.opts.preconnectRatio > 1) this.preconnect();
      return;
    }
    conn.idleSince = this.clock.now();
    this.idle.push(conn);
    this.state.addEndpoint(this.opts.endpointSlot, 'warm_connections', 1);
    this.armSweep();
  }

  onConnected(conn: HttpConnection): void {
    this.connecting--;
    if (this.closed) {
      conn.destroy();
      return;
    }
    conn.state = ConnState.Idle;
    const warm = this.opts.warmup;
    if (conn.forWarmup && warm !== null && warm.check !== null) {
      // Verify before counting it; a waiting request would rather have it now, though.
      if (this.waiting.length === 0) {
        this.probing++;
        conn.assign(new WarmupProbe(this, warm.check), false);
        (conn.exchange as WarmupProbe).onConnection(conn);
        return;
      }
    }
    if (conn.forWarmup) this.warmup?.onReady();
    this.release(conn);
  }

  onConnectFailed(conn: HttpConnection, reason: string): void {
    this.connecting--;
    this.stats.cluster(this.opts.clusterSlot, 'upstream_connect_failures', 1);
    this.stats.endpoint(this.opts.endpointSlot, 'connect_failures', 1);
    this.forget(conn);
    if (conn.forWarmup && !this.closed) this.warmup?.onFailed();
    // Tell the oldest waiter; the others keep waiting for connections still open or connecting,
    // unless nothing is left that could serve them.
    const w = this.shiftWaiter();
    w?.exchange.onConnectFailure(reason);
    if (this.all.size === 0) {
      for (let x = this.shiftWaiter(); x; x = this.shiftWaiter()) x.exchange.onConnectFailure(reason);
    }
  }

  /**
   * The endpoint refused a TLS connection after the handshake completed on this side (TLS 1.3: it did
   * not accept the client certificate). Counted as a connect failure; its close follows.
   */
  onRefused(exchange: UpstreamExchange | null): void {
    this.stats.cluster(this.opts.clusterSlot, 'upstream_connect_failures', 1);
    this.stats.endpoint(this.opts.endpointSlot, 'connect_failures', 1);
    // A warm connection that turns out refused is replaced after a backoff, never at once: the endpoint
    // would refuse the next one the same way. (A warm-up probe backs off through its own failure.)
    if (this.warmup === null || this.closed || exchange instanceof WarmupProbe) return;
    this.warmup.coolFor((baseMs, maxMs) => backoffDelay(this.refusals++, baseMs, maxMs, this.random()));
  }

  onClosed(conn: HttpConnection): void {
    const i = this.idle.indexOf(conn);
    if (i !== -1) {
      this.idle.splice(i, 1);
      this.state.addEndpoint(this.opts.endpointSlot, 'warm_connections', -1);
    }
    // A connection that failed to connect was forgotten then; its close is no news (reacting to it
    // again would reconnect at once, in a loop, to an endpoint that is down).
    const wasOpen = this.all.has(conn);
    this.forget(conn);
    if (this.closed || !wasOpen) return;
    // A slot freed up: open a connection for someone still waiting, or warm a warm pool up again
    // through the warm-up path, so a replacement that fails backs off and the pool stops saying it
    // is warm (a refused one is warmed again after its own backoff).
    if (this.waiting.length > this.connecting && this.all.size < this.opts.maxConnections) this.open();
    else if (conn.refusedReason === null) this.warmup?.replenish();
  }

  // ---------------------------------------------------------------- warm-up

  /**
   * Starts (or restarts) warming: at start, for a new endpoint, and when the endpoint returns to
   * health. Does nothing without `pool.warmup`.
   */
  warm(): void {
    if (!this.closed) this.warmup?.start();
  }

  /** A warm-up probe's verdict on its connection. */
  onWarmVerified(ok: boolean): void {
    this.probing--;
    if (ok) this.warmup?.onReady();
    else if (!this.closed) this.warmup?.onFailed();
  }

  // WarmupHost: ready connections are those neither connecting nor being verified.
  warmReady(): number {
    return this.all.size - this.connecting - this.probing;
  }

  warmOpen(): number {
    return this.all.size;
  }

  warmTarget(limits: WarmupLimits): number {
    return limits.connections;
  }

  openForWarmup(): boolean {
    return this.all.size < this.opts.maxConnections && this.open(true);
  }

  reportWarm(warm: boolean): void {
    reportWarm(this.state, this.opts, warm);
  }

  // ---------------------------------------------------------------- shutdown

  /** Closes every connection; busy ones are cut (the worker is going away). */
  close(): void {
    this.closed = true;
    this.stopTimers();
    for (const conn of [...this.all]) conn.destroy();
    for (let w = this.shiftWaiter(); w; w = this.shiftWaiter()) w.exchange.onConnectFailure('pool closed');
  }

  /** Closes idle connections only; busy ones finish and close when released. */
  closeIdle(): void {
    this.closed = true;
    this.stopTimers();
    for (const conn of this.idle.splice(0)) {
      this.state.addEndpoint(this.opts.endpointSlot, 'warm_connections', -1);
      conn.destroy();
    }
  }

  private stopTimers(): void {
    if (this.sweepTimer) this.clock.clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.warmup?.stop();
  }

  // ---------------------------------------------------------------- internals

  /** Opens connections ahead of demand: `preconnect_ratio` x connections in use. */
  private preconnect(): void {
    const inUse = this.all.size - this.idle.length - this.connecting;
    const want = Math.min(Math.ceil(inUse * this.opts.preconnectRatio), this.opts.maxConnections);
    for (let i = 0; i < 4 && this.all.size < want; i++) if (!this.open()) break;
  }

  private shiftWaiter(): Waiter | undefined {
    const w = this.waiting.shift();
    if (w) this.leavePending();
    return w;
  }

  private leavePending(): void {
    leavePending(this.state, this.opts);
  }

  /** Opens a connection unless the connection breakers are full; returns whether it did. */
  private open(forWarmup = false): boolean {
    const o = this.opts;
    if (!enterConnection(this.state, o)) return false;
    const conn = new HttpConnection(this, o.host, o.port, o.connectTimeoutMs);
    conn.forWarmup = forWarmup;
    // Each connection gets its own deadline within +-10% of the age limit, so connections opened
    // together are not all replaced together.
    if (o.maxConnectionAgeMs > 0) conn.ageDeadline = this.clock.now() + o.maxConnectionAgeMs * (0.9 + 0.2 * this.random());
    this.all.add(conn);
    this.connecting++;
    this.stats.cluster(o.clusterSlot, 'upstream_cx_total', 1);
    return true;
  }

  private forget(conn: HttpConnection): void {
    if (!this.all.delete(conn)) return;
    leaveConnection(this.state, this.opts);
  }

  private armSweep(): void {
    if (this.sweepTimer || this.opts.idleTimeoutMs <= 0) return;
    const every = Math.max(250, Math.min(this.opts.idleTimeoutMs / 2, 5000));
    this.sweepTimer = this.clock.setInterval(() => this.sweep(), every);
    this.sweepTimer.unref();
  }

  private sweep(): void {
    const now = this.clock.now();
    const deadline = now - this.opts.idleTimeoutMs;
    // The stack's bottom holds the longest idle connections; keep min_idle of them (and a warm pool's).
    const keep = Math.max(this.opts.minIdle, this.warmup?.isWarm && this.opts.warmup !== null ? this.opts.warmup.connections : 0);
    while (this.idle.length > keep && this.idle[0]!.idleSince <= deadline) {
      const conn = this.idle.shift()!;
      this.state.addEndpoint(this.opts.endpointSlot, 'warm_connections', -1);
      conn.destroy();
    }
    // Replace idle connections past their age one per sweep, so a pool is refreshed gradually.
    if (this.opts.maxConnectionAgeMs > 0) {
      const i = this.idle.findIndex((c) => c.ageDeadline !== 0 && c.ageDeadline <= now);
      if (i !== -1) {
        const [conn] = this.idle.splice(i, 1);
        this.state.addEndpoint(this.opts.endpointSlot, 'warm_connections', -1);
        conn!.destroy();
      }
    }
    if (!this.idle.length && this.sweepTimer && this.opts.maxConnectionAgeMs === 0) {
      this.clock.clearInterval(this.sweepTimer);
      this.sweepTimer = null;
    }
  }
}
