/**
 * One HTTP/2 session to an upstream endpoint, owned by the endpoint's H2SessionPool in one worker:
 * its transport (TCP for h2c; TLS through the pool's EndpointTls for h2 and auto, offering `h2` by
 * ALPN), the session on it, the peer's stream limit, GOAWAY, and keep-alive pings.
 *
 * Setup counts as a connection, and it is complete when the endpoint's first SETTINGS frame arrives
 * (a server sends it before anything else, so a peer that never does is not speaking HTTP/2). Only
 * then does the session take streams: it knows the endpoint's stream limit before it uses it, at the
 * price of the first request on a new session waiting for the SETTINGS (warm-up avoids even that).
 * Anything that ends setup early (the connect timeout, which covers TCP, TLS and that first SETTINGS;
 * a refused handshake; a close) is a connect failure.
 *
 * A GOAWAY from the endpoint turns the session away from new streams; streams at or below its last
 * stream id finish, those above it end 'refused'. With `keepalive_interval` a PING goes out every
 * interval and one unanswered within `keepalive_timeout` destroys the session.
 */
import { Socket } from 'node:net';
import { connect as http2Connect, type ClientHttp2Session, type Settings } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { PoolTimer } from './endpoint-pool.js';
import type { H2SessionPool } from './h2-session-pool.js';
import { refusedAfterHandshake, tlsFailureReason } from './upstream-tls.js';

export const enum SessionState {
  /** TCP, TLS, or the wait for the endpoint's SETTINGS under way. */
  Connecting,
  /** Takes new streams. */
  Open,
  /** Takes no new streams (GOAWAY, retired, too old); the ones it has finish. */
  Draining,
  Closed,
}

/** Header fields the pool accepts in a response head, at most (Node's default of 128 is tight for a proxy). */
const MAX_HEADER_PAIRS = 2000;

export class H2Session {
  state = SessionState.Connecting;
  session: ClientHttp2Session | null = null;
  /** Streams handed out and not yet closed (a reserved stream counts from its hand-over). */
  active = 0;
  /** Streams ever handed out (for max_requests_per_connection). */
  started = 0;
  /** New streams it takes at once: the cluster's limit, or the peer's when lower. */
  limit: number;
  /** The endpoint's first SETTINGS arrived: setup is complete (it stays true once the session drains or closes). */
  established = false;
  /** Streams above this id were refused by a GOAWAY (Infinity: none received). */
  lastStreamId = Infinity;
  /** When it last became idle (no streams); on the pool's clock. */
  idleSince = 0;
  /** When it should be drained (max_connection_age); 0 = never. */
  ageDeadline = 0;
  /** Opened by warm-up rather than for a waiting request. */
  readonly forWarmup: boolean;
  private readonly socket: Socket;
  private tcpUp = false;
  /** Why setup failed, or why the session was lost: the first error seen. */
  private error: Error | null = null;
  /** Set when the pool should not hear of the close as a failure (ALPN chose HTTP/1.1). */
  private quiet = false;
  private connectTimer: PoolTimer | null = null;
  private pingTimer: PoolTimer | null = null;
  /** The keep-alive PING out and not answered yet: its deadline. */
  private pingDeadline: PoolTimer | null = null;
  /** A GOAWAY was counted already (a graceful shutdown sends two). */
  private goawaySeen = false;
  private readonly onPingAck = (err: Error | null) => {
    if (err === null) this.clearPingDeadline();
  };

  constructor(
    private readonly pool: H2SessionPool,
    forWarmup: boolean,
  ) {
    this.forWarmup = forWarmup;
    this.limit = pool.h2.maxConcurrentStreams;
    const o = pool.opts;
    const tls = pool.tls;
    if (tls === null) {
      const socket = new Socket();
      this.socket = socket;
      socket.setNoDelay(true);
      socket.once('connect', this.onTransport);
      socket.connect(o.port, o.host);
    } else {
      const socket = tls.connect({ host: o.host, port: o.port, alpn: pool.protocol === 'auto' ? ['h2', 'http/1.1'] : ['h2'] });
      this.socket = socket;
      socket.once('connect', this.onTcp);
      socket.once('secureConnect', this.onSecure);
    }
    this.socket.on('error', this.onSetupError);
    this.socket.on('close', this.onSetupClose);
    if (o.connectTimeoutMs > 0) this.connectTimer = pool.clock.setTimeout(this.onConnectTimeout, o.connectTimeoutMs);
  }

  /** Stops new streams; the session closes once its streams are done (at once when it has none). */
  drain(): void {
    if (this.state === SessionState.Connecting) return this.abandon();
    if (this.state !== SessionState.Open) return;
    this.state = SessionState.Draining;
    this.closeIfDone();
  }

  /**
   * Closes a draining session that has no streams left. Not before: Node's close() sends GOAWAY at
   * once, and nghttp2 then refuses the streams whose HEADERS are still queued behind it.
   */
  closeIfDone(): void {
    const session = this.session;
    if (this.state === SessionState.Draining && this.active === 0 && session !== null && !session.closed) session.close();
  }

  /** Cuts the session and every stream on it. */
  destroy(): void {
    if (this.session !== null) this.session.destroy();
    else this.socket.destroy();
  }

  /** Cuts a session the pool no longer wants, without counting its end as a failure. */
  abandon(): void {
    this.quiet = true;
    this.destroy();
  }

  // ---------------------------------------------------------------- setup

  private readonly onTcp = (): void => {
    this.tcpUp = true;
  };

  private readonly onSecure = (): void => {
    const protocol = (this.socket as TLSSocket).alpnProtocol;
    if (protocol === 'h2') return this.onTransport();
    // The endpoint speaks HTTP/1.1 only: the pool serves it with HTTP/1.1 connections from now on (and
    // abandons this session).
    if (this.pool.protocol === 'auto' && this.pool.onAlpnHttp1()) return;
    this.error = new Error(`tls: the endpoint did not choose h2 by ALPN (${protocol === false ? 'no protocol' : protocol})`);
    this.socket.destroy();
  };

  private readonly onTransport = (): void => {
    const pool = this.pool;
    if (pool.protocol === 'auto') pool.onAlpnH2();
    this.socket.off('error', this.onSetupError);
    this.socket.off('close', this.onSetupClose);
    const o = pool.opts;
    const settings: Settings = { enablePush: false, maxHeaderListSize: o.maxResponseHeadBytes };
    const socket = this.socket;
    const session = http2Connect(pool.authorityUrl, {
      createConnection: () => socket,
      settings,
      // Until the peer's SETTINGS arrive nghttp2 assumes this many streams may be open at once.
      peerMaxConcurrentStreams: pool.h2.maxConcurrentStreams,
      maxHeaderListPairs: MAX_HEADER_PAIRS,
    });
    this.session = session;
    session.on('remoteSettings', this.onRemoteSettings);
    session.on('goaway', this.onGoaway);
    session.on('error', this.onSessionError);
    session.on('close', this.onSessionClose);
    // Node's session does not always hear of its socket's end: a TLS alert after the handshake (an
    // endpoint refusing the client certificate) leaves it neither errored nor closed. The socket's own
    // events end it here.
    socket.on('error', this.onTransportError);
    socket.on('close', this.onTransportClose);
    pool.stats.cluster(o.clusterSlot, 'upstream_h2_sessions', 1);
  };

  private readonly onSetupError = (err: NodeJS.ErrnoException): void => {
    if (this.error !== null) return;
    if (this.pool.tls !== null && (this.tcpUp || err.code === undefined)) this.error = new Error(tlsFailureReason(err));
    else this.error = err;
  };

  private readonly onSetupClose = (): void => {
    if (this.error === null && !this.quiet) this.error = new Error(this.tcpUp ? 'tls: connection closed during the handshake' : 'connection closed while connecting');
    this.finish();
  };

  private readonly onConnectTimeout = (): void => {
    this.connectTimer = null;
    if (this.established || this.state === SessionState.Closed) return;
    this.error = new Error(this.session !== null ? 'no HTTP/2 SETTINGS from the endpoint within the connect timeout' : this.tcpUp ? 'tls: handshake timeout' : 'connect timeout');
    this.destroy();
  };

  // ---------------------------------------------------------------- session events

  private readonly onRemoteSettings = (settings: Settings): void => {
    const peer = settings.maxConcurrentStreams ?? Infinity;
    this.limit = Math.max(0, Math.min(this.pool.h2.maxConcurrentStreams, peer));
    if (!this.established) {
      this.established = true;
      this.clearConnectTimer();
      if (this.state !== SessionState.Connecting) return;
      this.state = SessionState.Open;
      this.startPings();
      this.pool.onSessionEstablished(this);
    } else this.pool.onSessionSettings(this);
  };

  private readonly onGoaway = (_code: number, lastStreamId: number): void => {
    if (lastStreamId < this.lastStreamId) this.lastStreamId = lastStreamId;
    if (!this.goawaySeen) {
      this.goawaySeen = true;
      this.pool.stats.cluster(this.pool.opts.clusterSlot, 'upstream_h2_goaways', 1);
    }
    if (this.state === SessionState.Open) {
      this.state = SessionState.Draining;
      this.pool.onSessionDraining(this);
    }
  };

  private readonly onSessionError = (err: NodeJS.ErrnoException): void => {
    if (this.error !== null) return;
    if (!this.established) {
      // A TLS 1.3 endpoint refuses a client certificate only after this side's handshake is done.
      const tls = this.pool.tls !== null && refusedAfterHandshake(this.socket, err);
      this.error = tls ? new Error(tlsFailureReason(err)) : new Error(`no HTTP/2 from the endpoint: ${err.message}`);
      return;
    }
    this.error = err;
    this.pool.stats.cluster(this.pool.opts.clusterSlot, 'upstream_h2_session_errors', 1);
  };

  private readonly onTransportError = (err: NodeJS.ErrnoException): void => {
    this.onSessionError(err);
    this.session?.destroy();
    this.finish();
  };

  private readonly onTransportClose = (): void => {
    this.session?.destroy();
    this.onSessionClose();
  };

  private readonly onSessionClose = (): void => {
    if (!this.established && this.error === null) this.error = new Error('connection closed before the endpoint\'s HTTP/2 SETTINGS');
    this.finish();
  };

  private finish(): void {
    if (this.state === SessionState.Closed) return;
    this.state = SessionState.Closed;
    this.clearConnectTimer();
    this.stopPings();
    if (this.quiet) return this.pool.onSessionClosed(this, null);
    this.pool.onSessionClosed(this, this.established ? null : (this.error?.message ?? 'connection closed while connecting'));
  }

  // ---------------------------------------------------------------- keep-alive

  private startPings(): void {
    const every = this.pool.h2.keepaliveIntervalMs;
    if (every <= 0) return;
    this.pingTimer = this.pool.clock.setInterval(this.onPingDue, every);
    this.pingTimer.unref();
  }

  private readonly onPingDue = (): void => {
    const session = this.session;
    if (session === null || session.destroyed || this.pingDeadline !== null) return;
    if (!session.ping(this.onPingAck)) return;
    this.pingDeadline = this.pool.clock.setTimeout(this.onPingTimeout, this.pool.h2.keepaliveTimeoutMs);
    this.pingDeadline.unref();
  };

  private readonly onPingTimeout = (): void => {
    this.pingDeadline = null;
    if (this.state === SessionState.Closed) return;
    this.pool.stats.cluster(this.pool.opts.clusterSlot, 'upstream_h2_ping_timeouts', 1);
    if (this.error === null) this.error = new Error('keep-alive PING unanswered');
    this.destroy();
  };

  private clearPingDeadline(): void {
    if (this.pingDeadline !== null) {
      this.pool.clock.clearTimeout(this.pingDeadline);
      this.pingDeadline = null;
    }
  }

  private stopPings(): void {
    if (this.pingTimer !== null) {
      this.pool.clock.clearInterval(this.pingTimer);
      this.pingTimer = null;
    }
    this.clearPingDeadline();
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== null) {
      this.pool.clock.clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
  }

  /** A keep-alive PING is out and not answered yet. */
  get pinging(): boolean {
    return this.pingDeadline !== null;
  }

  /** Why the session was lost ('' when it closed cleanly). */
  get failure(): string {
    return this.error?.message ?? '';
  }
}
