/**
 * The strict HTTP/1.1 codec (`codec: http1-strict`): Node's own server (llhttp, strict mode) on the
 * shared port, and Node's HTTPS server for every listener with `tls`. What it adds over uWS, for edges
 * that need full RFC 9112 behaviour:
 * - pipelined requests are answered in order, each forwarded only after the one before it was
 *   answered; reading pauses once `max_pipelined_requests` wait behind the one in flight;
 * - every malformed or ambiguous request is answered at once (400, 408, 413, 414, 431, 501) with
 *   `connection: close`, after the responses to the requests before it, and nothing after it is read;
 * - a request head must be complete within `timeouts.header_read`; idle connections close after
 *   `timeouts.idle`.
 *
 * With TLS: ALPN picks the protocol (`tls.alpn`): a connection that agrees on h2 goes to the listener's
 * HTTP/2 side (h2/h2-sessions.ts), one that agrees on http/1.1 or offers no ALPN to this codec;
 * certificates by SNI, client certificates checked once per connection when its handshake
 * completes (a refused client is disconnected before any request is read, and counted by reason), the
 * verified identity kept with the connection for every request on it, session tickets shared by the
 * workers (a client resumes on any of them), and new certificates, CA and ticket keys taken for new
 * handshakes whenever the worker's TLS material changes; connections already open stay up.
 */
import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { HeaderList, type HttpListenerConfig, type PeerIdentity } from '@pillion/core';
import { listenShared } from '../l4/listen-shared.js';
import { AcceptErrors } from '../l4/accept-errors.js';
import type { Logger } from '../logger.js';
import type { Downstream } from './downstream.js';
import { HttpListener, type HttpHost } from './http-listener.js';
import type { H2Sessions } from '../h2/h2-sessions.js';
import { LOCAL_REPLY_TEXT, statusLine } from './local-reply.js';
import { NodeDownstream } from './node-downstream.js';
import { ProxyExchange } from './proxy-exchange.js';
import type { ListenerTls } from './worker-tls.js';

/** Bytes of request line allowed beyond the URI limit (method, version, spaces, CRLF). */
const REQUEST_LINE_SLACK = 64;
/** How often Node looks for connections over the head-read timeout (it checks none by default for 30 s). */
const MAX_CHECK_INTERVAL_MS = 1000;

/** One downstream connection's queue: the request in flight and the ones read behind it. */
class Connection {
  current: NodeDownstream | null = null;
  readonly waiting: NodeDownstream[] = [];
  /** A refused request or a parse error was seen: nothing after it is served. */
  condemned = false;
  /** A parse error to answer once the responses before it are written. */
  refusal: { status: number; detail: string } | null = null;
  paused = false;
  /** TLS: the handshake completed and the client was accepted. */
  secure = false;
  /** TLS: the client's verified certificate, for every request on the connection; null without one. */
  identity: PeerIdentity | null = null;
  constructor(readonly socket: Socket) {}
}

const connections = new WeakMap<Socket, Connection>();

export class StrictHttpListener extends HttpListener {
  private server: Server | HttpsServer | null = null;
  /** The listener's TLS (null: plain HTTP), and the generation of its contexts the server was given. */
  private tls: ListenerTls | null = null;
  private tlsGeneration = -1;
  /** TLS listeners offering h2: the HTTP/2 side, handed each connection that chose it. */
  private h2: H2Sessions | null = null;
  /** The HTTP/1.1 server's own handler of a new TLS connection (it attaches the HTTP parser). */
  private http1Connection: ((socket: TLSSocket) => void) | null = null;

  /** The worker's log, for the server's own errors (accept failures). */
  private readonly log: Logger;

  constructor(config: HttpListenerConfig, slot: number, runtime: HttpHost & { readonly log: Logger }) {
    super(config, slot, runtime);
    this.log = runtime.log;
  }

  async listen(): Promise<void> {
    const c = this.config;
    const options: ServerOptions = {
      maxHeaderSize: c.limits.max_request_headers_bytes + c.limits.max_uri_bytes + REQUEST_LINE_SLACK,
      // Pillion's own request rules decide these (with its own replies), after llhttp's framing checks.
      requireHostHeader: false,
      joinDuplicateHeaders: false,
      insecureHTTPParser: false,
      keepAlive: false,
      connectionsCheckingInterval: Math.min(MAX_CHECK_INTERVAL_MS, Math.max(100, c.timeouts.header_read / 2)),
    };
    let server: Server | HttpsServer;
    if (c.tls !== undefined) {
      const tls = this.runtime.tls?.listener(c.name);
      if (tls === undefined) throw new Error(`listener ${c.name}: its TLS certificates did not reach the worker`);
      this.tls = tls;
      this.tlsGeneration = tls.generation;
      const alpn = c.tls.alpn;
      if (alpn.includes('h2')) {
        const { H2Sessions } = await import('../h2/h2-sessions.js');
        this.h2 = new H2Sessions(this);
      }
      const https = createHttpsServer({ ...options, ...tls.serverOptions(alpn) });
      // The HTTP server's own handler runs only for connections this listener accepts for HTTP/1.1:
      // a refused client is gone before a parser is attached, and an h2 one goes to the HTTP/2 side.
      this.http1Connection = https.listeners('secureConnection')[0] as (socket: TLSSocket) => void;
      https.removeAllListeners('secureConnection');
      https.on('secureConnection', this.onSecureConnection.bind(this));
      https.on('tlsClientError', this.onTlsClientError.bind(this));
      server = https;
    } else server = createServer(options);
    this.applyTimeouts(server);
    // Every field reaches the request rules, which answer 431 over the listener's limit.
    server.maxHeadersCount = 0;
    server.on('request', this.onRequest.bind(this));
    server.on('clientError', this.onClientError.bind(this));
    server.on('connect', this.onConnectMethod.bind(this));
    this.server = server;
    await listenShared(server, c.address, c.port);
    // Without a listener, an accept error (out of file descriptors) would be thrown and end the thread.
    const acceptErrors = new AcceptErrors(c.name, () => this.stats.listener(this.slot, 'accept_errors', 1), this.log);
    server.on('error', acceptErrors.onServerError.bind(acceptErrors));
  }

  override update(config: HttpListenerConfig): void {
    super.update(config);
    if (this.server) {
      this.applyTimeouts(this.server);
      this.applyTls(this.server as HttpsServer);
    }
    this.h2?.update(config);
  }

  /**
   * New certificates, CA, options or session ticket keys (the worker rebuilt the listener's contexts):
   * the server builds its default context again for new handshakes (the SNI callback already reads
   * the new contexts), and takes the new ticket keys and client certificate mode. (node:tls takes the
   * handshake timeout only when the server is made: changing it needs a restart, see reload-check.ts.)
   */
  private applyTls(server: HttpsServer): void {
    if (this.tls === null) return;
    const tls = this.runtime.tls?.listener(this.config.name);
    if (tls === undefined || tls.generation === this.tlsGeneration) return;
    this.tls = tls;
    this.tlsGeneration = tls.generation;
    // ALPN keeps what the listener started with: the HTTP/2 side exists only if h2 was offered then.
    const options = tls.serverOptions(this.h2 !== null ? this.config.tls!.alpn : this.config.tls!.alpn.filter((p) => p !== 'h2'));
    server.setSecureContext(options);
    server.setTicketKeys(tls.ticketKeys);
    const fields = server as unknown as { requestCert: boolean; rejectUnauthorized: boolean };
    fields.requestCert = options.requestCert === true;
    fields.rejectUnauthorized = false;
  }

  /**
   * A TLS handshake completed (counted, also when the client is then refused): check the client's
   * certificate, and keep its identity with the connection.
   */
  private onSecureConnection(socket: TLSSocket): void {
    this.stats.listener(this.slot, 'tls_handshakes', 1);
    if (socket.isSessionReused()) this.stats.listener(this.slot, 'tls_resumed', 1);
    const check = this.tls!.checkPeer(socket);
    if (!check.ok) {
      this.stats.listener(this.slot, `tls_failed_${check.reason}`, 1);
      socket.destroy();
      return;
    }
    if (socket.alpnProtocol === 'h2' && this.h2 !== null) {
      this.h2.accept(socket, check.identity);
      return;
    }
    const c = this.connectionOf(socket);
    c.secure = true;
    c.identity = check.identity;
    this.http1Connection!.call(this.server, socket);
  }

  /** A handshake that failed, timed out, or that the client gave up on. The HTTP server then closes the socket (onClientError). */
  private onTlsClientError(err: NodeJS.ErrnoException): void {
    this.stats.listener(this.slot, err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'tls_failed_timeout' : 'tls_failed_handshake', 1);
  }

  private applyTimeouts(server: Server | HttpsServer): void {
    const t = this.config.timeouts;
    server.headersTimeout = t.header_read;
    server.requestTimeout = 0; // bodies stream for as long as the route's timeout allows
    server.keepAliveTimeout = t.idle;
    server.timeout = 0;
  }

  private connectionOf(socket: Socket): Connection {
    let c = connections.get(socket);
    if (c === undefined) {
      c = new Connection(socket);
      connections.set(socket, c);
    }
    return c;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const c = this.connectionOf(req.socket);
    if (this.tls !== null && !c.secure) {
      // Never reached: a refused TLS client is disconnected before its connection reads a request.
      req.socket.destroy();
      return;
    }
    if (c.condemned) {
      // Read behind a refused request or bad bytes: never served. The socket closes after the refusal.
      req.resume();
      return;
    }
    const d = new NodeDownstream(req, res, req.socket.remoteAddress ?? '');
    d.identity = c.identity;
    res.once('finish', () => this.next(c, d));
    res.once('close', () => this.next(c, d));
    if (c.current === null) {
      this.start(c, d);
      return;
    }
    this.stats.listener(this.slot, 'pipelined_requests', 1);
    c.waiting.push(d);
    if (!c.paused && c.waiting.length >= this.config.max_pipelined_requests) pauseReading(c);
  }

  private start(c: Connection, d: NodeDownstream): void {
    c.current = d;
    const req = d.req;
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) raw[i] = raw[i]!.toLowerCase();
    new ProxyExchange(this, d, req.method ?? '', req.url ?? '', new HeaderList(raw), req.httpVersionMajor === 1 ? req.httpVersionMinor : -1);
  }

  /** The response in flight has ended (or its connection went away): serve the next one read. */
  private next(c: Connection, d: NodeDownstream): void {
    if (c.current !== d) return;
    c.current = null;
    if (d.closeAfter || c.socket.destroyed) {
      // Requests read behind a refused one are never served; the socket closes after the refusal.
      c.condemned = true;
      c.waiting.length = 0;
      c.refusal = null;
      return;
    }
    const n = c.waiting.shift();
    if (c.paused && c.waiting.length < this.config.max_pipelined_requests) resumeReading(c);
    if (n !== undefined) this.start(c, n);
    else if (c.refusal !== null) this.writeRefusal(c);
  }

  /** llhttp refused the bytes (or the head timed out): answer after the responses before it, then close. */
  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (this.tls !== null && connections.get(socket)?.secure !== true) {
      // The TLS handshake failed (counted in onTlsClientError): there is no HTTP to answer in.
      socket.destroy();
      return;
    }
    const c = this.connectionOf(socket);
    if (c.condemned || socket.destroyed || !socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    c.condemned = true;
    const status = statusOfParseError(err.code);
    if (status === 408) this.stats.listener(this.slot, 'header_read_timeouts', 1);
    this.stats.listener(this.slot, 'refused_requests', 1);
    this.stats.listener(this.slot, 'local_replies', 1);
    c.refusal = { status, detail: detailOfParseError(err) };
    const current = c.current;
    if (current !== null && !current.req.complete) {
      // The bad bytes are in the body of the request in flight (a broken chunk size): it can never
      // complete. Abandon it; answer the refusal if its response has not started, else just close.
      c.current = null;
      c.waiting.length = 0;
      current.abandon();
      if (current.res.headersSent) {
        c.refusal = null;
        socket.destroy();
      } else this.writeRefusal(c);
      return;
    }
    // Requests read before the bad bytes are answered first, in order; then the refusal.
    if (current === null && c.waiting.length === 0) this.writeRefusal(c);
  }

  private writeRefusal(c: Connection): void {
    const r = c.refusal!;
    c.refusal = null;
    const text = LOCAL_REPLY_TEXT[r.status] ?? 'error';
    const body = r.detail ? `${text}: ${r.detail}\n` : `${text}\n`;
    c.socket.end(
      `HTTP/1.1 ${statusLine(r.status)}\r\nserver: pillion\r\ncontent-type: text/plain; charset=utf-8\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
    c.socket.destroySoon();
  }

  /** CONNECT tunnels are not proxied: refuse like any request the proxy cannot serve. */
  private onConnectMethod(_req: IncomingMessage, socket: Socket): void {
    const c = this.connectionOf(socket);
    c.condemned = true;
    this.stats.listener(this.slot, 'refused_requests', 1);
    this.stats.listener(this.slot, 'local_replies', 1);
    c.refusal = { status: 501, detail: 'CONNECT is not supported' };
    if (c.current === null && c.waiting.length === 0) this.writeRefusal(c);
  }

  protected override openStreams(): number {
    return this.h2?.openStreams ?? 0;
  }

  clientAddress(res: Downstream): string {
    // Both downstream kinds (HTTP/1.1 and HTTP/2 streams) keep the client's address and identity.
    return (res as NodeDownstream).remoteAddress;
  }

  override clientIdentity(res: Downstream): PeerIdentity | null {
    return (res as NodeDownstream).identity;
  }

  stopAccepting(): void {
    this.draining = true;
    this.server?.close();
    this.h2?.stopAccepting();
  }

  close(log: Logger): void {
    this.stopAccepting();
    if (this.server) {
      this.server.closeAllConnections();
      this.server = null;
    }
    this.h2?.close(log);
  }
}

/**
 * Holds a connection's reading. Node's server pauses its parser while `_paused` is set (its own flag
 * for outgoing backpressure), and only resumes a socket it paused itself when that flag is clear: a
 * request body read meanwhile cannot restart the socket behind our back.
 */
function pauseReading(c: Connection): void {
  c.paused = true;
  const s = c.socket as Socket & { _paused?: boolean };
  s._paused = true;
  s.pause();
}

function resumeReading(c: Connection): void {
  c.paused = false;
  const s = c.socket as Socket & { _paused?: boolean; parser?: { resume(): void } | null };
  s._paused = false;
  s.parser?.resume();
  s.resume();
}

function statusOfParseError(code: string | undefined): number {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 431;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'HPE_HEADERS_TIMEOUT':
      return 408;
    case 'HPE_INVALID_METHOD':
    case 'HPE_INVALID_URL':
    case 'HPE_INVALID_VERSION':
    default:
      return 400;
  }
}

function detailOfParseError(err: NodeJS.ErrnoException & { reason?: string }): string {
  // llhttp's reason ("Invalid header value char") says which rule the request broke; no client bytes.
  return (err.reason ?? err.code ?? '').replace(/[^\x20-\x7e]/g, '');
}
