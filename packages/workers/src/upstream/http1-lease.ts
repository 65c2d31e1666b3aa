/**
 * An HTTP/1.1 connection lent to an exchange on behalf of another pool: a cluster with `protocol: auto`
 * whose endpoint chose HTTP/1.1 by ALPN is served by an ordinary EndpointPool behind its
 * H2SessionPool. The exchange must see the stream come from the pool it asked (it compares them to
 * tell a stale hand-over from its own), so the lease stands between them: it is the EndpointPool's
 * exchange and the exchange's stream, and passes every call through.
 */
import type { BodyFraming, HeaderList, ResponseBodyKind } from '@pillion/core';
import type { UpstreamExchange, UpstreamPool, UpstreamStream } from './upstream-exchange.js';

export class Http1Lease implements UpstreamExchange, UpstreamStream {
  private conn: UpstreamStream | null = null;

  constructor(
    /** The pool the exchange asked. */
    readonly pool: UpstreamPool,
    readonly exchange: UpstreamExchange,
    /** Called once the exchange has its connection, or its failure (it no longer waits). */
    private readonly settled: (lease: Http1Lease) => void,
  ) {}

  // ---------------------------------------------------------------- the EndpointPool's exchange

  onConnection(conn: UpstreamStream): void {
    this.conn = conn;
    this.settled(this);
    this.exchange.onConnection(this);
  }

  onConnectFailure(reason: string): void {
    this.settled(this);
    this.exchange.onConnectFailure(reason);
  }

  onResponseHead(status: number, reason: string, headers: HeaderList, bodyKind: ResponseBodyKind, contentLength: number): void {
    this.exchange.onResponseHead(status, reason, headers, bodyKind, contentLength);
  }

  onInformational(status: number, headers: HeaderList): void {
    this.exchange.onInformational(status, headers);
  }

  onResponseBody(chunk: Buffer): void {
    this.exchange.onResponseBody(chunk);
  }

  onResponseTrailers(trailers: HeaderList): void {
    this.exchange.onResponseTrailers(trailers);
  }

  onResponseComplete(): void {
    this.exchange.onResponseComplete();
  }

  onUpstreamError(kind: 'reset' | 'invalid' | 'refused', detail: string): void {
    this.exchange.onUpstreamError(kind, detail);
  }

  onUpstreamDrain(): void {
    this.exchange.onUpstreamDrain();
  }

  onReadDone(): void {
    this.exchange.onReadDone();
  }

  // ---------------------------------------------------------------- the exchange's stream

  release(): void {
    this.conn?.release();
  }

  sendRequest(method: string, target: string, headers: HeaderList, framing: BodyFraming, body: readonly Buffer[] | null, end: boolean, written: ((chunk: Buffer) => void) | null): void {
    this.conn!.sendRequest(method, target, headers, framing, body, end, written);
  }

  sendBody(chunk: Buffer, written: ((chunk: Buffer) => void) | null): boolean {
    return this.conn!.sendBody(chunk, written);
  }

  endBody(): boolean {
    return this.conn!.endBody();
  }

  get writable(): boolean {
    return this.conn !== null && this.conn.writable;
  }

  pause(): void {
    this.conn?.pause();
  }

  resume(): void {
    this.conn?.resume();
  }

  get headHasNonAscii(): boolean {
    return this.conn !== null && this.conn.headHasNonAscii;
  }

  destroy(): void {
    this.conn?.destroy();
  }
}
