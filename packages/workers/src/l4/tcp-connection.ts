/**
 * One downstream TCP connection through the proxy: pick an endpoint, connect (trying other endpoints
 * on failure, up to `connect_attempts`), then pipe bytes both ways until both directions are done.
 *
 * - Backpressure: `pipe()` pauses the reading side while the writing side's buffer is full.
 * - Half-close: both sockets are `allowHalfOpen`; a FIN from one side is passed on with `end()` once
 *   what came before it is written, and the other direction keeps flowing.
 * - A reset on one side resets the other, so an application sees the failure it would see directly.
 * - While connecting, the downstream socket is paused (the server accepts with `pauseOnConnect`), so
 *   bytes the client sends early wait in the kernel, not in memory.
 * - The downstream may be a TLSSocket (a listener with `tls`), and bytes already read from the client
 *   (a ClientHello read for `tls_passthrough` routing) go upstream before anything else.
 *
 * The connection holds the endpoint's `cx_active` and `rq_active` (SharedState) from pick to close, so
 * least-request balances by open connections across every worker, and the cluster's `cx_active` for its
 * max_connections breaker.
 */
import { connect, type Socket } from 'node:net';
import type { PickRequest } from '@pillion/core';
import { CONNECTED, NO_HEADERS, sampled, type L4Cluster, type L4Endpoint } from './l4-host.js';
import type { TcpListener } from './tcp-listener.js';
import { tlsFailureReason, type EndpointTls } from '../upstream/upstream-tls.js';

/** An endpoint of a cluster with `tls` carries its TLS (ClusterRuntime's endpoints do): connections to it are TLS. */
type MaybeTlsEndpoint = L4Endpoint & { readonly tls?: EndpointTls | null };

/** How a connection ended, as written to the access log. */
export type TcpEnd =
  | 'closed' // both sides finished (FIN both ways)
  | 'downstream-reset' // the client reset or the downstream socket failed
  | 'upstream-reset' // the endpoint reset or the upstream socket failed
  | 'idle-timeout'
  | 'max-duration'
  | 'no-endpoint' // nothing to pick
  | 'connect-failure' // every attempt failed
  | 'overflow' // the listener's max_connections
  | 'cluster-overflow' // the cluster's circuit_breaker.max_connections
  | 'drain' // still open when the worker closed
  | 'tls-failed' // tls: the handshake failed, timed out, or the client certificate was refused
  | 'no-route' // tls_passthrough: no route for the SNI and no default_cluster
  | 'not-tls'; // tls_passthrough: the first bytes were not a TLS ClientHello

/** How a connection came to be proxied, when it is more than a plain accept. */
export interface TcpConnectionOptions {
  /** Bytes already read from the client, sent upstream first (tls_passthrough: the ClientHello). */
  initial?: Buffer;
  /** The TCP socket under a TLS downstream: a reset is passed on through it (a TLSSocket cannot reset). */
  transport?: Socket;
  /** When the connection was accepted (performance.now()), so durations include the TLS handshake. */
  acceptedAt?: number;
  /** Fields added to the access log line (sni, client_identity). */
  logFields?: Record<string, string>;
}

export class TcpConnection implements PickRequest {
  readonly headers = NO_HEADERS;
  lbScratch: unknown = null;
  private client: string | null = null;
  private readonly listener: TcpListener;
  private readonly downstream: Socket;
  private readonly cluster: L4Cluster;
  private readonly started: number;
  private initial: Buffer | null;
  private readonly transport: Socket;
  private readonly logFields: Record<string, string> | undefined;
  private upstream: Socket | null = null;
  /** The TCP socket under a TLS upstream (the upstream itself otherwise): what a reset goes through. */
  private upstreamTransport: Socket | null = null;
  private endpoint: L4Endpoint | null = null;
  /** Attempts made so far (the next pick's attempt number). */
  private attempts = 0;
  private connected = false;
  private downstreamClosed = false;
  private upstreamClosed = true;
  private end: TcpEnd | null = null;
  private done = false;
  private durationTimer: NodeJS.Timeout | null = null;
  private connectTimer: NodeJS.Timeout | null = null;
  // Bytes already added to the statistics (the listener flushes long connections periodically).
  private countedDownIn = 0;
  private countedDownOut = 0;
  private countedUpIn = 0;
  private countedUpOut = 0;

  private readonly boundUpConnect = this.onUpstreamConnect.bind(this);
  private readonly boundUpError = this.onUpstreamError.bind(this);
  private readonly boundUpClose = this.onUpstreamClose.bind(this);

  constructor(listener: TcpListener, downstream: Socket, cluster: L4Cluster, opts: TcpConnectionOptions = {}) {
    this.listener = listener;
    this.downstream = downstream;
    this.cluster = cluster;
    this.started = opts.acceptedAt ?? performance.now();
    this.initial = opts.initial ?? null;
    this.transport = opts.transport ?? downstream;
    this.logFields = opts.logFields;
    // The access log needs the peer after the socket closed; getpeername works only while it is open.
    if (listener.accessLog !== null) this.client = downstream.remoteAddress ?? '';
    downstream.setNoDelay(true);
    downstream.on('error', this.onDownstreamError.bind(this));
    downstream.on('close', this.onDownstreamClose.bind(this));
    downstream.on('timeout', this.onIdle.bind(this));
    const cfg = listener.config;
    if (cfg.idle_timeout > 0) downstream.setTimeout(cfg.idle_timeout);
    if (cfg.max_connection_duration !== undefined && cfg.max_connection_duration > 0) {
      this.durationTimer = setTimeout(expire, cfg.max_connection_duration, this);
    }
    const state = listener.host.state;
    if (state.cluster(cluster.slot, 'cx_active') >= cluster.snapshot.config.circuit_breaker.max_connections) {
      listener.host.stats.cluster(cluster.slot, 'cb_reject_max_connections', 1);
      listener.host.stats.listener(listener.slot, 'tcp_rejected_cluster_overflow', 1);
      this.abort('cluster-overflow');
      return;
    }
    this.tryConnect();
  }

  /** Read when first needed (hashing on source-ip, the access log): it costs a getpeername call. */
  get clientAddress(): string {
    this.client ??= this.downstream.remoteAddress ?? '';
    return this.client;
  }

  /** Closes both sides now, for `reason` (a timeout, the drain, a failure). */
  abort(reason: TcpEnd): void {
    this.end ??= reason;
    if (this.upstream !== null) {
      if (!this.connected) this.dropUpstream();
      else if (!this.upstream.destroyed) this.upstream.destroy();
    }
    if (!this.downstream.destroyed) this.downstream.destroy();
  }

  /**
   * Closes both sides and settles the books now, without waiting for the sockets' close events: the
   * worker is going away and the shared counters must not keep its connections.
   */
  closeNow(reason: TcpEnd): void {
    this.abort(reason);
    this.downstreamClosed = true;
    this.upstreamClosed = true;
    this.finishIfClosed();
  }

  private tryConnect(): void {
    const cfg = this.listener.config;
    if (this.attempts >= cfg.connect_attempts) {
      this.listener.host.stats.listener(this.listener.slot, 'tcp_no_endpoint', 1);
      this.abort('connect-failure');
      return;
    }
    const endpoint = this.cluster.pick(this, this.attempts);
    this.attempts++;
    if (endpoint === null) {
      this.listener.host.stats.listener(this.listener.slot, 'tcp_no_endpoint', 1);
      this.abort(this.attempts > 1 ? 'connect-failure' : 'no-endpoint');
      return;
    }
    this.endpoint = endpoint;
    this.hold(endpoint, 1);
    const { stats } = this.listener.host;
    stats.cluster(this.cluster.slot, 'upstream_cx_total', 1);
    stats.endpoint(endpoint.slot, 'requests', 1);
    // A cluster with tls: the endpoint counts as connected once the handshake is done and its
    // certificate passed the cluster's checks (connect_timeout covers both).
    const tls = (endpoint as MaybeTlsEndpoint).tls ?? null;
    const raw = connect({ host: endpoint.address, port: endpoint.port, allowHalfOpen: true, noDelay: true });
    const up = tls === null ? raw : tls.connect({ host: endpoint.address, port: endpoint.port, allowHalfOpen: true, socket: raw });
    this.upstream = up;
    this.upstreamTransport = raw;
    this.upstreamClosed = false;
    up.on(tls === null ? 'connect' : 'secureConnect', this.boundUpConnect);
    up.on('error', this.boundUpError);
    up.on('close', this.boundUpClose);
    const timeout = this.cluster.snapshot.config.connect_timeout;
    if (timeout > 0) this.connectTimer = setTimeout(connectTimedOut, timeout, this);
  }

  /** Adds `delta` to the endpoint's and cluster's shared counters the balancer and breaker read. */
  private hold(endpoint: L4Endpoint, delta: number): void {
    const state = this.listener.host.state;
    state.addEndpoint(endpoint.slot, 'cx_active', delta);
    state.addEndpoint(endpoint.slot, 'rq_active', delta);
    state.addCluster(this.cluster.slot, 'cx_active', delta);
  }

  private onUpstreamConnect(): void {
    this.clearConnectTimer();
    if (this.downstream.destroyed) {
      this.abort('downstream-reset');
      return;
    }
    this.connected = true;
    this.cluster.onResult(this.endpoint!, CONNECTED);
    const up = this.upstream!;
    this.sendInitial(up);
    this.downstream.pipe(up);
    up.pipe(this.downstream);
  }

  /** Called by the connect timer. */
  connectTimeout(): void {
    this.connectTimer = null;
    if (!this.connected) this.connectFailed('timeout');
  }

  private onUpstreamError(err: NodeJS.ErrnoException): void {
    if (!this.connected) {
      const tls = (this.endpoint as MaybeTlsEndpoint | null)?.tls ?? null;
      this.listener.host.log.debug({ listener: this.listener.config.name, upstream: this.endpoint?.key, err: tls === null ? err.message : tlsFailureReason(err) }, 'upstream connect failed');
      this.connectFailed('connect-failure');
      return;
    }
    this.end ??= 'upstream-reset';
    this.listener.host.log.debug({ listener: this.listener.config.name, err: err.message }, 'upstream connection failed');
    // Pass the failure on as a reset, not as a clean end the client could mistake for a complete reply.
    if (!this.downstream.destroyed) this.resetDownstream();
    if (!this.upstream!.destroyed) this.upstream!.destroy();
  }

  /** Writes the bytes read before the connection was proxied, ahead of everything piped after them. */
  private sendInitial(up: Socket): void {
    if (this.initial === null) return;
    up.write(this.initial);
    this.initial = null;
  }

  /** Resets the client's TCP connection (under TLS too), so it sees a failure rather than a clean end. */
  private resetDownstream(): void {
    if (this.transport.destroyed) this.downstream.destroy();
    else this.transport.resetAndDestroy();
  }

  /** Gives up an attempt that has not connected: its socket, its endpoint's counters. */
  private dropUpstream(): L4Endpoint {
    this.clearConnectTimer();
    const up = this.upstream!;
    const endpoint = this.endpoint!;
    up.off('connect', this.boundUpConnect);
    up.off('secureConnect', this.boundUpConnect);
    up.off('error', this.boundUpError);
    up.off('close', this.boundUpClose);
    up.on('error', ignore);
    up.destroy();
    this.upstream = null;
    this.upstreamClosed = true;
    this.endpoint = null;
    this.hold(endpoint, -1);
    return endpoint;
  }

  private connectFailed(result: 'connect-failure' | 'timeout'): void {
    const endpoint = this.dropUpstream();
    const { stats } = this.listener.host;
    stats.cluster(this.cluster.slot, 'upstream_connect_failures', 1);
    stats.endpoint(endpoint.slot, 'connect_failures', 1);
    // Outlier detection counts a connect timeout like any other failure to connect.
    this.cluster.onResult(endpoint, result === 'timeout' ? 'timeout' : 'connect-failure');
    if (this.downstream.destroyed) {
      this.end ??= 'downstream-reset';
      this.finishIfClosed();
      return;
    }
    this.tryConnect();
  }

  private onUpstreamClose(): void {
    if (!this.connected) {
      // Closed before connecting without an error event: count it as a failed attempt.
      this.connectFailed('connect-failure');
      return;
    }
    this.upstreamClosed = true;
    // After a clean close the upstream's end has been passed on (pipe called end()); if it has not, the
    // upstream went away mid-stream and the client must not be left waiting.
    if (!this.downstream.destroyed && !this.downstream.writableEnded) this.downstream.destroy();
    this.finishIfClosed();
  }

  private onDownstreamError(err: NodeJS.ErrnoException): void {
    this.end ??= 'downstream-reset';
    this.listener.host.log.debug({ listener: this.listener.config.name, err: err.message }, 'downstream connection failed');
    const up = this.upstream;
    if (up === null) return;
    if (!this.connected) this.dropUpstream();
    else if (!up.destroyed) {
      const raw = this.upstreamTransport;
      if (raw !== null && !raw.destroyed) raw.resetAndDestroy();
      else up.destroy();
    }
  }

  private onDownstreamClose(): void {
    this.downstreamClosed = true;
    const up = this.upstream;
    if (up !== null) {
      if (!this.connected) {
        this.end ??= 'downstream-reset';
        this.dropUpstream();
      } else if (!up.destroyed && !up.writableEnded) {
        up.destroy();
      }
    }
    this.finishIfClosed();
  }

  private onIdle(): void {
    this.listener.host.stats.listener(this.listener.slot, 'tcp_idle_timeouts', 1);
    this.abort('idle-timeout');
  }

  /** Called by the max_connection_duration timer. */
  expire(): void {
    this.durationTimer = null;
    this.listener.host.stats.listener(this.listener.slot, 'tcp_max_duration_reached', 1);
    this.abort('max-duration');
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }

  /** Adds the bytes moved since the last call to the listener's and cluster's statistics. */
  countBytes(): void {
    const { stats } = this.listener.host;
    const d = this.downstream;
    const slot = this.listener.slot;
    const dIn = d.bytesRead - this.countedDownIn;
    const dOut = d.bytesWritten - this.countedDownOut;
    if (dIn > 0) stats.listener(slot, 'downstream_bytes_in', dIn);
    if (dOut > 0) stats.listener(slot, 'downstream_bytes_out', dOut);
    this.countedDownIn += dIn;
    this.countedDownOut += dOut;
    const u = this.upstream;
    if (u !== null) {
      const uIn = u.bytesRead - this.countedUpIn;
      const uOut = u.bytesWritten - this.countedUpOut;
      if (uIn > 0) stats.cluster(this.cluster.slot, 'upstream_bytes_in', uIn);
      if (uOut > 0) stats.cluster(this.cluster.slot, 'upstream_bytes_out', uOut);
      this.countedUpIn += uIn;
      this.countedUpOut += uOut;
    }
  }

  private finishIfClosed(): void {
    if (this.done || !this.downstreamClosed || !this.upstreamClosed) return;
    this.done = true;
    this.clearConnectTimer();
    if (this.durationTimer !== null) clearTimeout(this.durationTimer);
    this.durationTimer = null;
    this.countBytes();
    if (this.endpoint !== null) this.hold(this.endpoint, -1);
    const end = this.end ?? 'closed';
    const l = this.listener;
    if (l.accessLog !== null && sampled(l.accessSample)) {
      const d = this.downstream;
      l.accessLog.info({
        listener: l.config.name,
        protocol: 'tcp',
        client: `${this.clientAddress}:${d.remotePort ?? 0}`,
        cluster: this.cluster.name,
        upstream: this.endpoint?.key,
        attempts: this.attempts,
        duration_ms: Math.round((performance.now() - this.started) * 1000) / 1000,
        bytes_in: d.bytesRead,
        bytes_out: d.bytesWritten,
        end,
        ...this.logFields,
      });
    }
    l.connectionDone(this);
  }
}

function expire(c: TcpConnection): void {
  c.expire();
}

function connectTimedOut(c: TcpConnection): void {
  c.connectTimeout();
}

function ignore(): void {}
