/**
 * A request body on its way upstream: chunks are written as they arrive once a connection is ready,
 * held (with the client paused) while none is, and kept whole in a replay buffer while they fit it so
 * a retry can send them again. Upstream backpressure pauses the client; the socket's drain resumes it.
 */
import type { BodyFraming, HeaderList, StatsWriter } from '@pillion/core';
import type { UpstreamStream } from '../upstream/upstream-exchange.js';
import { ChunkPool } from './chunk-pool.js';
import type { Downstream } from './downstream.js';

const NO_BYTES = Buffer.alloc(0);
const chunkPool = new ChunkPool();
const releaseChunk = chunkPool.release.bind(chunkPool);

/** The request head as it goes upstream. */
export interface UpstreamHead {
  readonly method: string;
  readonly target: string;
  readonly headers: HeaderList;
}

export class RequestBody {
  /** The stream the current attempt writes to; null while connecting. */
  conn: UpstreamStream | null = null;
  /** The client sent the last chunk. */
  ended = false;
  /** Chunks that arrived while no connection was ready. */
  private pending: Buffer[] | null = [];
  /** Every chunk so far while the body fits the replay buffer; null without retries or once outgrown. */
  private replay: Buffer[] | null;
  private replayBytes = 0;
  private paused = false;
  /** The response came before the whole body: the rest is read and dropped. */
  private discarding = false;

  /** `replayLimit`: the route's retry replay buffer in bytes, or -1 when the route does not retry. */
  constructor(
    private readonly res: Downstream,
    private readonly stats: StatsWriter,
    private readonly clusterSlot: number,
    readonly framing: BodyFraming,
    private readonly replayLimit: number,
  ) {
    this.replay = replayLimit >= 0 ? [] : null;
  }

  /** The whole body so far is in the replay buffer, so another attempt can send it again. */
  get replayable(): boolean {
    return this.replay !== null;
  }

  /**
   * A chunk the downstream handed over, as memory this body may keep: uWS's ArrayBuffer is only valid
   * during its callback, so it is copied (into pooled memory when it will not be needed again).
   */
  own(ab: ArrayBuffer | Buffer): Buffer {
    if (ab.byteLength === 0) return NO_BYTES;
    if (!(ab instanceof ArrayBuffer)) return ab;
    if (this.replay === null) return chunkPool.copy(ab);
    const buf = Buffer.allocUnsafe(ab.byteLength);
    buf.set(new Uint8Array(ab));
    return buf;
  }

  /** The next chunk (the last when `isLast`): kept for replay, then written, or held until connected. */
  push(chunk: Buffer, isLast: boolean): void {
    if (isLast) this.ended = true;
    if (this.discarding) return;
    const n = chunk.length;
    if (n) this.keep(chunk);
    const conn = this.conn;
    if (conn === null) {
      if (n && this.pending !== null) this.pending.push(chunk);
      // Hold the client back while waiting for a connection rather than buffer without bound.
      if (!isLast) this.pause();
      return;
    }
    let ok = true;
    if (n) ok = this.write(conn, chunk);
    if (!isLast) {
      if (!ok) this.pause();
      return;
    }
    conn.endBody();
    // Nothing more of this body will come: a client still paused by an earlier chunk goes on now. The
    // stream's drain may come after the response has ended, too late, and uWS would not read the
    // connection's next request.
    this.resume();
  }

  /** The whole body at once, complete (a filter held it until the end). */
  pushWhole(whole: Buffer): void {
    this.ended = true;
    if (whole.length) {
      this.keep(whole);
      this.pending = [whole];
    }
  }

  /**
   * Sends the request head and the body so far on a new stream: a retry sends the whole body kept for
   * replay, a first attempt what arrived while connecting. Returns false when a retry can no longer
   * send the body whole (it outgrew the replay buffer meanwhile).
   */
  send(conn: UpstreamStream, head: UpstreamHead, retry: boolean): boolean {
    if (retry && this.replay === null) return false;
    this.conn = conn;
    const body = retry ? this.replay : this.pending;
    this.pending = this.ended ? null : [];
    if (body !== null) for (const chunk of body) this.stats.cluster(this.clusterSlot, 'upstream_bytes_out', chunk.length);
    conn.sendRequest(head.method, head.target, head.headers, this.framing, body, this.ended, this.replay === null ? releaseChunk : null);
    // A client paused while no connection was ready goes on once the stream takes bytes, or at once when
    // its body is complete (a response ended while it is paused would leave its next request unread).
    if (this.ended || conn.writable) this.resume();
    return true;
  }

  /**
   * The upstream answered before the whole body was sent: nothing more goes upstream, and the client,
   * if paused, goes on so the rest of its body is read (and dropped) and its connection stays usable.
   */
  discard(): void {
    this.discarding = true;
    this.conn = null;
    this.pending = this.replay = null;
    this.resume();
  }

  /** The upstream socket can take more: let the client send again. */
  resume(): void {
    if (this.paused) {
      this.paused = false;
      this.res.resume();
    }
  }

  private pause(): void {
    if (!this.paused) {
      this.paused = true;
      this.res.pause();
    }
  }

  private keep(chunk: Buffer): void {
    if (this.replay === null) return;
    this.replayBytes += chunk.length;
    if (this.replayBytes <= this.replayLimit) this.replay.push(chunk);
    // Too big to send twice: this request will not be retried once it reaches an upstream.
    else this.replay = null;
  }

  private write(conn: UpstreamStream, chunk: Buffer): boolean {
    this.stats.cluster(this.clusterSlot, 'upstream_bytes_out', chunk.length);
    return conn.sendBody(chunk, this.replay === null ? releaseChunk : null);
  }
}
