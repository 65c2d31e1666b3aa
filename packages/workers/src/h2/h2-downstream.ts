/**
 * One HTTP/2 stream of a downstream connection seen through the Downstream interface (the response
 * side of an exchange; the request head and body come from the stream too).
 *
 * - The head goes out with `stream.respond()` when the first body bytes (or the end) are written;
 *   connection-specific fields are left out (HTTP/2 forbids them). A response with no body is sent
 *   as one HEADERS frame with END_STREAM, which is also how a gRPC trailers-only answer must look.
 * - A gRPC response (content-type application/grpc...) is sent with `waitForTrailers`, and its
 *   trailers (grpc-status, grpc-message) follow the last DATA frame; a response without trailers to
 *   send ends with an empty DATA frame instead.
 * - `write`/`tryEnd` hand every byte to the stream (a copy, see owned()) and report its backpressure;
 *   'drain' calls the onWritable handler with the write offset, as uWS does. Flow control toward the
 *   client is HTTP/2's own: the stream buffers no more than its window lets through.
 * - `close()` resets the stream (INTERNAL_ERROR): a response that failed after its head is never
 *   presented as complete. `end(body, true)` only ends this stream: other streams on the connection
 *   are not affected by one request's framing.
 */
import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { isGrpcContentType, type HeaderList, type PeerIdentity } from '@pillion/core';
import type { Downstream } from '../worker/downstream.js';
import { StreamDownstream } from '../worker/stream-downstream.js';
import { addH2Fields, isConnectionSpecific } from './h2-fields.js';

/**
 * A copy of a body chunk for the stream to keep. An HTTP/2 stream holds on to what it is given until
 * nghttp2 frames it (after the window opens, maybe much later), while relayed chunks are views of
 * the upstream connection's read buffer, which the next read overwrites (uWS copies what it cannot
 * send at once; Node's http2 does not).
 */
function owned(chunk: Buffer | string): Buffer | string {
  return typeof chunk === 'string' ? chunk : Buffer.from(chunk);
}

const { NGHTTP2_INTERNAL_ERROR } = constants;

export class H2Downstream extends StreamDownstream implements Downstream {
  private status = 200;
  private head: OutgoingHttpHeaders = {};
  private responded = false;
  /** The response is gRPC: it is sent with trailers. */
  private grpc = false;
  private trailers: HeaderList | null = null;
  /** The verified client certificate of the connection; null without one. */
  identity: PeerIdentity | null = null;

  constructor(
    readonly stream: ServerHttp2Stream,
    readonly remoteAddress: string,
  ) {
    super(stream);
    stream.once('close', this.onClose.bind(this));
    stream.on('drain', this.drained.bind(this));
  }

  private onClose(): void {
    this.closed(this.ended && this.stream.rstCode === constants.NGHTTP2_NO_ERROR);
  }

  cork(cb: () => void): void {
    // The session batches a turn's frames into one write by itself.
    cb();
  }

  writeStatus(status: string): void {
    const sp = status.indexOf(' ');
    this.status = Number(sp === -1 ? status : status.slice(0, sp));
  }

  writeHeader(name: string, value: string | Buffer): void {
    if (isConnectionSpecific(name)) return;
    const v = typeof value === 'string' ? value : value.toString('latin1');
    if (name === 'content-type' && isGrpcContentType(v)) this.grpc = true;
    const had = this.head[name];
    if (had === undefined) this.head[name] = v;
    else if (Array.isArray(had)) had.push(v);
    else this.head[name] = [String(had), v];
  }

  /** The trailer fields the response ends with (sent only on a gRPC response; others have no use for them). */
  sendTrailers(trailers: HeaderList): void {
    this.trailers = trailers;
  }

  /** Sends the head; false when the stream is gone (the client reset it: onAborted follows). */
  private respond(length: number, endStream: boolean): boolean {
    if (this.responded) return !this.stream.destroyed;
    this.responded = true;
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return false;
    const head = this.head;
    head[':status'] = this.status;
    if (length >= 0 && head['content-length'] === undefined) head['content-length'] = length;
    const waitForTrailers = this.grpc && !endStream;
    try {
      stream.respond(head, { endStream, waitForTrailers });
    } catch {
      // A field Node will not send in HTTP/2 (an invalid character): the response cannot go out as
      // received, so the stream is reset rather than answered with something else.
      this.close();
      return false;
    }
    if (waitForTrailers) stream.once('wantTrailers', this.onWantTrailers.bind(this));
    return true;
  }

  private onWantTrailers(): void {
    const stream = this.stream;
    if (stream.destroyed) return;
    const t = this.trailers;
    try {
      stream.sendTrailers(t === null ? {} : addH2Fields({}, t));
    } catch {
      this.close();
    }
  }

  write(chunk: Buffer | string): boolean {
    if (!this.respond(-1, false)) return true;
    this.offset += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    return this.stream.write(owned(chunk));
  }

  end(body?: Buffer | string, _closeConnection?: boolean): void {
    this.ended = true;
    const n = body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    if (!this.responded) {
      // No body at all: one HEADERS frame with END_STREAM (for gRPC, the trailers-only form).
      if (!this.respond(n === 0 ? -1 : n, n === 0) || n === 0) return;
    } else if (this.stream.destroyed) return;
    this.offset += n;
    this.stream.end(n ? owned(body!) : undefined);
  }

  endWithoutBody(reportedContentLength?: number, _closeConnection?: boolean): void {
    this.ended = true;
    if (this.responded) {
      if (!this.stream.destroyed) this.stream.end();
      return;
    }
    if (reportedContentLength !== undefined && reportedContentLength >= 0) this.head['content-length'] = reportedContentLength;
    this.respond(-1, true);
  }

  tryEnd(chunk: Buffer | string, totalSize: number): [boolean, boolean] {
    if (!this.respond(totalSize, false)) return [true, false];
    const n = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    this.offset += n;
    if (this.offset >= totalSize) {
      this.ended = true;
      this.stream.end(n ? owned(chunk) : undefined);
      return [true, true];
    }
    // The stream takes every byte (buffering what flow control holds back) and reports backpressure.
    const ok = n === 0 ? true : this.stream.write(owned(chunk));
    return [ok, false];
  }


  close(): void {
    this.ended = true;
    if (!this.stream.destroyed) this.stream.close(NGHTTP2_INTERNAL_ERROR);
  }
}
