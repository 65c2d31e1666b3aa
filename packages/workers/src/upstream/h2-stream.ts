/**
 * One request on an HTTP/2 session to an upstream endpoint: the UpstreamStream an exchange drives
 * when its cluster speaks h2, h2c or auto (over h2).
 *
 * The request goes out as HTTP/2 fields (`:method`, `:path`, `:scheme`, `:authority` from Host, the
 * rest without connection-specific fields; `te: trailers` for gRPC), its body as DATA with the
 * stream's flow control as backpressure. The response comes back as the exchange's events, trailers
 * just before completion. A paused stream stops reading, so its window fills and the endpoint waits.
 *
 * The stream's place on its session is given back when Node closes the stream (the peer counts it
 * until then), or at once when it is released unused. Abandoning it resets it with CANCEL.
 */
import { constants, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { HeaderList, isFieldValue, isGrpcContentType, isToken, parseContentLength, type BodyFraming, type ResponseBodyKind } from '@pillion/core';
import { addH2Fields, responseHeadOf } from '../h2/h2-fields.js';
import type { H2Session } from './h2-session.js';
import type { H2SessionPool } from './h2-session-pool.js';
import type { UpstreamExchange, UpstreamStream } from './upstream-exchange.js';

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_REFUSED_STREAM } = constants;

/** Node's stream events reach their H2Stream through this property, so no closures are made per request. */
const OWNER = Symbol('h2Stream');
type Owned = ClientHttp2Stream & { [OWNER]: H2Stream };

/** HTTP/2 error codes by number (RFC 9113 7), for failure details. */
const ERROR_CODES = [
  'NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED', 'FRAME_SIZE_ERROR',
  'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED',
];

export class H2Stream implements UpstreamStream {
  readonly pool: H2SessionPool;
  readonly session: H2Session;
  private exchange: UpstreamExchange | null;
  private stream: ClientHttp2Stream | null = null;
  private isHead: boolean;
  /** The place on the session was given back. */
  private freed = false;
  /** The response head went to the exchange. */
  private responded = false;
  /** onResponseComplete was sent. */
  private completed = false;
  /** The whole request was handed to Node. */
  private requestEnded = false;
  private paused = false;
  /** Trailers, held until the body before them has been delivered. */
  private trailers: HeaderList | null = null;
  private error: Error | null = null;

  constructor(pool: H2SessionPool, session: H2Session, exchange: UpstreamExchange, isHead: boolean) {
    this.pool = pool;
    this.session = session;
    this.exchange = exchange;
    this.isHead = isHead;
  }

  /**
   * The response head held bytes >= 0x80. Node hands HTTP/2 field values over as latin1 strings (one
   * character per byte), so a relay that writes them back as latin1 passes the exact bytes on.
   */
  headHasNonAscii = false;

  get writable(): boolean {
    return this.stream === null || !this.stream.writableNeedDrain;
  }

  // ---------------------------------------------------------------- UpstreamStream

  sendRequest(method: string, target: string, headers: HeaderList, framing: BodyFraming, body: readonly Buffer[] | null, end: boolean, written: ((chunk: Buffer) => void) | null): void {
    if (method === 'HEAD') this.isHead = true;
    const pool = this.pool;
    const h2 = this.session.session;
    const noBody = framing.kind === 'none' || (end && (body === null || body.length === 0));
    if (h2 === null || h2.destroyed || h2.closed) {
      // The session went away between the hand-over and now: nothing was sent.
      if (body !== null && written !== null) for (const chunk of body) written(chunk);
      return this.failSoon('refused', 'the HTTP/2 session closed before the request was sent');
    }
    const bad = invalidField(headers);
    if (bad !== null) {
      // Node would destroy the whole session (every stream on it) over one bad field name: refuse here.
      if (body !== null && written !== null) for (const chunk of body) written(chunk);
      return this.failSoon('invalid', `request field ${JSON.stringify(bad)} cannot be sent over HTTP/2`);
    }
    const fields: OutgoingHttpHeaders = {
      ':method': method,
      ':path': target,
      ':scheme': pool.scheme,
      ':authority': headers.get('host') ?? pool.authority,
    };
    addH2Fields(fields, headers);
    if (fields.te === undefined && isGrpcContentType(headers.get('content-type'))) fields.te = 'trailers';
    let stream: ClientHttp2Stream;
    try {
      stream = h2.request(fields, { endStream: noBody });
    } catch (err) {
      if (body !== null && written !== null) for (const chunk of body) written(chunk);
      const code = (err as NodeJS.ErrnoException).code ?? '';
      // Fields Node will not send are the request's fault; anything else is the session's (out of
      // stream ids, closing), and the endpoint saw nothing of it.
      const invalid = code.startsWith('ERR_HTTP2_INVALID') || code === 'ERR_INVALID_HTTP_TOKEN' || code === 'ERR_INVALID_CHAR' || code.startsWith('ERR_HTTP2_HEADER');
      if (!invalid) this.session.drain();
      return this.failSoon(invalid ? 'invalid' : 'refused', `request not sent on HTTP/2: ${(err as Error).message}`);
    }
    pool.stats.cluster(pool.opts.clusterSlot, 'upstream_h2_streams', 1);
    this.stream = stream;
    (stream as Owned)[OWNER] = this;
    stream.on('response', onResponse);
    stream.on('headers', onInformational);
    stream.on('trailers', onTrailers);
    stream.on('end', onEnd);
    stream.on('close', onClose);
    stream.on('error', onError);
    stream.on('drain', onDrain);
    if (noBody) {
      this.requestEnded = true;
      return;
    }
    if (body !== null) for (const chunk of body) this.sendBody(chunk, written);
    if (end) this.endBody();
  }

  sendBody(chunk: Buffer, written: ((chunk: Buffer) => void) | null): boolean {
    const stream = this.stream;
    if (stream === null || stream.destroyed || this.requestEnded) {
      written?.(chunk);
      return true;
    }
    // Node keeps the chunk until nghttp2 has sent it, then calls back: its memory is free from then on.
    return stream.write(chunk, written === null ? undefined : () => written(chunk));
  }

  endBody(): boolean {
    const stream = this.stream;
    if (this.requestEnded || stream === null) return true;
    this.requestEnded = true;
    if (stream.destroyed) return true;
    stream.end();
    return !stream.writableNeedDrain;
  }

  pause(): void {
    this.paused = true;
    // Before the head no 'data' listener is attached, so the stream is not flowing yet.
    if (this.responded) this.stream?.pause();
  }

  resume(): void {
    this.paused = false;
    if (this.responded) this.stream?.resume();
  }

  /** Gives the place on the session back: the exchange did not use the stream. */
  release(): void {
    this.exchange = null;
    if (this.stream === null) this.free();
  }

  /** Abandons the request: an open stream is reset with CANCEL. */
  destroy(): void {
    this.exchange = null;
    const stream = this.stream;
    if (stream === null) this.free();
    else if (!stream.closed && !stream.destroyed) stream.close(NGHTTP2_CANCEL);
  }

  // ---------------------------------------------------------------- stream events

  /** The final response head. */
  onResponse(flags: number, raw: string[]): void {
    const ex = this.exchange;
    if (ex === null) return;
    const stream = this.stream!;
    const { status, headers } = responseHeadOf(raw);
    const cl = headers.get('content-length');
    const length = cl === undefined ? -1 : Math.max(-1, parseContentLength(cl));
    let kind: ResponseBodyKind;
    if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0 || this.isHead || status === 204 || status === 304) kind = 'none';
    else if (length >= 0) kind = 'length';
    else kind = 'chunked';
    this.responded = true;
    this.headHasNonAscii = hasNonAscii(raw);
    // Data is read from here on: a 'data' listener before the head could see a body chunk first.
    stream.on('data', onData);
    if (this.paused) stream.pause();
    ex.onResponseHead(status, '', headers, kind, length);
    // A head with no body bytes behind it yet goes downstream on its own.
    if (this.exchange !== null && kind !== 'none' && stream.readableLength === 0) this.exchange.onReadDone();
  }

  onInformational(raw: string[]): void {
    const { status, headers } = responseHeadOf(raw);
    if (status >= 100 && status < 200) this.exchange?.onInformational(status, headers);
  }

  onTrailers(raw: string[]): void {
    this.trailers = responseHeadOf(raw).headers;
  }

  onData(chunk: Buffer): void {
    this.exchange?.onResponseBody(chunk);
  }

  /** The response ended: trailers (held until now), then completion. */
  onEnd(): void {
    const ex = this.exchange;
    if (ex === null || !this.responded) return;
    this.exchange = null;
    this.completed = true;
    const trailers = this.trailers;
    this.trailers = null;
    if (trailers !== null) ex.onResponseTrailers(trailers);
    ex.onResponseComplete();
    // The endpoint answered before the whole request was sent: the rest is not wanted.
    const stream = this.stream!;
    if (!this.requestEnded && !stream.closed && !stream.destroyed) stream.close(NGHTTP2_CANCEL);
  }

  onClose(): void {
    this.free();
    const ex = this.exchange;
    this.exchange = null;
    if (ex === null || this.completed) return;
    const stream = this.stream!;
    const code = stream.rstCode ?? 0;
    const session = this.session;
    const pool = this.pool;
    // REFUSED_STREAM, or a stream above a GOAWAY's last stream id: the endpoint provably did not
    // process the request.
    if (code === NGHTTP2_REFUSED_STREAM || (stream.id !== undefined && stream.id > session.lastStreamId)) {
      pool.stats.cluster(pool.opts.clusterSlot, 'upstream_h2_refused_streams', 1);
      ex.onUpstreamError('refused', `upstream refused the stream (${code === NGHTTP2_REFUSED_STREAM ? 'REFUSED_STREAM' : 'above the last stream id of its GOAWAY'})`);
      return;
    }
    // A lost session says why (a socket error, an unanswered PING); a stream reset by the endpoint, its code.
    const why = session.failure || (code !== 0 ? (ERROR_CODES[code] ?? `error code ${code}`) : (this.error?.message ?? 'stream closed'));
    ex.onUpstreamError('reset', `upstream reset the stream before the response completed: ${why}`);
  }

  onError(err: Error): void {
    this.error ??= err;
  }

  onDrain(): void {
    this.exchange?.onUpstreamDrain();
  }

  // ---------------------------------------------------------------- internals

  private free(): void {
    if (this.freed) return;
    this.freed = true;
    this.pool.onStreamDone(this.session);
  }

  /** Fails the request on a later turn: the exchange is still inside its onConnection. */
  private failSoon(kind: 'invalid' | 'refused', detail: string): void {
    this.free();
    process.nextTick(() => {
      const ex = this.exchange;
      this.exchange = null;
      if (ex === null) return;
      if (kind === 'refused') this.pool.stats.cluster(this.pool.opts.clusterSlot, 'upstream_h2_refused_streams', 1);
      ex.onUpstreamError(kind, detail);
    });
  }
}

function hasNonAscii(raw: readonly string[]): boolean {
  for (let i = 1; i < raw.length; i += 2) {
    const v = raw[i]!;
    for (let j = 0; j < v.length; j++) if (v.charCodeAt(j) > 0x7f) return true;
  }
  return false;
}

/** The first field name that is not a token or whose value holds NUL, CR or LF; null when all are fine. */
function invalidField(headers: HeaderList): string | null {
  const raw = headers.raw;
  for (let i = 0; i < raw.length; i += 2) {
    if (!isToken(raw[i]!) || !isFieldValue(raw[i + 1]!)) return raw[i]!;
  }
  return null;
}

function onResponse(this: Owned, _headers: IncomingHttpHeaders, flags: number, raw: string[]): void {
  this[OWNER].onResponse(flags, raw);
}

function onInformational(this: Owned, _headers: IncomingHttpHeaders, _flags: number, raw: string[]): void {
  this[OWNER].onInformational(raw);
}

function onTrailers(this: Owned, _headers: IncomingHttpHeaders, _flags: number, raw: string[]): void {
  this[OWNER].onTrailers(raw);
}

function onData(this: Owned, chunk: Buffer): void {
  this[OWNER].onData(chunk);
}

function onEnd(this: Owned): void {
  this[OWNER].onEnd();
}

function onClose(this: Owned): void {
  this[OWNER].onClose();
}

function onError(this: Owned, err: Error): void {
  this[OWNER].onError(err);
}

function onDrain(this: Owned): void {
  this[OWNER].onDrain();
}
