/**
 * The upstream side's two interfaces, whatever the protocol to the endpoint: an exchange drives one
 * request over an `UpstreamStream` and hears back through `UpstreamExchange`. An HTTP/1.1 connection
 * of the pool (http-connection.ts) is one kind of stream; an HTTP/2 stream on a multiplexed session
 * (h2-session-pool.ts) is the other.
 */
import type { BodyFraming, BreakerLimit, HeaderList, ResponseBodyKind } from '@pillion/core';

/** The breaker limit that refused an acquisition (a pool checks only these two). */
export type PoolRejection = Extract<BreakerLimit, 'max_connections' | 'max_pending_requests'>;

/** Where an endpoint's streams come from, in one worker. */
export interface UpstreamPool {
  /**
   * Asks for a stream: the exchange's onConnection gets one now or later, or onConnectFailure. Returns
   * the limit that refused the request instead, or null.
   */
  acquire(exchange: UpstreamExchange, isHead: boolean): PoolRejection | null;
  /** The exchange no longer waits for a stream. */
  cancel(exchange: UpstreamExchange): void;
}

/** One request's way to an endpoint, handed to the exchange by the endpoint's pool. */
export interface UpstreamStream {
  /** The pool the stream came from. */
  readonly pool: UpstreamPool;
  /** Gives an unused stream back to its pool (nothing was sent on it). */
  release(): void;
  /**
   * Sends the request head and `body` (the chunks so far; null or empty for none), then the end of
   * the body when `end`. `written`, when given, is called with each chunk once its memory is free.
   */
  sendRequest(method: string, target: string, headers: HeaderList, framing: BodyFraming, body: readonly Buffer[] | null, end: boolean, written: ((chunk: Buffer) => void) | null): void;
  /** Sends the next body chunk; false when the stream is backed up (onUpstreamDrain follows). */
  sendBody(chunk: Buffer, written: ((chunk: Buffer) => void) | null): boolean;
  /** Ends the request body; false when backed up. */
  endBody(): boolean;
  /** The stream can take more body right now. */
  readonly writable: boolean;
  /** Holds back (and lets go again) the response while the client catches up. */
  pause(): void;
  resume(): void;
  /** The response head held bytes >= 0x80: its values are relayed as the exact latin1 bytes received. */
  readonly headHasNonAscii: boolean;
  /** Abandons the request: a stream mid-message is closed, never reused. */
  destroy(): void;
}

/** How an exchange learns what happens on its upstream request. */
export interface UpstreamExchange {
  /** The pool has a stream for this exchange (or, if the exchange gave up meanwhile, one it must give back). */
  onConnection(stream: UpstreamStream): void;
  onConnectFailure(reason: string): void;
  onResponseHead(status: number, reason: string, headers: HeaderList, bodyKind: ResponseBodyKind, contentLength: number): void;
  onInformational(status: number, headers: HeaderList): void;
  onResponseBody(chunk: Buffer): void;
  /** The response's trailer fields (HTTP/2 trailers: grpc-status), just before onResponseComplete. */
  onResponseTrailers(trailers: HeaderList): void;
  onResponseComplete(): void;
  /**
   * The stream failed mid-exchange: reset, early close, invalid response; `refused` when the endpoint
   * provably did not process the request (HTTP/2 REFUSED_STREAM, or a stream above a GOAWAY's last
   * stream id), which makes any request safe to retry.
   */
  onUpstreamError(kind: 'reset' | 'invalid' | 'refused', detail: string): void;
  /** The stream can take more request body. */
  onUpstreamDrain(): void;
  /** One read has been parsed (lets the exchange send a head that no body followed yet). */
  onReadDone(): void;
}
