/**
 * A worker's HTTP/2 sessions to one upstream endpoint (cluster `protocol: h2 | h2c | auto`).
 *
 * Up to `http2.sessions_per_endpoint` multiplexed sessions (h2-session.ts). A request takes a stream on
 * the least loaded open session below its limit: the cluster's `http2.max_concurrent_streams`, or the
 * endpoint's SETTINGS_MAX_CONCURRENT_STREAMS when lower. When every session is full another opens, up
 * to `sessions_per_endpoint`; past that requests wait in a FIFO queue for a stream to close. The
 * breakers are the HTTP/1.1 pool's: waiting requests count in `rq_pending` (cluster and endpoint,
 * against max_pending_requests) and sessions in `cx_active` (against max_connections). A session whose
 * endpoint sent GOAWAY takes no new streams; requests go to another session or a new one.
 *
 * Sessions without streams close after `pool.idle_timeout`, except the ones warm-up keeps; with
 * `pool.max_connection_age` a session past its age stops taking streams (one per sweep) and a new one
 * takes over; with `pool.max_requests_per_connection` a session stops taking streams after that many.
 * (`max_connections_per_endpoint` and `preconnect_ratio` do not apply: sessions_per_endpoint bounds
 * the sessions, and one session carries many requests.) Warm-up opens
 * min(sessions_per_endpoint, warmup.connections) sessions, TLS included, before the first request,
 * and reports the pool warm once each has the endpoint's SETTINGS (warm-up's HTTP check request is not
 * sent: an HTTP/2 server proves itself with its SETTINGS). Without warm-up nothing is opened before the
 * first request.
 *
 * `protocol: auto` offers h2 and http/1.1 by ALPN. The first TLS connection that completes decides for
 * the endpoint, for the life of the pool: h2 serves it with sessions as above; http/1.1 (or no ALPN
 * answer) hands it to an ordinary EndpointPool, with the same options, for HTTP/1.1 over TLS (its
 * connections offer the cluster's own `tls.alpn`, none by default, which such a server answers with
 * HTTP/1.1). That first connection is closed (HTTP/1.1 connections are the other pool's to open), the
 * requests waiting move over, and from then on every call goes to the HTTP/1.1 pool. A later
 * connection that disagrees with an h2 decision fails as a connect failure. Exchanges hear of the
 * HTTP/1.1 pool's connections through a lease (http1-lease.ts), so a stream always comes from the
 * pool they asked.
 *
 * Time (connect timeouts, pings, idle sweeps, warm-up backoff) comes from the pool's clock.
 */
import { type SharedState, type StatsWriter } from '@pillion/core';
import { EndpointPool, systemClock, type EndpointPoolOptions, type EndpointPoolSources, type PoolClock, type PoolLimits, type PoolTimer } from './endpoint-pool.js';
import { H2Session, SessionState } from './h2-session.js';
import { H2Stream } from './h2-stream.js';
import { Http1Lease } from './http1-lease.js';
import type { ManagedPool } from './managed-pool.js';
import { enterConnection, enterPending, leaveConnection, leavePending, reportWarm } from './pool-breakers.js';
import { Warmup, type WarmupHost, type WarmupLimits } from './warmup.js';
import type { PoolRejection, UpstreamExchange } from './upstream-exchange.js';
import { EndpointTls } from './upstream-tls.js';

/** A cluster's `http2` block as the pool applies it. */
export interface H2Options {
  maxConcurrentStreams: number;
  sessionsPerEndpoint: number;
  /** 0 = no keep-alive pings. */
  keepaliveIntervalMs: number;
  keepaliveTimeoutMs: number;
}

export type H2Protocol = 'h2' | 'h2c' | 'auto';

/** The HTTP/1.1 pool's options (also what `auto` hands to one), plus HTTP/2's own. */
export interface H2SessionPoolOptions extends EndpointPoolOptions {
  protocol: H2Protocol;
  http2: H2Options;
}

interface Waiter {
  exchange: UpstreamExchange;
  isHead: boolean;
}

/** What a test (or an admin view) can see of one session. */
export interface H2SessionView {
  state: 'connecting' | 'open' | 'draining' | 'closed';
  established: boolean;
  streams: number;
  limit: number;
  /** A keep-alive PING is out and not answered yet. */
  pinging: boolean;
}

const STATE_NAMES = ['connecting', 'open', 'draining', 'closed'] as const;

export class H2SessionPool implements ManagedPool, WarmupHost {
  readonly opts: H2SessionPoolOptions & PoolLimits;
  readonly h2: H2Options;
  readonly protocol: H2Protocol;
  readonly clock: PoolClock;
  /** TLS to the endpoint (h2, auto); null for h2c. */
  readonly tls: EndpointTls | null;
  /** `:scheme` of every request. */
  readonly scheme: 'http' | 'https';
  /** `:authority` of a request without a Host field: the endpoint's address and port. */
  readonly authority: string;
  /** The URL a session is opened for (Node wants one; the socket is supplied). */
  readonly authorityUrl: string;
  private readonly random: () => number;
  /** Every session not closed yet, in the order opened. */
  private readonly sessions: H2Session[] = [];
  /** Exchanges waiting for a stream, oldest first. */
  private readonly waiting: Waiter[] = [];
  private closed = false;
  private pumping = false;
  private pumpAgain = false;
  private sweepTimer: PoolTimer | null = null;

  /** Warm-up (null without `pool.warmup`); warm means this worker is counted in the endpoint's `warm_pools`. */
  private readonly warmup: Warmup | null;

  // protocol auto: what the endpoint chose, and the HTTP/1.1 pool when it chose HTTP/1.1.
  private alpn: 'h2' | 'http1' | null = null;
  private fallback: EndpointPool | null = null;
  /** Exchanges waiting on the HTTP/1.1 pool, by the exchange. */
  private readonly leases = new Map<UpstreamExchange, Http1Lease>();
  private readonly settled = (lease: Http1Lease) => {
    this.leases.delete(lease.exchange);
  };

  constructor(
    opts: H2SessionPoolOptions & PoolLimits,
    readonly state: SharedState,
    readonly stats: StatsWriter,
    private readonly sources: EndpointPoolSources = {},
  ) {
    this.opts = opts;
    this.h2 = opts.http2;
    this.protocol = opts.protocol;
    this.clock = sources.clock ?? systemClock;
    this.random = sources.random ?? Math.random;
    if (opts.protocol === 'h2c') this.tls = null;
    else {
      if (!opts.tls) throw new Error(`protocol ${opts.protocol} is HTTP/2 over TLS: the cluster needs tls`);
      this.tls = new EndpointTls(opts.tls, opts.tlsName ?? opts.host, stats, opts.clusterSlot);
    }
    this.scheme = this.tls === null ? 'http' : 'https';
    const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    this.authority = `${host}:${opts.port}`;
    this.authorityUrl = `${this.scheme}://${this.authority}`;
    this.warmup = opts.warmup === null ? null : new Warmup(opts.warmup, this, this.clock, this.random);
  }

  setLimits(l: PoolLimits): void {
    Object.assign(this.opts, l);
    this.fallback?.setLimits(l);
  }

  get pending(): number {
    return this.fallback !== null ? this.fallback.pending : this.waiting.length;
  }

  get isWarm(): boolean {
    return this.fallback !== null ? this.fallback.isWarm : (this.warmup?.isWarm ?? false);
  }

  /** The endpoint chose HTTP/1.1 by ALPN (protocol auto): an EndpointPool serves it now. */
  get http1(): EndpointPool | null {
    return this.fallback;
  }

  /** Sessions not closed yet (the HTTP/1.1 pool's connections once it serves the endpoint). */
  get size(): number {
    return this.fallback !== null ? this.fallback.size : this.sessions.length;
  }

  /** Open sessions without streams. */
  get idleCount(): number {
    if (this.fallback !== null) return this.fallback.idleCount;
    let n = 0;
    for (const s of this.sessions) if (s.state === SessionState.Open && s.active === 0) n++;
    return n;
  }

  sessionViews(): H2SessionView[] {
    return this.sessions.map((s) => ({ state: STATE_NAMES[s.state], established: s.established, streams: s.active, limit: s.limit, pinging: s.pinging }));
  }

  /**
   * Gets a stream for an exchange: on an open session now, or once one has room or has opened.
   * Returns the breaker limit that refused it, or null when it was served or queued.
   */
  acquire(exchange: UpstreamExchange, isHead: boolean): PoolRejection | null {
    if (this.fallback !== null) return this.acquireHttp1(exchange, isHead);
    if (this.closed) {
      exchange.onConnectFailure('pool closed');
      return null;
    }
    if (this.waiting.length === 0) {
      const s = this.pick();
      if (s !== null) {
        this.assign(s, exchange, isHead);
        return null;
      }
    }
    const o = this.opts;
    // Added first, then checked, so two workers cannot both take the last place.
    const refused = enterPending(this.state, this.stats, o);
    if (refused !== null) return refused;
    this.waiting.push({ exchange, isHead });
    if (!this.openForWaiters() && this.sessions.length === 0) {
      // Other workers hold every session the breaker allows and this worker has none that could take
      // the stream: waiting would only end in a timeout.
      this.waiting.pop();
      this.leavePending();
      this.stats.cluster(o.clusterSlot, 'cb_reject_max_connections', 1);
      return 'max_connections';
    }
    return null;
  }

  cancel(exchange: UpstreamExchange): void {
    if (this.fallback !== null) {
      const lease = this.leases.get(exchange);
      if (lease !== undefined) {
        this.leases.delete(exchange);
        this.fallback.cancel(lease);
      }
      return;
    }
    const i = this.waiting.findIndex((w) => w.exchange === exchange);
    if (i !== -1) {
      this.waiting.splice(i, 1);
      this.leavePending();
    }
  }

  // ---------------------------------------------------------------- streams

  /** The least loaded open session with room for another stream. */
  private pick(): H2Session | null {
    let best: H2Session | null = null;
    for (const s of this.sessions) {
      if (s.state === SessionState.Open && s.active < s.limit && (best === null || s.active < best.active)) best = s;
    }
    return best;
  }

  private assign(s: H2Session, exchange: UpstreamExchange, isHead: boolean): void {
    s.active++;
    s.started++;
    exchange.onConnection(new H2Stream(this, s, exchange, isHead));
    // Checked once the request went out: Node refuses new streams on a session being drained.
    const max = this.opts.maxRequestsPerConnection;
    if (max !== 0 && s.started >= max) s.drain();
  }

  /** A stream closed, or was given back unused: its place serves the next waiter. */
  onStreamDone(s: H2Session): void {
    s.active--;
    if (s.active === 0) {
      s.idleSince = this.clock.now();
      if (s.state === SessionState.Open) this.armSweep();
      else s.closeIfDone();
    }
    this.pump();
  }

  /** Hands waiting exchanges to sessions with room; opens sessions for the rest when it may. */
  private pump(): void {
    // A hand-over runs the exchange, which may give its stream back at once: that comes here again.
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        while (this.waiting.length > 0) {
          const s = this.pick();
          if (s === null) break;
          const w = this.shiftWaiter()!;
          this.assign(s, w.exchange, w.isHead);
        }
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
    if (this.waiting.length > 0 && !this.closed && this.fallback === null) this.openForWaiters();
  }

  /**
   * Opens a session when the waiters outnumber what the sessions on their way can take and fewer than
   * sessions_per_endpoint take streams. Returns false when one was wanted but the breaker refused it.
   */
  private openForWaiters(): boolean {
    let usable = 0;
    let connecting = 0;
    for (const s of this.sessions) {
      if (s.state === SessionState.Connecting) connecting++;
      if (s.state === SessionState.Connecting || s.state === SessionState.Open) usable++;
    }
    if (this.waiting.length <= connecting * this.h2.maxConcurrentStreams) return true;
    if (usable >= this.h2.sessionsPerEndpoint) return true;
    return this.open(false);
  }

  // ---------------------------------------------------------------- sessions

  /** Opens a session unless the connection breakers are full; returns whether it did. */
  private open(forWarmup: boolean): boolean {
    const o = this.opts;
    if (!enterConnection(this.state, o)) return false;
    const s = new H2Session(this, forWarmup);
    if (o.maxConnectionAgeMs > 0) {
      s.ageDeadline = this.clock.now() + o.maxConnectionAgeMs * (0.9 + 0.2 * this.random());
      this.armSweep();
    }
    this.sessions.push(s);
    this.stats.cluster(o.clusterSlot, 'upstream_cx_total', 1);
    return true;
  }

  /** The endpoint's first SETTINGS arrived: the session has connected and takes streams. */
  onSessionEstablished(s: H2Session): void {
    if (this.closed && this.waiting.length === 0) {
      s.drain();
      return;
    }
    if (s.forWarmup) this.warmup?.onReady();
    else this.warmup?.pump();
    this.pump();
    if (s.active === 0) {
      s.idleSince = this.clock.now();
      this.armSweep();
    }
  }

  /** The endpoint changed its settings (its stream limit): waiters may fit now. */
  onSessionSettings(_s: H2Session): void {
    this.pump();
  }

  /** GOAWAY: the session takes no new streams; waiters go to another or a new one. */
  onSessionDraining(_s: H2Session): void {
    this.pump();
  }

  /** The session is gone; `failure` says why when it never connected (a connect failure). */
  onSessionClosed(s: H2Session, failure: string | null): void {
    const i = this.sessions.indexOf(s);
    if (i === -1) return;
    this.sessions.splice(i, 1);
    leaveConnection(this.state, this.opts);
    if (failure !== null) {
      this.stats.cluster(this.opts.clusterSlot, 'upstream_connect_failures', 1);
      this.stats.endpoint(this.opts.endpointSlot, 'connect_failures', 1);
      if (s.forWarmup && !this.closed && this.fallback === null) this.warmup?.onFailed();
      // Tell the oldest waiter; the others keep waiting for sessions still open or connecting, unless
      // nothing is left that could serve them.
      this.shiftWaiter()?.exchange.onConnectFailure(failure);
      if (this.sessions.length === 0) {
        for (let w = this.shiftWaiter(); w; w = this.shiftWaiter()) w.exchange.onConnectFailure(failure);
      }
      return;
    }
    if (this.closed || this.fallback !== null) return;
    this.pump();
    // Keep a warm pool warm, through the warm-up path: a replacement that fails backs off, and the
    // pool stops saying it is warm.
    this.warmup?.replenish();
  }

  private usableCount(): number {
    let n = 0;
    for (const s of this.sessions) if (s.state === SessionState.Connecting || s.state === SessionState.Open) n++;
    return n;
  }

  // ---------------------------------------------------------------- protocol auto

  /** A TLS connection of an `auto` pool chose h2. */
  onAlpnH2(): void {
    if (this.alpn === null) this.alpn = 'h2';
  }

  /**
   * A TLS connection of an `auto` pool chose HTTP/1.1 (or nothing). Returns false when the endpoint
   * already chose h2 on an earlier connection (this one then fails), true when HTTP/1.1 serves it.
   */
  onAlpnHttp1(): boolean {
    if (this.alpn === 'h2') return false;
    if (this.fallback === null) this.useHttp1();
    return true;
  }

  private useHttp1(): void {
    this.alpn = 'http1';
    const { protocol: _p, http2: _h, ...http1 } = this.opts;
    this.fallback = new EndpointPool({ ...http1 }, this.state, this.stats, this.sources);
    this.stopTimers();
    for (const s of [...this.sessions]) s.abandon();
    for (let w = this.shiftWaiter(); w; w = this.shiftWaiter()) {
      const refused = this.acquireHttp1(w.exchange, w.isHead);
      if (refused !== null) w.exchange.onConnectFailure(`circuit breaker ${refused} reached`);
    }
    if (this.opts.warmup !== null && !this.closed) this.fallback.warm();
  }

  private acquireHttp1(exchange: UpstreamExchange, isHead: boolean): PoolRejection | null {
    const lease = new Http1Lease(this, exchange, this.settled);
    this.leases.set(exchange, lease);
    const refused = this.fallback!.acquire(lease, isHead);
    if (refused !== null) this.leases.delete(exchange);
    return refused;
  }

  // ---------------------------------------------------------------- warm-up

  /**
   * Starts (or restarts) warming: at start, for a new endpoint, and when the endpoint returns to
   * health. Does nothing without `pool.warmup`.
   */
  warm(): void {
    if (this.fallback !== null) return this.fallback.warm();
    if (!this.closed) this.warmup?.start();
  }

  // WarmupHost: a session is ready once it has the endpoint's SETTINGS; it counts while connecting or open.
  warmReady(): number {
    let ready = 0;
    for (const s of this.sessions) if (s.state === SessionState.Open && s.established) ready++;
    return ready;
  }

  warmOpen(): number {
    return this.usableCount();
  }

  warmTarget(limits: WarmupLimits): number {
    return Math.min(this.h2.sessionsPerEndpoint, limits.connections);
  }

  openForWarmup(): boolean {
    return this.fallback === null && this.open(true);
  }

  reportWarm(warm: boolean): void {
    reportWarm(this.state, this.opts, warm);
  }

  // ---------------------------------------------------------------- idle sessions and age

  private armSweep(): void {
    const o = this.opts;
    if (this.sweepTimer !== null || this.closed || (o.idleTimeoutMs <= 0 && o.maxConnectionAgeMs <= 0)) return;
    const every = o.idleTimeoutMs > 0 ? Math.max(250, Math.min(o.idleTimeoutMs / 2, 5000)) : 5000;
    this.sweepTimer = this.clock.setInterval(() => this.sweep(), every);
    this.sweepTimer.unref();
  }

  private sweep(): void {
    const o = this.opts;
    const now = this.clock.now();
    // Past their age: one session per sweep stops taking streams, so sessions are replaced gradually.
    if (o.maxConnectionAgeMs > 0) {
      const old = this.sessions.find((s) => s.state === SessionState.Open && s.ageDeadline !== 0 && s.ageDeadline <= now);
      if (old !== undefined) {
        old.drain();
        this.pump();
      }
    }
    let open = 0;
    let idle = 0;
    for (const s of this.sessions) {
      if (s.state !== SessionState.Open) continue;
      open++;
      if (s.active === 0) idle++;
    }
    if (o.idleTimeoutMs > 0 && idle > 0) {
      const warm = this.opts.warmup;
      const keep = Math.max(Math.min(o.minIdle, this.h2.sessionsPerEndpoint), this.warmup?.isWarm && warm !== null ? Math.min(this.h2.sessionsPerEndpoint, warm.connections) : 0);
      const deadline = now - o.idleTimeoutMs;
      const candidates = this.sessions.filter((s) => s.state === SessionState.Open && s.active === 0 && s.idleSince <= deadline).sort((a, b) => a.idleSince - b.idleSince);
      for (const s of candidates) {
        if (open <= keep) break;
        s.drain();
        open--;
        idle--;
      }
    }
    if (idle === 0 && o.maxConnectionAgeMs <= 0 && this.sweepTimer !== null) {
      this.clock.clearInterval(this.sweepTimer);
      this.sweepTimer = null;
    }
  }

  // ---------------------------------------------------------------- shutdown

  /** Destroys every session (their streams end 'reset'); waiters fail with 'pool closed'. */
  close(): void {
    this.closed = true;
    this.stopTimers();
    // One still connecting is abandoned: its end is the pool's doing, not a connect failure.
    for (const s of [...this.sessions]) {
      if (s.established) s.destroy();
      else s.abandon();
    }
    for (let w = this.shiftWaiter(); w; w = this.shiftWaiter()) w.exchange.onConnectFailure('pool closed');
    this.fallback?.close();
  }

  /** Closes sessions without streams; busy ones take no new streams and close when they are done. */
  closeIdle(): void {
    this.closed = true;
    this.stopTimers();
    for (const s of [...this.sessions]) s.drain();
    this.fallback?.closeIdle();
  }

  private stopTimers(): void {
    if (this.sweepTimer !== null) this.clock.clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.warmup?.stop();
  }

  // ---------------------------------------------------------------- internals

  private shiftWaiter(): Waiter | undefined {
    const w = this.waiting.shift();
    if (w) this.leavePending();
    return w;
  }

  private leavePending(): void {
    leavePending(this.state, this.opts);
  }
}
