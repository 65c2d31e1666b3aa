/**
 * One keep-alive HTTP/1.1 connection to an upstream endpoint, owned by one worker's pool.
 *
 * It writes requests as given and parses responses strictly (ResponseParser); the events go to the
 * exchange currently using the connection. A connection is reused only when its last response ended
 * cleanly with keep-alive and nothing extra arrived; anything doubtful closes it.
 *
 * For a cluster with `tls` the connection is a TLS one (the pool's EndpointTls) and counts as connected
 * once the handshake is done and the endpoint's certificate passed the cluster's checks; the connect
 * timeout covers TCP and the handshake. A failed handshake is a connect failure naming its reason.
 */
import { Socket, type OnReadOpts } from 'node:net';
import {
  LAST_CHUNK,
  ResponseParser,
  chunkHeader,
  serializeRequestHead,
  type BodyFraming,
  type HeaderList,
  type ResponseBodyKind,
  type ResponseHandler,
} from '@pillion/core';
import type { EndpointPool } from './endpoint-pool.js';
import type { UpstreamExchange, UpstreamStream } from './upstream-exchange.js';
import { refusedAfterHandshake, tlsFailureReason } from './upstream-tls.js';

/** The per-worker read buffer (see the constructor). */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

export const enum ConnState {
  Connecting,
  Idle,
  Busy,
  Closed,
}

export class HttpConnection implements ResponseHandler, UpstreamStream {
  readonly socket: Socket;
  readonly parser: ResponseParser;
  state = ConnState.Connecting;
  exchange: UpstreamExchange | null = null;
  /** Requests carried so far, for max_requests_per_connection. */
  requests = 0;
  idleSince = 0;
  /** Opened by warm-up rather than for a waiting request. */
  forWarmup = false;
  /** When this connection should be retired (max_connection_age); 0 = never. */
  ageDeadline = 0;
  /** Why the endpoint refused this TLS connection after the handshake completed here; null: it did not. */
  refusedReason: string | null = null;
  /** A TLS connection whose TCP connect completed (a failure from here on is the handshake's). */
  private tcpUp = false;
  /** Response bytes have arrived on this connection. */
  private received = false;
  private keepAlive = false;
  /** The request being sent has a chunked body: body chunks are framed. */
  private chunked = false;
  /** The whole request (head and body) has been written. */
  private requestSent = false;
  /** Set by the parser's completion event; acted on once execute() has returned. */
  private completed = false;
  private completedKeepAlive = false;
  /** On the pool's clock. */
  private connectTimer: ReturnType<EndpointPool['clock']['setTimeout']> | null = null;
  readonly pool: EndpointPool;

  constructor(pool: EndpointPool, host: string, port: number, connectTimeoutMs: number) {
    this.pool = pool;
    this.parser = new ResponseParser(this, { maxHeadBytes: pool.maxResponseHeadBytes });
    // Reads land in one buffer shared by every upstream connection of this worker and are parsed
    // before the next read can happen, so no Buffer is allocated per read and the stream machinery
    // is skipped. Whatever must outlive a read (a stalled body chunk) is copied by its keeper.
    // (Node reads `onread` from the constructor's options only; its type declarations omit it there.
    // tls.connect passes it on to the socket it makes, so TLS connections read the same way.)
    const onread: OnReadOpts = { buffer: READ_BUFFER, callback: this.onRead.bind(this) };
    const tls = pool.tls;
    const socket = tls === null ? new Socket({ onread } as ConstructorParameters<typeof Socket>[0]) : tls.connect({ host, port, onread });
    this.socket = socket;
    socket.setNoDelay(true);
    if (tls === null) socket.on('connect', this.onConnect.bind(this));
    else {
      socket.once('connect', () => (this.tcpUp = true));
      socket.once('secureConnect', this.onConnect.bind(this));
    }
    socket.on('end', this.onEnd.bind(this));
    socket.on('error', this.onSocketError.bind(this));
    socket.on('close', this.onClose.bind(this));
    socket.on('drain', this.onDrain.bind(this));
    if (connectTimeoutMs > 0) this.connectTimer = pool.clock.setTimeout(this.onConnectTimeout.bind(this), connectTimeoutMs);
    if (tls === null) socket.connect(port, host);
  }

  /** A TLS connection (the cluster has `tls`). */
  get isTls(): boolean {
    return this.pool.tls !== null;
  }

  /** Hands the connection to an exchange for one request/response. */
  assign(exchange: UpstreamExchange, isHead: boolean): void {
    this.state = ConnState.Busy;
    this.exchange = exchange;
    this.requests++;
    this.keepAlive = false;
    this.requestSent = false;
    this.completed = false;
    this.parser.reset(isHead);
  }

  /** Writes bytes as they are (a request head made elsewhere, such as a warm-up check's). */
  write(data: string | Buffer): boolean {
    this.requestSent = true;
    return this.socket.write(data);
  }

  // ---------------------------------------------------------------- UpstreamStream

  sendRequest(method: string, target: string, headers: HeaderList, framing: BodyFraming, body: readonly Buffer[] | null, end: boolean, written: ((chunk: Buffer) => void) | null): void {
    const head = serializeRequestHead(method, target, headers, framing);
    this.chunked = framing.kind === 'chunked';
    this.requestSent = end;
    const last = end && this.chunked;
    if (body === null || body.length === 0) {
      this.socket.write(last ? head + LAST_CHUNK : head);
      return;
    }
    this.socket.cork();
    this.socket.write(head);
    for (const chunk of body) this.sendBody(chunk, written);
    if (last) this.socket.write(LAST_CHUNK);
    this.socket.uncork();
  }

  sendBody(chunk: Buffer, written: ((chunk: Buffer) => void) | null): boolean {
    const socket = this.socket;
    const done = written === null ? undefined : () => written(chunk);
    if (!this.chunked) return socket.write(chunk, done);
    socket.write(chunkHeader(chunk.length));
    socket.write(chunk, done);
    return socket.write('\r\n');
  }

  endBody(): boolean {
    this.requestSent = true;
    return this.chunked ? this.socket.write(LAST_CHUNK) : !this.socket.writableNeedDrain;
  }

  get writable(): boolean {
    return !this.socket.writableNeedDrain;
  }

  get headHasNonAscii(): boolean {
    return this.parser.headHasNonAscii;
  }

  /** Gives an unused connection back to its pool (nothing was sent on it). */
  release(): void {
    this.pool.release(this);
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Drops the connection: the exchange is abandoned (client abort, timeout) or it cannot be reused. */
  destroy(): void {
    if (this.state === ConnState.Closed) return;
    this.exchange = null;
    this.state = ConnState.Closed;
    this.socket.destroy();
  }

  // ---------------------------------------------------------------- socket events

  private onConnect(): void {
    this.clearConnectTimer();
    this.pool.onConnected(this);
  }

  private onConnectTimeout(): void {
    this.connectTimer = null;
    this.state = ConnState.Closed;
    this.socket.destroy();
    this.pool.onConnectFailed(this, this.tcpUp ? 'tls: handshake timeout' : 'connect timeout');
  }

  private onRead(nread: number, buf: Uint8Array): boolean {
    this.received = true;
    this.onData((buf as Buffer).subarray(0, nread));
    return true;
  }

  private onData(data: Buffer): void {
    if (this.state !== ConnState.Busy) {
      // Bytes nobody asked for: the upstream is confused or malicious; never let them reach a later request.
      this.socket.destroy();
      return;
    }
    const rc = this.parser.execute(data);
    if (rc < 0) {
      this.fail('invalid', `invalid response: ${this.parser.errorReason}`);
      return;
    }
    if (this.completed) this.afterComplete(this.parser.consumed === data.length);
    else this.exchange?.onReadDone();
  }

  private onEnd(): void {
    if (this.state === ConnState.Busy && this.exchange) {
      const rc = this.parser.finish();
      if (rc < 0) this.fail('reset', `upstream closed the connection: ${this.parser.errorReason}`);
      else if (this.completed) this.afterComplete(false);
    }
    this.socket.end();
  }

  private onSocketError(err: NodeJS.ErrnoException): void {
    if (this.state === ConnState.Connecting) {
      this.clearConnectTimer();
      this.state = ConnState.Closed;
      this.pool.onConnectFailed(this, this.isTls && (this.tcpUp || err.code === undefined) ? tlsFailureReason(err) : err.message);
      return;
    }
    if (this.isTls && !this.received && this.state !== ConnState.Closed && refusedAfterHandshake(this.socket, err)) {
      this.refused(tlsFailureReason(err));
      return;
    }
    if (this.state === ConnState.Busy) this.fail('reset', err.message);
  }

  /**
   * The endpoint refused the TLS connection after this side's handshake was done (TLS 1.3: the server
   * checks the client certificate then). It never read a request on it: a connect failure for the
   * exchange using it, if any, and for the pool.
   */
  private refused(reason: string): void {
    this.refusedReason = reason;
    const ex = this.exchange;
    this.exchange = null;
    this.state = ConnState.Closed;
    this.socket.destroy();
    this.pool.onRefused(ex);
    ex?.onConnectFailure(reason);
  }

  private onClose(): void {
    this.clearConnectTimer();
    const prev = this.state;
    this.state = ConnState.Closed;
    if (prev === ConnState.Connecting) this.pool.onConnectFailed(this, this.tcpUp ? 'tls: connection closed during the handshake' : 'connection closed while connecting');
    const ex = this.exchange;
    this.exchange = null;
    this.pool.onClosed(this);
    ex?.onUpstreamError('reset', 'upstream connection closed before the response completed');
  }

  private onDrain(): void {
    this.exchange?.onUpstreamDrain();
  }

  private fail(kind: 'reset' | 'invalid', detail: string): void {
    const ex = this.exchange;
    this.exchange = null;
    this.socket.destroy();
    ex?.onUpstreamError(kind, detail);
  }

  private clearConnectTimer(): void {
    if (this.connectTimer) {
      this.pool.clock.clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
  }

  // ---------------------------------------------------------------- parser events

  onResponseHead(status: number, reason: string, _minor: number, headers: HeaderList, bodyKind: ResponseBodyKind, contentLength: number, keepAlive: boolean): void {
    this.keepAlive = keepAlive;
    this.exchange?.onResponseHead(status, reason, headers, bodyKind, contentLength);
  }

  onInformational(status: number, headers: HeaderList): void {
    this.exchange?.onInformational(status, headers);
  }

  onBody(chunk: Buffer): void {
    this.exchange?.onResponseBody(chunk);
  }

  onTrailers(): void {
    // Trailers are not forwarded yet: uWS cannot write them; dropping them is what HTTP allows.
  }

  onMessageComplete(keepAlive: boolean): void {
    this.completed = true;
    this.completedKeepAlive = keepAlive;
  }

  /**
   * Runs after the parser returned, never inside it: giving the connection back to the pool may start
   * the next request on it at once, which resets the parser.
   */
  private afterComplete(nothingExtra: boolean): void {
    this.completed = false;
    const ex = this.exchange;
    this.exchange = null;
    // Extra bytes after a complete response mean the upstream and we disagree on framing: never reuse.
    // Nor after a response that came before the whole request was sent (an upstream answering early):
    // what it has not read of the request would be read as the start of the next one.
    const reusable =
      nothingExtra && this.requestSent && this.state === ConnState.Busy && this.completedKeepAlive && this.keepAlive && this.pool.mayReuse(this);
    if (reusable) this.state = ConnState.Idle;
    else this.socket.destroy();
    ex?.onResponseComplete();
    if (reusable) {
      // The exchange may have paused reading for a slow client in the read that also completed the
      // response; it has let go of the connection since, so nothing else would resume it.
      this.socket.resume();
      this.pool.release(this);
    }
  }
}
