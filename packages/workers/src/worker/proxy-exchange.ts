/**
 * One request through the proxy, from the downstream request uWS hands over to the end of the
 * upstream's response: check → route → (breakers) → pick an endpoint → get a pooled connection →
 * stream the request up and the response down, with backpressure both ways → count and log. A failed
 * attempt may be retried on another endpoint, after a backoff, when the route's retry policy, the
 * cluster's retry budget and its max_retries breaker all allow it.
 *
 * The request head is re-serialised (never the client's bytes), hop-by-hop fields are dropped in both
 * directions and forwarding fields are added. Once the response has started, a failure aborts the
 * downstream connection rather than presenting a truncated body as complete.
 */
import { randomUUID } from 'node:crypto';
import {
  HeaderList,
  LAST_CHUNK,
  canonicalReason,
  chunkHeader,
  checkRequest,
  codeClass,
  pickCluster,
  retryBudgetAllows,
  retryDelay,
  rewritePath,
  serializeRequestHead,
  shouldRetry,
  stripHopByHop,
  type BodyFraming,
  type CompiledRoute,
  type ResponseBodyKind,
} from '@pillion/core';
import { Action, type FilterChain, type FilterChainState, type FilterRequest } from '../wasm/index.js';
import type { HttpConnection, UpstreamExchange } from '../upstream/http-connection.js';
import type { ClusterRuntime, PickRequest, UpstreamEndpoint, UpstreamResult } from './cluster-runtime.js';
import type { Downstream } from './downstream.js';
import type { HttpListener } from './http-listener.js';
import { ChunkPool } from './chunk-pool.js';
import { BREAKER_ADMIT, BREAKER_PROBE, BREAKER_REJECT, failureBreakerOf } from './failure-breaker.js';
import { writeLocalReply } from './local-reply.js';

const enum Phase {
  /** Waiting for an upstream connection (or for a retry's backoff). */
  Connecting,
  /** Request head sent; streaming the request body and/or waiting for the response head. */
  Requesting,
  /** Response head received; streaming the body down. */
  Responding,
  Done,
}

type BreakerLimit = 'max_connections' | 'max_pending_requests' | 'max_requests' | 'max_retries' | 'failure_rate';

const VIA = '1.1 pillion';
const NO_BYTES = Buffer.alloc(0);
const OVERLOADED = ['x-pillion-overloaded', 'true'] as const;

const EMPTY = new Uint8Array(0);

const chunkPool = new ChunkPool();
const releaseChunk = chunkPool.release.bind(chunkPool);

/** Copies a chunk out of uWS's memory (neutered when the callback returns) without zero-filling first. */
function copyOut(ab: ArrayBuffer): Buffer {
  const buf = Buffer.allocUnsafe(ab.byteLength);
  buf.set(new Uint8Array(ab));
  return buf;
}

/**
 * Refusals of malformed requests are written from the next turn of the event loop, not from the
 * request handler. uWS goes on parsing the connection's buffered bytes after the handler returns: a
 * reply ended there lets it hand the bytes after the refused request to the handler as a new request
 * (a smuggled one). While the refusal is still pending, uWS instead treats such bytes as a pipelined
 * request and closes the connection, so they are never read as a request.
 */
function sendRefusal(x: ProxyExchange): void {
  x.writeRefusal();
}

/**
 * On a codec that cannot pipeline (uWS closes the connection and aborts the pending response when
 * another request follows on it), the first attempt starts from the next turn: a request pipelined in
 * the same read aborts this one before anything of it was sent upstream, so it is never half-served.
 */
function startDeferred(x: ProxyExchange): void {
  x.startDeferred();
}

/** A reply recorded by a filter (FilterRequest.sendLocalReply). */
interface FilterReply {
  status: number;
  body: string;
  headers: HeaderList | null;
}

export class ProxyExchange implements UpstreamExchange, PickRequest, FilterRequest {
  private readonly listener: HttpListener;
  private readonly res: Downstream;
  private readonly start: number;
  private phase = Phase.Connecting;
  private aborted = false;
  readonly method: string;
  private readonly target: string;
  readonly headers: HeaderList;
  lbScratch: unknown = null;
  clientAddress = '';
  private framing: BodyFraming = { kind: 'none', length: 0 };
  private route: CompiledRoute | null = null;
  private cluster: ClusterRuntime | null = null;
  private endpoint: UpstreamEndpoint | null = null;
  private conn: HttpConnection | null = null;
  private timer: NodeJS.Timeout | null = null;
  private status = 0;
  private requestId = '';
  private upstreamTarget = '';
  private bytesIn = 0;
  private bytesOut = 0;
  /** The cluster's rq_active was taken for this request (released in finish). */
  private holdsRequest = false;

  // Filters (FilterRequest). `path` is the request target with its query; filters may rewrite it.
  private readonly chain: FilterChain | null;
  filterState: FilterChainState | null = null;
  path: string;
  private filterReply: FilterReply | null = null;
  private clusterOverride: string | null = null;
  /** A filter asked for the whole request (or response) body before deciding. */
  private bufferRequest = false;
  private bufferResponse = false;
  private responseBuffer: Buffer[] | null = null;

  // Attempts and retries.
  private attempt = 0;
  /** The failure-rate breaker's admission for this attempt (ADMIT, PROBE), 0 once recorded. */
  private breakerVerdict = 0;
  /** Picks made so far: successive picks walk on to endpoints not tried yet. */
  private picks = 0;
  private hasBody = false;
  private attemptTimer: NodeJS.Timeout | null = null;
  /** A retry holds a place in the cluster's rq_retry_active until its attempt ends. */
  private holdsRetry = false;
  /** At least one byte of this attempt's request reached the upstream socket. */
  private requestWritten = false;

  // Request body. `replay` keeps every chunk while the body fits the replay buffer (so a retry can
  // send it again); `pendingBody` holds chunks that arrived while no connection was ready.
  private pendingBody: Buffer[] | null = null;
  private replay: Buffer[] | null = null;
  private replayBytes = 0;
  private replayable = true;
  private requestEnded = true;
  private requestPaused = false;

  // Response: the head waits for the first body chunk so head and body leave in one write.
  private headPending = false;
  private headSent = false;
  private respHeaders: HeaderList | null = null;
  private respStatusLine = '';
  private respBodyKind: ResponseBodyKind = 'none';
  private respLength = -1;
  /** The upstream head held bytes >= 0x80: relay those values as the exact latin1 bytes received. */
  private respNonAscii = false;
  /** A body chunk uWS could not take yet (tryEnd backpressure) and where its first byte sits. */
  private stalled: Buffer | null = null;
  private stalledAt = 0;
  private readonly boundFlush: () => void;
  private flushChunk: Buffer = NO_BYTES;
  private flushEnd = false;
  /** A refusal waiting for the next turn (see sendRefusal). */
  private refusalStatus = 0;
  private refusalDetail: string | undefined = undefined;

  /**
   * Takes over a request whose head the codec has read: `target` is the request target as sent (path
   * and query), `headers` the fields with lower-case names, `versionMinor` 1 or 0 for HTTP/1.x.
   */
  constructor(listener: HttpListener, res: Downstream, method: string, target: string, headers: HeaderList, versionMinor: number) {
    this.listener = listener;
    this.res = res;
    this.start = performance.now();
    this.boundFlush = this.flushCorked.bind(this);
    listener.active++;
    listener.stats.listener(listener.slot, 'downstream_cx_total', 1);
    listener.stats.listener(listener.slot, 'downstream_cx_active', 1);

    this.method = method;
    this.target = target;
    this.headers = headers;
    res.onAborted(this.onAborted.bind(this));

    const verdict = checkRequest(this.method, this.target, this.headers, versionMinor, listener.requestLimits);
    this.path = this.target;
    this.chain = listener.filterChain;
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
    const hasBody = this.framing.kind !== 'none' && !(this.framing.kind === 'length' && this.framing.length === 0);

    if (this.chain !== null) {
      const action = this.chain.onRequestHeaders(this);
      if (action === Action.LocalReply) {
        this.sendFilterReply(true);
        return;
      }
      if (action === Action.Buffer) {
        if (!hasBody) {
          if (this.chain.onRequestBody(this, EMPTY, true) === Action.LocalReply) {
            this.sendFilterReply(true);
            return;
          }
        } else this.bufferRequest = true;
      }
    }
    // Filters may have rewritten the path.
    const q = this.path.indexOf('?');
    const routePath = q === -1 ? this.path : this.path.slice(0, q);
    const routeQuery = q === -1 ? '' : this.path.slice(q + 1);

    const host = this.headers.get('host') ?? '';
    const route = listener.routes.match({ method: this.method, path: routePath, host, headers: this.headers });
    if (route === null) {
      this.localReply(404, undefined, false);
      return;
    }
    this.route = route;
    const clusterName = this.clusterOverride ?? pickCluster(route, route.clusters.length > 1 ? Math.random() : 0);
    const cluster = listener.runtime.cluster(clusterName);
    if (!cluster) {
      this.localReply(503, `no cluster ${clusterName}`, false);
      return;
    }
    this.cluster = cluster;

    if (hasBody) {
      this.hasBody = true;
      this.requestEnded = false;
      this.pendingBody = [];
      if (route.retryOn !== null) this.replay = [];
      res.onData(this.onRequestData.bind(this));
    }

    this.prepareHeaders(host, rewritePath(route, routePath), routeQuery);
    const timeout = route.config.timeout ?? listener.config.timeouts.request;
    if (timeout > 0) this.timer = setTimeout(this.onTimeout.bind(this), timeout);

    // The max_requests breaker counts requests in flight on the cluster across every worker.
    const state = listener.runtime.state;
    this.holdsRequest = true;
    if (state.addCluster(cluster.slot, 'rq_active', 1) >= cluster.snapshot.config.circuit_breaker.max_requests) {
      this.overloaded('max_requests');
      return;
    }
    // A filter that wants the whole body decides before anything goes upstream.
    if (this.bufferRequest) return;
    // Requests with a body start at once: their body chunks arrive through onData meanwhile.
    if (listener.deferForward && !hasBody) setImmediate(startDeferred, this);
    else this.startAttempt();
  }

  // ------------------------------------------------------------------ FilterRequest

  get authority(): string {
    return this.headers.get('host') ?? '';
  }
  get requestHeaders(): HeaderList {
    return this.headers;
  }
  get responseHeaders(): HeaderList | null {
    return this.respHeaders;
  }
  get responseStatus(): number {
    return this.status;
  }
  sendLocalReply(status: number, body: string, headers?: HeaderList): void {
    this.filterReply = { status, body, headers: headers ?? null };
  }
  setCluster(name: string): void {
    this.clusterOverride = name;
  }

  /**
   * Answers with the reply a filter recorded. For a reply made in the request phase, filters first see
   * it as the response (so they can decorate it), as they would an upstream's.
   */
  private sendFilterReply(requestPhase: boolean): void {
    if (this.aborted || this.phase === Phase.Done) return;
    let reply = this.filterReply ?? { status: 500, body: 'filter error\n', headers: null };
    if (requestPhase && this.chain !== null) {
      this.status = reply.status;
      this.respHeaders = reply.headers ?? new HeaderList();
      reply.headers = this.respHeaders;
      this.chain.onResponseHeaders(this);
      reply = this.filterReply ?? reply;
    }
    this.endAttempt();
    this.status = reply.status;
    this.listener.stats.listener(this.listener.slot, 'local_replies', 1);
    const res = this.res;
    res.cork(() => {
      res.writeStatus(`${reply.status} ${canonicalReason(reply.status)}`);
      const h = reply.headers;
      if (h === null || !h.has('server')) res.writeHeader('server', 'pillion');
      if (h !== null) {
        const raw = h.raw;
        for (let i = 0; i < raw.length; i += 2) {
          const name = raw[i]!;
          if (name !== 'content-length' && name !== 'transfer-encoding' && name !== 'date') res.writeHeader(name, raw[i + 1]!);
        }
      }
      res.end(reply.body, this.listener.draining);
    });
    this.finish();
  }

  // ------------------------------------------------------------------ request side

  private prepareHeaders(host: string, path: string, query: string): void {
    const h = this.headers;
    const route = this.route!;
    this.upstreamTarget = query ? `${path}?${query}` : path;
    stripHopByHop(h);
    this.clientAddress = this.listener.clientAddress(this.res);
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

  startDeferred(): void {
    if (this.phase === Phase.Done) return;
    this.startAttempt();
  }

  /** Picks an endpoint (walking past ones whose request breaker is full) and asks its pool for a connection. */
  private startAttempt(): void {
    // A reload or an endpoint change since the request arrived (the first attempt starts a turn later,
    // a retry after its backoff) replaced the cluster's runtime and retired the pools of endpoints that
    // left: pick from the one in service, or the attempt could wait on a retired pool forever.
    let cluster = this.cluster!;
    const current = this.listener.runtime.cluster(cluster.name);
    if (current !== undefined && current !== cluster && current.slot === cluster.slot) this.cluster = cluster = current;
    const state = this.listener.runtime.state;
    const perEndpointMax = cluster.snapshot.config.circuit_breaker.per_endpoint.max_requests;
    const breaker = failureBreakerOf(cluster);
    const tries = Math.max(1, cluster.endpoints.length);
    let endpoint: UpstreamEndpoint | null = null;
    // Walk past endpoints whose failure-rate breaker is open or whose request limit is full.
    let refused: BreakerLimit | null = null;
    for (let i = 0; i < tries; i++) {
      const e = cluster.pick(this, this.picks++);
      if (e === null) break;
      if (perEndpointMax !== undefined && state.addEndpoint(e.slot, 'rq_active', 1) >= perEndpointMax) {
        state.addEndpoint(e.slot, 'rq_active', -1);
        refused = 'max_requests';
        continue;
      }
      const verdict = breaker === null ? BREAKER_ADMIT : breaker.acquire(e.slot);
      if (verdict === BREAKER_REJECT) {
        if (perEndpointMax !== undefined) state.addEndpoint(e.slot, 'rq_active', -1);
        refused = 'failure_rate';
        continue;
      }
      if (perEndpointMax === undefined) state.addEndpoint(e.slot, 'rq_active', 1);
      this.breakerVerdict = breaker === null ? 0 : verdict;
      endpoint = e;
      break;
    }
    if (endpoint === null) {
      if (refused !== null) this.overloaded(refused);
      else this.localReply(503, undefined, false);
      return;
    }
    this.endpoint = endpoint;
    this.requestWritten = false;
    this.listener.stats.endpoint(endpoint.slot, 'requests', 1);
    const perTry = this.route!.config.retry?.per_try_timeout;
    if (perTry !== undefined && perTry > 0) this.attemptTimer = setTimeout(this.onAttemptTimeout.bind(this), perTry);
    const full = endpoint.pool.acquire(this, this.method === 'HEAD');
    if (full !== null) this.overloaded(full);
  }

  onConnection(conn: HttpConnection): void {
    if (this.phase === Phase.Done || this.endpoint === null || conn.pool !== this.endpoint.pool) {
      // Gave up while waiting (abort, timeout, retry elsewhere): nothing was written, so it stays clean.
      conn.pool.release(conn);
      return;
    }
    if (this.attempt > 0 && this.hasBody && this.replay === null) {
      // The body outgrew the replay buffer while this retry waited: it can no longer be sent whole.
      conn.pool.release(conn);
      this.endAttempt();
      this.res.cork(() => this.localReply(502, 'request body outgrew the retry buffer', false));
      return;
    }
    this.conn = conn;
    this.phase = Phase.Requesting;
    this.requestWritten = true;
    const head = serializeRequestHead(this.method, this.upstreamTarget, this.headers, this.framing);
    // A retry sends the whole body kept so far; a first attempt sends what arrived while connecting.
    const body = this.attempt > 0 ? this.replay : this.pendingBody;
    this.pendingBody = this.requestEnded ? null : [];
    if (body === null || body.length === 0) {
      conn.write(this.requestEnded && this.framing.kind === 'chunked' ? head + LAST_CHUNK : head);
    } else {
      conn.socket.cork();
      conn.write(head);
      for (const chunk of body) this.writeBody(chunk);
      if (this.requestEnded && this.framing.kind === 'chunked') conn.write(LAST_CHUNK);
      conn.socket.uncork();
    }
    if (!this.requestEnded && this.requestPaused && conn.socket.writableNeedDrain === false) {
      this.requestPaused = false;
      this.res.resume();
    }
  }

  private onRequestData(ab: ArrayBuffer | Buffer, isLast: boolean): void {
    // uWS neuters the ArrayBuffer when this returns: copy what must outlive the call. A Buffer is ours.
    const n = ab.byteLength;
    this.bytesIn += n;
    const max = this.listener.maxBodyBytes;
    if (max > 0 && this.bytesIn > max) {
      this.failRequestBody();
      return;
    }
    if (isLast) this.requestEnded = true;
    if (this.phase === Phase.Done) return;
    // Chunks that may be needed again (replay for a retry, held for a filter) get their own memory;
    // the rest use pooled memory, given back once written.
    const pooled = this.replay === null && !this.bufferRequest;
    const chunk = n === 0 ? NO_BYTES : ab instanceof ArrayBuffer ? (pooled ? chunkPool.copy(ab) : copyOut(ab)) : ab;
    if (this.chain !== null && this.requestBodyFiltered(chunk, isLast)) return;
    if (n && this.replay !== null) {
      this.replayBytes += n;
      if (this.replayBytes <= this.route!.config.retry!.replay_buffer) this.replay.push(chunk);
      else {
        // Too big to send twice: this request will not be retried once it reaches an upstream.
        this.replay = null;
        this.replayable = false;
      }
    }
    const conn = this.conn;
    if (conn === null) {
      if (n && this.pendingBody !== null) this.pendingBody.push(chunk);
      // Hold the client back while we wait for a connection rather than buffer without bound.
      if (!isLast && !this.requestPaused) {
        this.requestPaused = true;
        this.res.pause();
      }
      return;
    }
    let ok = true;
    if (n) ok = this.writeBody(chunk);
    if (isLast && this.framing.kind === 'chunked') ok = conn.write(LAST_CHUNK);
    if (!ok && !isLast && !this.requestPaused) {
      this.requestPaused = true;
      this.res.pause();
    }
  }

  /**
   * Runs the request-body hooks on a chunk; returns true when the chunk is dealt with here (buffered
   * for a filter that wants the whole body, or the request was answered).
   */
  private requestBodyFiltered(chunk: Buffer, isLast: boolean): boolean {
    const chain = this.chain!;
    if (this.bufferRequest) {
      this.pendingBody!.push(chunk);
      if (!isLast) return true;
      // The whole body: let the filter decide, then send it all.
      const whole = this.pendingBody!.length === 1 ? this.pendingBody![0]! : Buffer.concat(this.pendingBody!);
      if (chain.onRequestBody(this, whole, true) === Action.LocalReply) {
        this.res.cork(() => this.sendFilterReply(true));
        return true;
      }
      this.bufferRequest = false;
      if (this.replay !== null) {
        if (whole.length <= this.route!.config.retry!.replay_buffer) this.replay.push(whole);
        else {
          this.replay = null;
          this.replayable = false;
        }
      }
      this.pendingBody = [whole];
      this.startAttempt();
      return true;
    }
    if (chain.onRequestBody(this, chunk, isLast) === Action.LocalReply) {
      if (this.headSent) this.abortDownstream();
      else this.res.cork(() => this.sendFilterReply(false));
      return true;
    }
    return false;
  }

  private writeBody(chunk: Buffer): boolean {
    const conn = this.conn!;
    this.listener.stats.cluster(this.cluster!.slot, 'upstream_bytes_out', chunk.length);
    const done = this.replay === null ? () => releaseChunk(chunk) : undefined;
    if (this.framing.kind === 'chunked') {
      conn.write(chunkHeader(chunk.length));
      conn.socket.write(chunk, done);
      return conn.write('\r\n');
    }
    return conn.socket.write(chunk, done);
  }

  onUpstreamDrain(): void {
    if (this.requestPaused && this.phase !== Phase.Done) {
      this.requestPaused = false;
      this.res.resume();
    }
  }

  private failRequestBody(): void {
    if (this.headSent) {
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
    this.report(status);
    if (this.route!.retryOn !== null && this.route!.retryOn.covers(status)) {
      const retryAfter = status === 503 || status === 429 ? headers.get('retry-after') : undefined;
      if (this.retry(status, retryAfter)) return;
    }
    this.clearAttemptTimer();
    this.phase = Phase.Responding;
    this.status = status;
    stripHopByHop(headers);
    const edits = this.route!.config.response_headers;
    for (const name of edits.remove) headers.remove(name);
    for (const name in edits.add) headers.set(name, edits.add[name]!);
    this.respHeaders = headers;
    if (this.chain !== null) {
      const action = this.chain.onResponseHeaders(this);
      if (action === Action.LocalReply) {
        this.res.cork(() => this.sendFilterReply(false));
        return;
      }
      if (action === Action.Buffer) {
        this.bufferResponse = true;
        this.responseBuffer = [];
      }
    }
    this.respStatusLine = reason ? `${status} ${reason}` : `${status} `;
    this.respBodyKind = bodyKind;
    this.respLength = contentLength;
    this.respNonAscii = this.conn !== null && this.conn.parser.headHasNonAscii;
    this.headPending = true;
    if (bodyKind === 'none') {
      this.bufferResponse = false;
      if (this.chain !== null && this.chain.onResponseBody(this, EMPTY, true) === Action.LocalReply) {
        this.res.cork(() => this.sendFilterReply(false));
        return;
      }
      this.flushChunk = NO_BYTES;
      this.flushEnd = true;
      this.res.cork(this.boundFlush);
    }
  }

  onResponseBody(chunk: Buffer): void {
    if (this.phase !== Phase.Responding) return;
    if (this.chain !== null) {
      if (this.bufferResponse) {
        // Held for a filter that wants the whole body; the read buffer is reused, so copy.
        this.responseBuffer!.push(Buffer.from(chunk));
        return;
      }
      if (this.chain.onResponseBody(this, chunk, false) === Action.LocalReply) {
        if (this.headSent) this.abortDownstream();
        else this.res.cork(() => this.sendFilterReply(false));
        return;
      }
    }
    this.bytesOut += chunk.length;
    this.flushChunk = chunk;
    this.flushEnd = false;
    this.res.cork(this.boundFlush);
  }

  /** The connection's read ended: send a head still waiting for body bytes. */
  onReadDone(): void {
    if (this.headPending && this.phase === Phase.Responding && !this.bufferResponse) {
      this.flushChunk = NO_BYTES;
      this.flushEnd = false;
      this.res.cork(this.boundFlush);
    }
  }

  onResponseComplete(): void {
    if (this.phase !== Phase.Responding) return;
    this.conn = null;
    if (this.respBodyKind === 'none') return; // already ended in the head flush
    let last: Buffer = NO_BYTES;
    if (this.chain !== null) {
      if (this.bufferResponse) {
        const parts = this.responseBuffer!;
        last = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
        this.responseBuffer = null;
        this.bufferResponse = false;
        this.bytesOut += last.length;
      }
      if (this.chain.onResponseBody(this, last, true) === Action.LocalReply) {
        if (this.headSent) this.abortDownstream();
        else this.res.cork(() => this.sendFilterReply(false));
        return;
      }
    }
    this.flushChunk = last;
    this.flushEnd = true;
    this.res.cork(this.boundFlush);
  }

  /** Runs inside res.cork: writes the pending head, then flushChunk, then ends when flushEnd. */
  private flushCorked(): void {
    if (this.aborted) return;
    const res = this.res;
    if (this.headPending) {
      this.headPending = false;
      this.headSent = true;
      res.writeStatus(this.respStatusLine);
      const raw = this.respHeaders!.raw;
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i]!;
        // uWS writes its own framing and Date; passing the upstream's would duplicate them.
        if (name === 'content-length' || name === 'date' || name === 'transfer-encoding') continue;
        const value = raw[i + 1]!;
        res.writeHeader(name, this.respNonAscii ? Buffer.from(value, 'latin1') : value);
      }
      if (this.respBodyKind === 'none') {
        // The length a HEAD or 304 reports is written as a field: uWS's endWithoutBody(length) leaves the
        // response pending, and the next request on the connection then closes it.
        if (this.respLength >= 0 && this.status !== 204) res.writeHeader('content-length', String(this.respLength));
        res.endWithoutBody();
        this.finish();
        return;
      }
    }
    const chunk = this.flushChunk;
    this.flushChunk = NO_BYTES;
    if (this.respBodyKind === 'length') {
      if (this.stalled !== null) {
        // Still waiting for onWritable; keep order by queueing behind the stalled bytes. (The upstream is
        // paused, so this is at most the rest of the read that was being parsed.)
        if (chunk.length) this.stalled = Buffer.concat([this.stalled, chunk]);
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
        // The chunk is a view of the connection's read buffer, which the next read overwrites: copy it.
        this.stalled = Buffer.from(chunk);
        this.stalledAt = at;
        this.conn?.pause();
        res.onWritable(this.onWritable.bind(this));
        return; // a completion that arrives meanwhile finishes from onWritable
      }
      // The upstream said complete but uWS has not seen the declared length: never present it as whole.
      if (this.flushEnd) this.abortDownstream();
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
    this.stalledAt = offset;
    return false;
  }

  private onWritableChunked(): boolean {
    this.conn?.resume();
    return true;
  }

  // ------------------------------------------------------------------ failures and retries

  onConnectFailure(reason: string): void {
    if (this.phase === Phase.Done) return;
    this.report('connect-failure');
    if (this.retry('connect-failure', undefined)) return;
    this.dropUpstream();
    this.res.cork(() => this.localReply(503, `upstream connect failure: ${reason}`, false));
  }

  onUpstreamError(kind: 'reset' | 'invalid', detail: string): void {
    if (this.phase === Phase.Done) return;
    this.conn = null;
    this.listener.stats.cluster(this.cluster!.slot, 'upstream_resets', 1);
    if (this.headSent) {
      this.abortDownstream();
      return;
    }
    this.report('reset');
    if (this.retry('reset', undefined)) return;
    this.res.cork(() => this.localReply(502, kind === 'invalid' ? detail : 'upstream reset before response', false));
  }

  private onAttemptTimeout(): void {
    this.attemptTimer = null;
    if (this.phase === Phase.Done || this.headSent) return;
    this.listener.stats.cluster(this.cluster!.slot, 'upstream_timeouts', 1);
    this.report('timeout');
    if (this.retry('timeout', undefined)) return;
    this.dropUpstream();
    this.res.cork(() => this.localReply(504, 'per-try timeout', false));
  }

  private onTimeout(): void {
    this.timer = null;
    if (this.phase === Phase.Done) return;
    this.listener.stats.cluster(this.cluster!.slot, 'upstream_timeouts', 1);
    if (this.headSent) {
      this.abortDownstream();
      return;
    }
    if (this.phase !== Phase.Responding && this.endpoint !== null) this.report('timeout');
    this.dropUpstream();
    this.res.cork(() => this.localReply(504, undefined, false));
  }

  /**
   * Schedules another attempt after a failed one, when everything allows it: the route's policy
   * (conditions, attempts left, method and replayable body), the cluster's retry budget and its
   * max_retries breaker. Returns false when the failure must be answered instead.
   */
  private retry(outcome: UpstreamResult, retryAfter: string | undefined): boolean {
    const route = this.route!;
    const policy = route.config.retry;
    if (route.retryOn === null || policy === undefined || this.attempt >= policy.attempts || this.headSent) return false;
    const reached = this.requestWritten;
    if (!shouldRetry(route.retryOn, { outcome, method: this.method, requestReachedUpstream: reached, bodyReplayable: this.replayable || !reached })) return false;
    // A retry of a request that never reached the upstream resends nothing, but one that did needs the
    // whole body, which must still be complete in the replay buffer.
    if (reached && this.hasBody && (this.replay === null || !this.replayable)) return false;
    const cluster = this.cluster!;
    const state = this.listener.runtime.state;
    this.releaseRetry();
    const active = state.cluster(cluster.slot, 'rq_active');
    const inFlight = state.cluster(cluster.slot, 'rq_retry_active');
    if (!retryBudgetAllows(active, inFlight, policy.budget_percent, policy.min_retry_concurrency)) {
      this.listener.stats.cluster(cluster.slot, 'retry_budget_exhausted', 1);
      return false;
    }
    if (state.addCluster(cluster.slot, 'rq_retry_active', 1) >= cluster.snapshot.config.circuit_breaker.max_retries) {
      state.addCluster(cluster.slot, 'rq_retry_active', -1);
      this.listener.stats.cluster(cluster.slot, 'cb_reject_max_retries', 1);
      return false;
    }
    this.holdsRetry = true;
    this.listener.stats.cluster(cluster.slot, 'retries', 1);
    this.endAttempt();
    this.phase = Phase.Connecting;
    const delay = retryDelay(
      { baseMs: policy.backoff.base, maxMs: policy.backoff.max, retryAfterMaxMs: policy.backoff.retry_after_max },
      this.attempt,
      Math.random(),
      retryAfter,
      Date.now(),
    );
    this.attempt++;
    this.attemptTimer = setTimeout(this.onRetryDue.bind(this), delay);
    return true;
  }

  private onRetryDue(): void {
    this.attemptTimer = null;
    if (this.phase === Phase.Done) return;
    this.startAttempt();
  }

  /** Lets go of the current attempt: its connection (never pooled mid-message) and its endpoint. */
  private endAttempt(): void {
    this.clearAttemptTimer();
    this.dropUpstream();
    this.releaseProbe();
    if (this.endpoint !== null) {
      this.listener.runtime.state.addEndpoint(this.endpoint.slot, 'rq_active', -1);
      this.endpoint = null;
    }
  }

  /** A half-open probe that ended without a verdict (client gone) frees its place for another. */
  private releaseProbe(): void {
    if (this.breakerVerdict === BREAKER_PROBE && this.endpoint !== null) failureBreakerOf(this.cluster!)!.releaseProbe(this.endpoint.slot);
    this.breakerVerdict = 0;
  }

  private releaseRetry(): void {
    if (this.holdsRetry) {
      this.holdsRetry = false;
      this.listener.runtime.state.addCluster(this.cluster!.slot, 'rq_retry_active', -1);
    }
  }

  private clearAttemptTimer(): void {
    if (this.attemptTimer !== null) {
      clearTimeout(this.attemptTimer);
      this.attemptTimer = null;
    }
  }

  private onAborted(): void {
    this.aborted = true;
    if (this.phase === Phase.Done) return;
    const l = this.listener;
    l.stats.listener(l.slot, 'downstream_aborted', 1);
    if (this.requestWritten) l.stats.listener(l.slot, 'downstream_aborted_forwarded', 1);
    this.dropUpstream();
    this.finish();
  }

  /** Tells the cluster how the attempt on the current endpoint ended (passive health). */
  private report(result: UpstreamResult): void {
    if (this.endpoint === null) return;
    this.cluster!.onResult(this.endpoint, result);
    if (this.breakerVerdict !== 0) {
      failureBreakerOf(this.cluster!)!.record(this.endpoint.slot, typeof result === 'number' && result < 500, this.breakerVerdict === BREAKER_PROBE);
      this.breakerVerdict = 0;
    }
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

  /** 503 from a circuit breaker: says so in a header and counts which limit. */
  private overloaded(limit: BreakerLimit): void {
    const stats = this.listener.stats;
    if (limit === 'max_requests') stats.cluster(this.cluster!.slot, 'cb_reject_max_requests', 1);
    else if (limit === 'failure_rate') stats.cluster(this.cluster!.slot, 'cb_reject_failure_rate', 1);
    this.endAttempt();
    if (this.aborted || this.phase === Phase.Done) return;
    this.status = 503;
    stats.listener(this.listener.slot, 'local_replies', 1);
    this.res.cork(() => writeLocalReply(this.res, 503, `circuit breaker open (${limit})`, this.listener.draining, OVERLOADED));
    this.finish();
  }

  /**
   * A reply the proxy makes itself. `close` marks a refusal of a request whose framing cannot be
   * trusted: it is answered with `connection: close` from the next turn (see sendRefusal) and nothing
   * the client sent after it is read.
   */
  private localReply(status: number, detail: string | undefined, close: boolean): void {
    if (this.aborted || this.phase === Phase.Done) return;
    this.status = status;
    this.listener.stats.listener(this.listener.slot, 'local_replies', 1);
    if (close) {
      this.listener.stats.listener(this.listener.slot, 'refused_requests', 1);
      this.refusalStatus = status;
      this.refusalDetail = detail;
      setImmediate(sendRefusal, this);
    } else writeLocalReply(this.res, status, detail, this.listener.draining);
    this.finish();
  }

  /** Writes a refusal held back by localReply, unless the client went away (or pipelined) meanwhile. */
  writeRefusal(): void {
    if (this.aborted) {
      this.listener.stats.listener(this.listener.slot, 'refusals_unsent', 1);
      return;
    }
    this.res.cork(() => writeLocalReply(this.res, this.refusalStatus, this.refusalDetail, true));
  }

  /** Counts and logs the exchange, once. */
  private finish(): void {
    if (this.phase === Phase.Done) return;
    this.phase = Phase.Done;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.clearAttemptTimer();
    const l = this.listener;
    const state = l.runtime.state;
    const seconds = (performance.now() - this.start) / 1000;
    const cluster = this.cluster;
    l.stats.request(l.slot, cluster ? cluster.slot : -1, this.aborted && this.status === 0 ? 0 : codeClass(this.status), seconds);
    l.stats.listener(l.slot, 'downstream_cx_active', -1);
    l.stats.listener(l.slot, 'downstream_bytes_in', this.bytesIn);
    l.stats.listener(l.slot, 'downstream_bytes_out', this.bytesOut);
    const upstreamKey = this.endpoint?.key;
    this.releaseProbe();
    if (this.endpoint !== null) {
      state.addEndpoint(this.endpoint.slot, 'rq_active', -1);
      this.endpoint = null;
    }
    if (cluster !== null) {
      if (this.holdsRequest) state.addCluster(cluster.slot, 'rq_active', -1);
      this.releaseRetry();
      l.stats.cluster(cluster.slot, 'upstream_bytes_in', this.bytesOut);
    }
    if (l.accessLog !== null && (l.accessSample >= 1 || Math.random() < l.accessSample)) {
      l.accessLog.info({
        listener: l.config.name,
        method: this.method,
        path: this.target,
        status: this.status,
        aborted: this.aborted || undefined,
        cluster: cluster?.name,
        upstream: upstreamKey,
        attempts: this.attempt + 1,
        duration_ms: Math.round(seconds * 1e6) / 1000,
        bytes_in: this.bytesIn,
        bytes_out: this.bytesOut,
        request_id: this.requestId || undefined,
        client: this.clientAddress || undefined,
      });
    }
    if (this.chain !== null) this.chain.onLog(this);
    l.exchangeDone();
  }
}
