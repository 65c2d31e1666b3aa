/**
 * An upstream response on its way downstream. The head waits for the first body chunk so head and
 * body leave in one write. A body with a declared length goes out with tryEnd (the codec frames it
 * and reports backpressure with the write offset); a chunked or close-delimited one is relayed
 * chunked. Downstream backpressure pauses the upstream connection until the client has taken the
 * bytes; a body that ends short of its declared length is never presented as complete.
 */
import type { HeaderList, ResponseBodyKind } from '@pillion/core';
import type { Downstream } from './downstream.js';

const NO_BYTES = Buffer.alloc(0);

/** What the relay reports to the exchange it serves. */
export interface RelayOwner {
  /** The client went away or the connection was closed: write nothing more. */
  readonly aborted: boolean;
  /**
   * The connection should close after this response (an HTTP/1.x client while the listener drains):
   * the head says `connection: close`, so a keep-alive client stops sending on it and the drain ends
   * when the requests in flight do, instead of at drain_timeout with a request cut on every connection.
   */
  readonly closeAfterResponse: boolean;
  /** The response went out in full. */
  relayDone(): void;
  /** The upstream said complete but the client has not had the declared length: drop the connection. */
  relayShort(): void;
  /**
   * Hold the upstream connection's reads back while the client catches up (false when there is no
   * connection left to hold), and let them go again.
   */
  pauseUpstream(): boolean;
  resumeUpstream(): void;
}

export class ResponseRelay {
  /** The head is written; from now on a failure can only abort the downstream. */
  headSent = false;
  private headPending = false;
  private statusLine = '';
  private headers: HeaderList | null = null;
  private status = 0;
  private bodyKind: ResponseBodyKind = 'none';
  private length = -1;
  /** The upstream head held bytes >= 0x80: relay those values as the exact latin1 bytes received. */
  private nonAscii = false;
  /** A body chunk the codec could not take yet (tryEnd backpressure) and where its first byte sits. */
  private stalled: Buffer | null = null;
  private stalledAt = 0;
  private flushChunk: Buffer = NO_BYTES;
  private flushEnd = false;
  private readonly boundFlush: () => void;

  constructor(
    private readonly res: Downstream,
    private readonly owner: RelayOwner,
  ) {
    this.boundFlush = this.flushCorked.bind(this);
  }

  /** The response head, written with the first body bytes (or at once when there is no body). */
  begin(status: number, statusLine: string, headers: HeaderList, bodyKind: ResponseBodyKind, length: number, nonAscii: boolean): void {
    this.status = status;
    this.statusLine = statusLine;
    this.headers = headers;
    this.bodyKind = bodyKind;
    this.length = length;
    this.nonAscii = nonAscii;
    this.headPending = true;
  }

  get hasBody(): boolean {
    return this.bodyKind !== 'none';
  }

  /** Sends the next body chunk (a view of a read buffer: kept only by copying if it cannot go now). */
  send(chunk: Buffer): void {
    this.flushChunk = chunk;
    this.flushEnd = false;
    this.res.cork(this.boundFlush);
  }

  /**
   * Ends the response, with `last` as its final bytes (or the head alone, for a response without a
   * body), and `trailers` after the body where the codec carries them (HTTP/2).
   */
  end(last: Buffer = NO_BYTES, trailers: HeaderList | null = null): void {
    if (trailers !== null && this.res.sendTrailers !== undefined) this.res.sendTrailers(trailers);
    this.flushChunk = last;
    this.flushEnd = true;
    this.res.cork(this.boundFlush);
  }

  /** The upstream read that carried the head had no body bytes: send the head on its own. */
  readDone(): void {
    if (this.headPending) this.send(NO_BYTES);
  }

  /** Runs inside res.cork: writes the pending head, then flushChunk, then ends when flushEnd. */
  private flushCorked(): void {
    if (this.owner.aborted) return;
    const res = this.res;
    if (this.headPending) {
      this.headPending = false;
      this.headSent = true;
      res.writeStatus(this.statusLine);
      const raw = this.headers!.raw;
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i]!;
        // The codec writes its own framing and Date; passing the upstream's would duplicate them.
        if (name === 'content-length' || name === 'date' || name === 'transfer-encoding') continue;
        const value = raw[i + 1]!;
        res.writeHeader(name, this.nonAscii ? Buffer.from(value, 'latin1') : value);
      }
      if (this.owner.closeAfterResponse) res.writeHeader('connection', 'close');
      if (this.bodyKind === 'none') {
        // The length a HEAD or 304 reports is written as a field: uWS's endWithoutBody(length) leaves the
        // response pending, and the next request on the connection then closes it.
        if (this.length >= 0 && this.status !== 204) res.writeHeader('content-length', String(this.length));
        res.endWithoutBody();
        this.owner.relayDone();
        return;
      }
    }
    const chunk = this.flushChunk;
    this.flushChunk = NO_BYTES;
    if (this.bodyKind === 'length') {
      if (this.stalled !== null) {
        // Still waiting for onWritable; keep order by queueing behind the stalled bytes. (The upstream is
        // paused, so this is at most the rest of the read that was being parsed.)
        if (chunk.length) this.stalled = Buffer.concat([this.stalled, chunk]);
        return;
      }
      if (chunk.length === 0 && !this.flushEnd) return;
      const at = res.getWriteOffset();
      const [ok, done] = res.tryEnd(chunk, this.length);
      if (done) {
        this.owner.relayDone();
        return;
      }
      if (!ok) {
        // The chunk is a view of the connection's read buffer, which the next read overwrites: copy it.
        this.stalled = Buffer.from(chunk);
        this.stalledAt = at;
        this.owner.pauseUpstream();
        res.onWritable(this.onWritable.bind(this));
        return; // a completion that arrives meanwhile finishes from onWritable
      }
      // The upstream said complete but the codec has not seen the declared length: never present it as whole.
      if (this.flushEnd) this.owner.relayShort();
      return;
    }
    // chunked or close-delimited upstream body: relay with chunked encoding.
    if (chunk.length && !res.write(chunk) && this.owner.pauseUpstream()) res.onWritable(this.onWritableChunked.bind(this));
    if (this.flushEnd) {
      res.end();
      this.owner.relayDone();
    }
  }

  private onWritable(offset: number): boolean {
    const stalled = this.stalled;
    if (stalled === null || this.owner.aborted) return true;
    const from = offset - this.stalledAt;
    const rest = from > 0 ? stalled.subarray(from) : stalled;
    const [ok, done] = this.res.tryEnd(rest, this.length);
    if (done) {
      this.stalled = null;
      this.owner.relayDone();
      return true;
    }
    if (ok) {
      this.stalled = null;
      this.owner.resumeUpstream();
      return true;
    }
    this.stalled = rest;
    this.stalledAt = offset;
    return false;
  }

  private onWritableChunked(): boolean {
    this.owner.resumeUpstream();
    return true;
  }
}
