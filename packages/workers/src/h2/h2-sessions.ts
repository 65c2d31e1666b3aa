/**
 * The HTTP/2 side of an HTTP listener in one worker: Node's http2 server (never listening itself for a
 * TLS listener, whose TLS server hands it the connections that chose h2 by ALPN; listening on the
 * shared port for `codec: h2c`), its sessions, and a ProxyExchange per stream.
 *
 * Per connection it enforces what a client must not be able to do to a worker:
 * - streams at once: SETTINGS_MAX_CONCURRENT_STREAMS (http2.max_concurrent_streams); header blocks:
 *   SETTINGS_MAX_HEADER_LIST_SIZE (unset: limits.max_request_headers_bytes), with nghttp2's own
 *   limit on CONTINUATION frames behind it (CVE-2024-27983);
 * - rapid reset (CVE-2023-44487): a client that resets more than http2.max_resets_per_10s streams
 *   before they were answered, within ten seconds, gets GOAWAY (ENHANCE_YOUR_CALM) and is cut off;
 *   each reset already cancelled its upstream request;
 * - an idle connection (no stream open for http2.idle_timeout, else timeouts.idle) gets GOAWAY and
 *   closes; with http2.keepalive_interval, a PING unanswered by the next interval closes it.
 * On drain every connection gets GOAWAY: streams already open finish, clients open new ones elsewhere.
 */
import { constants, createServer, type Http2Server, type ServerHttp2Session, type ServerHttp2Stream, type ServerOptions } from 'node:http2';
import type { Socket } from 'node:net';
import type { HttpListenerConfig, PeerIdentity } from '@pillion/core';
import type { Logger } from '../logger.js';
import type { HttpListener } from '../worker/http-listener.js';
import { H2_BODY, H2_NO_BODY } from '../worker/intake.js';
import { ProxyExchange } from '../worker/proxy-exchange.js';
import { H2Downstream } from './h2-downstream.js';
import { requestHeadOf } from './h2-fields.js';

const { NGHTTP2_FLAG_END_STREAM, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_NO_ERROR } = constants;
const RESET_WINDOW_MS = 10_000;

/** What the listener keeps about one HTTP/2 connection. */
class SessionState {
  open = 0;
  resets = 0;
  resetWindowStart = 0;
  idleTimer: NodeJS.Timeout | null = null;
  pingTimer: NodeJS.Timeout | null = null;
  pingOutstanding = false;
  constructor(
    readonly session: ServerHttp2Session,
    readonly remoteAddress: string,
    readonly identity: PeerIdentity | null,
  ) {}
}

export class H2Sessions {
  readonly server: Http2Server;
  private readonly sessions = new Map<ServerHttp2Session, SessionState>();
  /** The identity of the TLS connection being handed over (see accept). */
  private pendingIdentity: PeerIdentity | null = null;
  private draining = false;
  /** Streams open on every connection: a drain waits for them to close, trailers sent. */
  openStreams = 0;

  constructor(private readonly listener: HttpListener) {
    this.server = createServer(serverOptions(listener.config));
    this.server.on('session', this.onSession.bind(this));
    this.server.on('stream', this.onStream.bind(this));
    // A session error is counted where the session closes; without a listener Node would throw.
    this.server.on('sessionError', () => {});
  }

  /** A TLS connection whose client chose h2 (and passed the listener's client certificate check). */
  accept(socket: Socket, identity: PeerIdentity | null): void {
    this.pendingIdentity = identity;
    try {
      this.server.emit('connection', socket);
    } finally {
      this.pendingIdentity = null;
    }
  }

  /** New settings for connections made from now on; open ones keep theirs. */
  update(config: HttpListenerConfig): void {
    const o = serverOptions(config);
    this.server.updateSettings(o.settings!);
  }

  private get stats() {
    return this.listener.stats;
  }

  private onSession(session: ServerHttp2Session): void {
    const l = this.listener;
    this.stats.listener(l.slot, 'h2_connections', 1);
    const s = new SessionState(session, session.socket?.remoteAddress ?? '', this.pendingIdentity);
    this.sessions.set(session, s);
    session.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNRESET') this.stats.listener(l.slot, 'h2_protocol_errors', 1);
    });
    session.on('frameError', () => {});
    session.once('close', () => this.onSessionClose(s));
    if (this.draining) {
      this.goaway(s);
      return;
    }
    this.armIdle(s);
    const every = l.config.http2.keepalive_interval;
    if (every !== undefined && every > 0) {
      s.pingTimer = setInterval(() => this.ping(s), every);
      s.pingTimer.unref();
    }
  }

  private onSessionClose(s: SessionState): void {
    this.sessions.delete(s.session);
    if (s.idleTimer !== null) clearTimeout(s.idleTimer);
    if (s.pingTimer !== null) clearInterval(s.pingTimer);
    s.idleTimer = s.pingTimer = null;
  }

  private onStream(stream: ServerHttp2Stream, _headers: unknown, flags: number, raw: string[]): void {
    const l = this.listener;
    const s = this.sessions.get(stream.session as ServerHttp2Session);
    if (s === undefined) {
      stream.close(constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    this.stats.listener(l.slot, 'h2_streams', 1);
    s.open++;
    this.openStreams++;
    if (s.idleTimer !== null) {
      clearTimeout(s.idleTimer);
      s.idleTimer = null;
    }
    const d = new H2Downstream(stream, s.remoteAddress);
    d.identity = s.identity;
    // A stream error (a reset from the client, a flow-control violation) is seen through 'close'.
    stream.on('error', () => {});
    stream.once('close', () => this.onStreamClose(s, d));
    const head = requestHeadOf(raw);
    if (head.method === 'CONNECT') {
      // Extended CONNECT and tunnels are not proxied.
      stream.respond({ ':status': 501, server: 'pillion' }, { endStream: true });
      d.ended = true;
      return;
    }
    new ProxyExchange(l, d, head.method, head.path, head.headers, (flags & NGHTTP2_FLAG_END_STREAM) !== 0 ? H2_NO_BODY : H2_BODY);
  }

  private onStreamClose(s: SessionState, d: H2Downstream): void {
    s.open--;
    this.openStreams--;
    this.listener.streamClosed();
    if (!d.ended && d.stream.rstCode !== NGHTTP2_NO_ERROR) {
      // The client reset a stream it had not had its answer to.
      this.stats.listener(this.listener.slot, 'h2_resets_by_client', 1);
      const now = Date.now();
      if (now - s.resetWindowStart > RESET_WINDOW_MS) {
        s.resetWindowStart = now;
        s.resets = 0;
      }
      if (++s.resets > this.listener.config.http2.max_resets_per_10s && !s.session.destroyed) {
        this.stats.listener(this.listener.slot, 'h2_reset_flood_closed', 1);
        s.session.goaway(NGHTTP2_ENHANCE_YOUR_CALM);
        s.session.destroy();
        return;
      }
    }
    if (s.open === 0) this.armIdle(s);
  }

  private armIdle(s: SessionState): void {
    const c = this.listener.config;
    const ms = c.http2.idle_timeout ?? c.timeouts.idle;
    if (ms <= 0 || s.session.destroyed) return;
    if (s.idleTimer !== null) clearTimeout(s.idleTimer);
    s.idleTimer = setTimeout(() => {
      s.idleTimer = null;
      if (s.open === 0) this.goaway(s);
    }, ms);
    s.idleTimer.unref();
  }

  private ping(s: SessionState): void {
    const session = s.session;
    if (session.destroyed) return;
    if (s.pingOutstanding) {
      this.stats.listener(this.listener.slot, 'h2_ping_timeouts', 1);
      session.destroy();
      return;
    }
    s.pingOutstanding = true;
    try {
      session.ping((err) => {
        if (!err) s.pingOutstanding = false;
      });
    } catch {
      // Too many pings in flight, or the session is closing: the next interval decides.
    }
  }

  /** GOAWAY: no new streams; the open ones finish, then the connection closes. */
  private goaway(s: SessionState): void {
    const session = s.session;
    if (session.closed || session.destroyed) return;
    this.stats.listener(this.listener.slot, 'h2_goaways_sent', 1);
    session.close();
  }

  /** Drain: every connection gets GOAWAY (and any accepted from now on). */
  stopAccepting(): void {
    this.draining = true;
    for (const s of this.sessions.values()) this.goaway(s);
  }

  /** Closes every connection at once (streams in flight are cut). */
  close(_log: Logger): void {
    this.draining = true;
    for (const s of [...this.sessions.values()]) {
      this.onSessionClose(s);
      s.session.destroy();
    }
  }
}

function serverOptions(c: HttpListenerConfig): ServerOptions {
  const h = c.http2;
  return {
    settings: {
      enablePush: false,
      maxConcurrentStreams: h.max_concurrent_streams,
      initialWindowSize: h.initial_window_size,
      maxHeaderListSize: h.max_header_list_size ?? c.limits.max_request_headers_bytes + c.limits.max_uri_bytes,
    },
    // Pillion's own request rules count fields and answer 431; Node's limit sits above them.
    maxHeaderListPairs: c.limits.max_request_headers_count * 2 + 16,
    // A stream refused by a full session counts toward nghttp2's flood protection.
    maxSessionRejectedStreams: 100,
    maxSessionInvalidFrames: 100,
  };
}
