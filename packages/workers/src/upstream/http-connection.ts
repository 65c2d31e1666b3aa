/**
 * One keep-alive HTTP/1.1 connection to an upstream endpoint, owned by one worker's pool.
 *
 * It writes requests as given and parses responses strictly (ResponseParser); the events go to the
 * exchange currently using the connection. A connection is reused only when its last response ended
 * cleanly with keep-alive and nothing extra arrived; anything doubtful closes it.
 */
import { Socket } from 'node:net';
import { ResponseParser, type HeaderList, type ResponseBodyKind, type ResponseHandler } from '@pillion/core';
import type { EndpointPool } from './endpoint-pool.js';

/** How an exchange learns what happens on its upstream connection. */
export interface UpstreamExchange {
  onConnection(conn: HttpConnection): void;
  onConnectFailure(reason: string): void;
  onResponseHead(status: number, reason: string, headers: HeaderList, bodyKind: ResponseBodyKind, contentLength: number): void;
  onInformational(status: number, headers: HeaderList): void;
  onResponseBody(chunk: Buffer): void;
  onResponseComplete(): void;
  /** The connection failed mid-exchange: reset, early close, invalid response. */
  onUpstreamError(kind: 'reset' | 'invalid', detail: string): void;
  /** The socket can take more request body. */
  onUpstreamDrain(): void;
  /** One socket read has been parsed (lets the exchange send a head that no body followed yet). */
  onReadDone(): void;
}

/** The per-worker read buffer (see the constructor). */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

export const enum ConnState {
  Connecting,
  Idle,
  Busy,
  Closed,
}

export class HttpConnection implements ResponseHandler {
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
  private keepAlive = false;
  /** Set by the parser's completion event; acted on once execute() has returned. */
  private completed = false;
  private completedKeepAlive = false;
  private connectTimer: NodeJS.Timeout | null = null;
  readonly pool: EndpointPool;

  constructor(pool: EndpointPool, host: string, port: number, connectTimeoutMs: number) {
    this.pool = pool;
    this.parser = new ResponseParser(this, { maxHeadBytes: pool.maxResponseHeadBytes });
    // Reads land in one buffer shared by every upstream connection of this worker and are parsed
    // before the next read can happen, so no Buffer is allocated per read and the stream machinery
    // is skipped. Whatever must outlive a read (a stalled body chunk) is copied by its keeper.
    // (Node reads `onread` from the constructor's options only; its type declarations omit it there.)
    const socket = new Socket({ onread: { buffer: READ_BUFFER, callback: this.onRead.bind(this) } } as ConstructorParameters<typeof Socket>[0]);
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('connect', this.onConnect.bind(this));
    socket.on('end', this.onEnd.bind(this));
    socket.on('error', this.onSocketError.bind(this));
    socket.on('close', this.onClose.bind(this));
    socket.on('drain', this.onDrain.bind(this));
    if (connectTimeoutMs > 0) this.connectTimer = setTimeout(this.onConnectTimeout.bind(this), connectTimeoutMs);
    socket.connect(port, host);
  }

  /** Hands the connection to an exchange for one request/response. */
  assign(exchange: UpstreamExchange, isHead: boolean): void {
    this.state = ConnState.Busy;
    this.exchange = exchange;
    this.requests++;
    this.keepAlive = false;
    this.completed = false;
    this.parser.reset(isHead);
  }

  write(data: string | Buffer): boolean {
    return this.socket.write(data);
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
    this.pool.onConnectFailed(this, 'connect timeout');
  }

  private onRead(nread: number, buf: Uint8Array): boolean {
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

  private onSocketError(err: Error): void {
    if (this.state === ConnState.Connecting) {
      this.clearConnectTimer();
      this.state = ConnState.Closed;
      this.pool.onConnectFailed(this, err.message);
      return;
    }
    if (this.state === ConnState.Busy) this.fail('reset', err.message);
  }

  private onClose(): void {
    this.clearConnectTimer();
    const prev = this.state;
    this.state = ConnState.Closed;
    if (prev === ConnState.Connecting) this.pool.onConnectFailed(this, 'connection closed while connecting');
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
      clearTimeout(this.connectTimer);
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
    const reusable = nothingExtra && this.state === ConnState.Busy && this.completedKeepAlive && this.keepAlive && this.pool.mayReuse(this);
    if (reusable) this.state = ConnState.Idle;
    else this.socket.destroy();
    ex?.onResponseComplete();
    if (reusable) this.pool.release(this);
  }
}
