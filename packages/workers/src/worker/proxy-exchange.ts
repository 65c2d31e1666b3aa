/**
 * One request through the proxy, from the downstream request uWS hands over to the end of the
 * upstream's response: check → route → pick an endpoint → get a pooled connection → stream the request
 * up and the response down, with backpressure both ways → count and log.
 *
 * The request head is re-serialised (never the client's bytes), hop-by-hop fields are dropped in both
 * directions and forwarding fields are added. Once the response has started, a failure aborts the
 * downstream connection rather than presenting a truncated body as complete.
 */
import { randomUUID } from 'node:crypto';
import {
  HeaderList,
  LAST_CHUNK,
  chunkHeader,
  checkRequest,
  codeClass,
  pickCluster,
  rewritePath,
  serializeRequestHead,
  stripHopByHop,
  type BodyFraming,
  type CompiledRoute,
  type ResponseBodyKind,
} from '@pillion/core';
import type { HttpRequest, HttpResponse } from '../uws.js';
import type { HttpConnection, UpstreamExchange } from '../upstream/http-connection.js';
import type { ClusterRuntime, PickRequest, UpstreamEndpoint, UpstreamResult } from './cluster-runtime.js';
import type { HttpListener } from './http-listener.js';
import { writeLocalReply } from './local-reply.js';

const enum Phase {
  /** Waiting for an upstream connection. */
  Connecting,
  /** Request head sent; streaming the request body and/or waiting for the response head. */
  Requesting,
  /** Response head received; streaming the body down. */
  Responding,
  Done,
}

const VIA = '1.1 pillion';
const NO_BYTES = Buffer.alloc(0);

// req.forEach target without a closure per request: uWS calls it synchronously.
let collecting: string[] = [];
function collectHeader(name: string, value: string): void {
  collecting.push(name, value);
}

export class ProxyExchange implements UpstreamExchange, PickRequest {
  private readonly listener: HttpListener;
  private readonly res: HttpResponse;
  private readonly start: number;
  private phase = Phase.Connecting;
  private aborted = false;
  private readonly method: string;
  private readonly target: string;
  readonly headers: HeaderList;
  lbScratch: unknown = null;
  private framing: BodyFraming = { kind: 'none', length: 0 };
  private route: CompiledRoute | null = null;
  private cluster: ClusterRuntime | null = null;
  private endpoint: UpstreamEndpoint | null = null;
  private conn: HttpConnection | null = null;
  private timer: NodeJS.Timeout | null = null;
  private status = 0;
  private requestId = '';
  clientAddress = '';
  private bytesIn = 0;
  private bytesOut = 0;

  // Request body: chunks that arrived before the upstream connection, and whether the client is done.
  private pendingBody: Buffer[] | null = null;
  private requestEnded = true;
  private requestPaused = false;

  // Response: the head waits for the first body chunk so head and body leave in one write.
  private headPending = false;
  private respHeaders: HeaderList | null = null;
  private respStatusLine = '';
  private respBodyKind: ResponseBodyKind = 'none';
  private respLength = -1;
  /** The upstream head held bytes >= 0x80: relay those values as the exact latin1 bytes received. */
  private respNonAscii = false;
  private respWriteBase = 0;
  /** A body chunk uWS could not take yet (tryEnd backpressure) and where its first byte sits. */
  private stalled: Buffer | null = null;
  private stalledAt = 0;
  private readonly boundFlush: () => void;
  private flushChunk: Buffer = NO_BYTES;
  private flushEnd = false;

  constructor(listener: HttpListener, res: HttpResponse, req: HttpRequest) {
    this.listener = listener;
    this.res = res;
    this.start = performance.now();
    this.boundFlush = this.flushCorked.bind(this);
    listener.active++;
    listener.stats.listener(listener.slot, 'downstream_cx_total', 1);
    listener.stats.listener(listener.slot, 'downstream_cx_active', 1);

    this.method = req.getCaseSensitiveMethod();
    const query = req.getQuery();
    const path = req.getUrl();
    this.target = query ? `${path}?${query}` : path;
    collecting = [];
    req.forEach(collectHeader);
    this.headers = new HeaderList(collecting);
    res.onAborted(this.onAborted.bind(this));

    const verdict = checkRequest(this.method, this.target, this.headers, 1, listener.requestLimits);
    if (!verdict.ok) {
      this.localReply(verdict.status, verdict.reason, true);
      return;
    }
    if (verdict.bodyKind === 'length') {
      if (listener.maxBodyBytes > 0 && verdict.contentLength > listener.maxBodyBytes) {
        this.localReply(413, undefined, true);
        return;
      }
      this.framing = { kind: 'length', length: verdict.contentLength };
    } else if (verdict.bodyKind === 'chunked') {
      this.framing = { kind: 'chunked', length: 0 };
    }

    const host = this.headers.get('host') ?? '';
    const route = listener.routes.match({ method: this.method, path, host, headers: this.headers });
    if (route === null) {
      this.localReply(404, undefined, false);
      return;
    }
    this.route = route;
    const cluster = listener.runtime.cluster(pickCluster(route, route.clusters.length > 1 ? Math.random() : 0));
    if (!cluster) {
      this.localReply(503, 'cluster not found', false);
      return;
    }
    this.cluster = cluster;

    if (this.framing.kind !== 'none' && !(this.framing.kind === 'length' && this.framing.length === 0)) {
      this.requestEnded = false;
      this.pendingBody = [];
      res.onData(this.onRequestData.bind(this));
    }

    this.prepareHeaders(host, rewritePath(route, path), query);
    const timeout = route.config.timeout ?? listener.config.timeouts.request;
    if (timeout > 0) this.timer = setTimeout(this.onTimeout.bind(this), timeout);

    const endpoint = cluster.pick(this, 0);
    if (endpoint === null) {
      this.localReply(503, undefined, false);
      return;
    }
    this.endpoint = endpoint;
    const state = listener.runtime.state;
    state.addEndpoint(endpoint.slot, 'rq_active', 1);
    state.addCluster(cluster.slot, 'rq_active', 1);
    listener.stats.endpoint(endpoint.slot, 'requests', 1);
    endpoint.pool.acquire(this, this.method === 'HEAD');
  }

  // ------------------------------------------------------------------ request side

  private upstreamTarget = '';

  private prepareHeaders(host: string, path: string, query: string): void {
    const h = this.headers;
    const route = this.route!;
    this.upstreamTarget = query ? `${path}?${query}` : path;
    stripHopByHop(h);
    this.clientAddress = Buffer.from(this.res.getRemoteAddressAsText()).toString();
    const xff = h.get('x-forwarded-for');
    h.set('x-forwarded-for', xff ? `${xff}, ${this.clientAddress}` : this.clientAddress);
    h.set('x-forwarded-proto', 'http');
    if (!h.has('x-forwarded-host')) h.add('x-forwarded-host', host);
    const via = h.get('via');
    h.set('via', via ? `${via}, ${VIA}` : VIA);
    let id = h.get('x-request-id');
    if (!id) h.add('x-request-id', (id = randomUUID()));
    this.requestId = id;
    if (route.config.host_rewrite) h.set('host', route.config.host_rewrite);
    const edits = route.config.request_headers;
    for (const name of edits.remove) h.remove(name);
    for (const name in edits.add) h.set(name, edits.add[name]!);
  }

  onConnection(conn: HttpConnection): void {
    if (this.phase === Phase.Done) {
      // Gave up while waiting (abort, timeout): the connection was never written to, so it stays clean.
      conn.pool.release(conn);
      return;
    }
    this.conn = conn;
    this.phase = Phase.Requesting;
    const head = serializeRequestHead(this.method, this.upstreamTarget, this.headers, this.framing);
    const pending = this.pendingBody;
    this.pendingBody = null;
    if (pending === null || pending.length === 0) {
      conn.write(this.requestEnded && this.framing.kind === 'chunked' ? head + LAST_CHUNK : head);
    } else {
      conn.socket.cork();
      conn.write(head);
      for (const chunk of pending) this.writeBody(chunk);
      if (this.requestEnded && this.framing.kind === 'chunked') conn.write(LAST_CHUNK);
      conn.socket.uncork();
    }
    if (!this.requestEnded && this.requestPaused && conn.socket.writableNeedDrain === false) {
      this.requestPaused = false;
      this.res.resume();
    }
  }

  private onRequestData(ab: ArrayBuffer, isLast: boolean): void {
    // uWS neuters the ArrayBuffer when this returns: copy what must outlive the call.
    const n = ab.byteLength;
    this.bytesIn += n;
    const max = this.listener.maxBodyBytes;
    if (max > 0 && this.bytesIn > max) {
      this.failRequestBody();
      return;
    }
    if (isLast) this.requestEnded = true;
    if (this.phase === Phase.Done) return;
    const conn = this.conn;
    if (conn === null) {
      if (n) this.pendingBody!.push(Buffer.copyBytesFrom(new Uint8Array(ab)));
      // Hold the client back while we wait for a connection rather than buffer without bound.
      if (!isLast && !this.requestPaused) {
        this.requestPaused = true;
        this.res.pause();
      }
      return;
    }
    let ok = true;
    if (n) ok = this.writeBody(Buffer.copyBytesFrom(new Uint8Array(ab)));
    if (isLast && this.framing.kind === 'chunked') ok = conn.write(LAST_CHUNK);
    if (!ok && !isLast && !this.requestPaused) {
      this.requestPaused = true;
      this.res.pause();
    }
  }

  private writeBody(chunk: Buffer): boolean {
    const conn = this.conn!;
    this.listener.stats.cluster(this.cluster!.slot, 'upstream_bytes_out', chunk.length);
    if (this.framing.kind === 'chunked') {
      conn.write(chunkHeader(chunk.length));
      conn.write(chunk);
      return conn.write('\r\n');
    }
    return conn.write(chunk);
  }

  onUpstreamDrain(): void {
    if (this.requestPaused && this.phase !== Phase.Done) {
      this.requestPaused = false;
      this.res.resume();
    }
  }

  private failRequestBody(): void {
    if (this.phase === Phase.Responding) {
      this.abortDownstream();
      return;
    }
    this.dropUpstream();
    this.localReply(413, undefined, true);
  }

  // ------------------------------------------------------------------ response side

  onInformational(): void {
    // 100 Continue and other interim answers are not relayed: the body is already being streamed.
  }

  onResponseHead(status: number, reason: string, headers: HeaderList, bodyKind: ResponseBodyKind, contentLength: number): void {
    if (this.phase === Phase.Done) return;
    this.phase = Phase.Responding;
    this.status = status;
    this.report(status);
    stripHopByHop(headers);
    const edits = this.route!.config.response_headers;
    for (const name of edits.remove) headers.remove(name);
    for (const name in edits.add) headers.set(name, edits.add[name]!);
    this.respHeaders = headers;
    this.respStatusLine = reason ? `${status} ${reason}` : `${status} `;
    this.respBodyKind = bodyKind;
    this.respLength = contentLength;
    this.respNonAscii = this.conn !== null && this.conn.parser.headHasNonAscii;
    if (bodyKind === 'none') {
      this.flushChunk = NO_BYTES;
      this.flushEnd = true;
      this.headPending = true;
      this.res.cork(this.boundFlush);
      return;
    }
    this.headPending = true;
  }

  onResponseBody(chunk: Buffer): void {
    if (this.phase !== Phase.Responding) return;
    this.bytesOut += chunk.length;
    this.flushChunk = chunk;
    this.flushEnd = false;
    this.res.cork(this.boundFlush);
  }

  /** The connection's read ended: send a head still waiting for body bytes. */
  onReadDone(): void {
    if (this.headPending && this.phase === Phase.Responding) {
      this.flushChunk = NO_BYTES;
      this.flushEnd = false;
      this.res.cork(this.boundFlush);
    }
  }

  onResponseComplete(): void {
    if (this.phase !== Phase.Responding) return;
    this.conn = null;
    if (this.respBodyKind === 'none') return; // already ended in the head flush
    this.flushChunk = NO_BYTES;
    this.flushEnd = true;
    this.res.cork(this.boundFlush);
  }

  /** Runs inside res.cork: writes the pending head, then flushChunk, then ends when flushEnd. */
  private flushCorked(): void {
    if (this.aborted) return;
    const res = this.res;
    if (this.headPending) {
      this.headPending = false;
      res.writeStatus(this.respStatusLine);
      const raw = this.respHeaders!.raw;
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i]!;
        // uWS writes its own framing and Date; passing the upstream's would duplicate them.
        if (name === 'content-length' || name === 'date' || name === 'transfer-encoding') continue;
        const value = raw[i + 1]!;
        res.writeHeader(name, this.respNonAscii ? Buffer.from(value, 'latin1') : value);
      }
      this.respWriteBase = res.getWriteOffset();
      if (this.respBodyKind === 'none') {
        if (this.respLength >= 0 && this.status !== 204) res.endWithoutBody(this.respLength);
        else res.endWithoutBody();
        this.finish();
        return;
      }
    }
    const chunk = this.flushChunk;
    this.flushChunk = NO_BYTES;
    if (this.respBodyKind === 'length') {
      if (this.stalled !== null) {
        // Still waiting for onWritable; keep order by queueing behind the stalled bytes.
        this.stalled = Buffer.concat([this.stalled, chunk]);
        return;
      }
      if (chunk.length === 0 && !this.flushEnd) return;
      const at = res.getWriteOffset();
      const [ok, done] = res.tryEnd(chunk, this.respLength);
      if (done) {
        this.finish();
        return;
      }
      if (!ok) {
        this.stalled = chunk;
        this.stalledAt = at;
        this.conn?.pause();
        res.onWritable(this.onWritable.bind(this));
      }
      if (this.flushEnd && !ok) return; // finishes from onWritable
      if (this.flushEnd && ok) {
        // The upstream said complete but uWS has not seen the declared length: never present it as whole.
        this.abortDownstream();
      }
      return;
    }
    // chunked or close-delimited upstream body: relay with chunked encoding.
    if (chunk.length) {
      const ok = res.write(chunk);
      if (!ok && this.conn) {
        this.conn.pause();
        res.onWritable(this.onWritableChunked.bind(this));
      }
    }
    if (this.flushEnd) {
      res.end();
      this.finish();
    }
  }

  private onWritable(offset: number): boolean {
    const stalled = this.stalled;
    if (stalled === null || this.aborted) return true;
    const from = offset - this.stalledAt;
    const rest = from > 0 ? stalled.subarray(from) : stalled;
    const at = offset;
    const [ok, done] = this.res.tryEnd(rest, this.respLength);
    if (done) {
      this.stalled = null;
      this.finish();
      return true;
    }
    if (ok) {
      this.stalled = null;
      this.conn?.resume();
      return true;
    }
    this.stalled = rest;
    this.stalledAt = at;
    return false;
  }

  private onWritableChunked(): boolean {
    this.conn?.resume();
    return true;
  }

  // ------------------------------------------------------------------ failures

  onConnectFailure(reason: string): void {
    if (this.phase === Phase.Done) return;
    this.report('connect-failure');
    this.dropUpstream();
    this.res.cork(() => this.localReply(503, `upstream connect failure: ${reason}`, false));
  }

  onUpstreamError(kind: 'reset' | 'invalid', detail: string): void {
    if (this.phase === Phase.Done) return;
    this.conn = null;
    this.listener.stats.cluster(this.cluster!.slot, 'upstream_resets', 1);
    if (this.phase !== Phase.Responding) this.report('reset');
    if (this.phase === Phase.Responding && !this.headPending) {
      this.abortDownstream();
      return;
    }
    this.res.cork(() => this.localReply(502, kind === 'invalid' ? detail : 'upstream reset before response', false));
  }

  private onTimeout(): void {
    this.timer = null;
    if (this.phase === Phase.Done) return;
    this.listener.stats.cluster(this.cluster!.slot, 'upstream_timeouts', 1);
    if (this.phase !== Phase.Responding) this.report('timeout');
    if (this.phase === Phase.Responding && !this.headPending) {
      this.abortDownstream();
      return;
    }
    this.dropUpstream();
    this.res.cork(() => this.localReply(504, undefined, false));
  }

  private onAborted(): void {
    this.aborted = true;
    if (this.phase === Phase.Done) return;
    this.dropUpstream();
    this.finish();
  }

  /** Tells the cluster how the attempt on the current endpoint ended (passive health). */
  private report(result: UpstreamResult): void {
    if (this.endpoint !== null) this.cluster!.onResult(this.endpoint, result);
  }

  /** Abandons the upstream side: a connection mid-message is closed, never pooled. */
  private dropUpstream(): void {
    const conn = this.conn;
    this.conn = null;
    if (conn !== null) conn.destroy();
    else if (this.endpoint !== null && this.phase === Phase.Connecting) this.endpoint.pool.cancel(this);
  }

  private abortDownstream(): void {
    this.dropUpstream();
    if (!this.aborted) {
      this.aborted = true;
      this.res.close();
    }
    this.finish();
  }

  private localReply(status: number, detail: string | undefined, close: boolean): void {
    if (this.aborted || this.phase === Phase.Done) return;
    this.status = status;
    this.listener.stats.listener(this.listener.slot, 'local_replies', 1);
    writeLocalReply(this.res, status, detail, close || this.listener.draining);
    this.finish();
  }

  /** Counts and logs the exchange, once. */
  private finish(): void {
    if (this.phase === Phase.Done) return;
    this.phase = Phase.Done;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const l = this.listener;
    const seconds = (performance.now() - this.start) / 1000;
    const clusterSlot = this.cluster ? this.cluster.slot : -1;
    l.stats.request(l.slot, clusterSlot, this.aborted && this.status === 0 ? 0 : codeClass(this.status), seconds);
    l.stats.listener(l.slot, 'downstream_cx_active', -1);
    l.stats.listener(l.slot, 'downstream_bytes_in', this.bytesIn);
    l.stats.listener(l.slot, 'downstream_bytes_out', this.bytesOut);
    if (this.endpoint !== null) {
      const state = l.runtime.state;
      state.addEndpoint(this.endpoint.slot, 'rq_active', -1);
      state.addCluster(this.cluster!.slot, 'rq_active', -1);
      l.stats.cluster(this.cluster!.slot, 'upstream_bytes_in', this.bytesOut);
    }
    if (l.accessLog !== null && (l.accessSample >= 1 || Math.random() < l.accessSample)) {
      l.accessLog.info({
        listener: l.config.name,
        method: this.method,
        path: this.target,
        status: this.status,
        aborted: this.aborted || undefined,
        cluster: this.cluster?.name,
        upstream: this.endpoint?.key,
        duration_ms: Math.round(seconds * 1e6) / 1000,
        bytes_in: this.bytesIn,
        bytes_out: this.bytesOut,
        request_id: this.requestId || undefined,
        client: this.clientAddress || undefined,
      });
    }
    l.exchangeDone();
  }
}
