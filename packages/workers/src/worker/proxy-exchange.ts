/**
 * One request through the proxy, from the request head a codec hands over to the end of the
 * upstream's response: admit → filters → route → (breakers) → pick an endpoint → get a pooled
 * connection → stream the request up and the response down → count and log. A failed attempt may be
 * retried on another endpoint, after a backoff, when the route's retry policy, the cluster's retry
 * budget and its max_retries breaker all allow it. Once the response has started, a failure aborts
 * the downstream connection rather than presenting a truncated body as complete.
 *
 * This file is the phase machine; each seam has its own: intake.ts (admission and routing),
 * forward-headers.ts, upstream-attempts.ts (the upstream side: endpoint-pick.ts, retries.ts),
 * request-body.ts (replay buffer, backpressure), response-relay.ts, local-reply.ts, exchange-log.ts,
 * filtered-request.ts (what filters see).
 */
import {
  GRPC_STATUS_STATS,
  HeaderList,
  isGrpcContentType,
  parseGrpcTimeout,
  type BodyFraming,
  type BreakerLimit,
  type CompiledRoute,
  type ResponseBodyKind,
} from '@pillion/core';
import type { ExchangeTrace } from '../tracing/exchange-trace.js';
import { Action, type FilterChain } from '../wasm/index.js';
import type { ClusterRuntime } from './cluster-runtime.js';
import type { Downstream } from './downstream.js';
import { accessLogged, countExchange, writeAccessLog } from './exchange-log.js';
import { FilteredRequest } from './filtered-request.js';
import { forwardRequestHeaders, forwardResponseHeaders } from './forward-headers.js';
import type { HttpListener } from './http-listener.js';
import { admit, H2_NO_BODY, isRefusal, routeRequest } from './intake.js';
import { grpcStatusOf, writeFilterReply, writeGrpcReply, writeLocalReply } from './local-reply.js';
import { RequestBody, type UpstreamHead } from './request-body.js';
import { ResponseRelay, type RelayOwner } from './response-relay.js';
import { UpstreamAttempts, type AttemptOwner } from './upstream-attempts.js';

const enum Phase {
  /** Before the response head: attempts (connecting, sending the request, backing off) are under way. */
  Waiting,
  /** Response head received; streaming the body down. */
  Responding,
  Done,
}

const NO_BYTES = Buffer.alloc(0);
const NO_BODY: BodyFraming = Object.freeze({ kind: 'none', length: 0 });
const NO_HEAD: UpstreamHead = Object.freeze({ method: '', target: '', headers: new HeaderList() });
const OVERLOADED = ['x-pillion-overloaded', 'true'] as const;

/**
 * On a codec that cannot pipeline (uWS closes the connection and aborts the pending response when
 * another request follows on it), the first attempt starts from the next turn: a request pipelined in
 * the same read aborts this one before anything of it was sent upstream, so it is never half-served.
 */
function startDeferred(x: ProxyExchange): void {
  if (!x.finished) x.upstream!.start();
}

export class ProxyExchange extends FilteredRequest implements AttemptOwner, RelayOwner {
  private readonly listener: HttpListener;
  private readonly res: Downstream;
  private readonly start: number;
  private phase = Phase.Waiting;
  aborted = false;
  private readonly target: string;
  private route: CompiledRoute | null = null;
  /** The statistics slot of the matched route, taken with it (a reload may renumber routes); -1: none. */
  private routeSlot = -1;
  private cluster: ClusterRuntime | null = null;
  upstream: UpstreamAttempts | null = null;
  body: RequestBody | null = null;
  private relay: ResponseRelay | null = null;
  private timer: NodeJS.Timeout | null = null;
  private requestId = '';
  /** The request as it goes upstream: method, rewritten target, forwarded fields. */
  upstreamHead: UpstreamHead = NO_HEAD;
  framing: BodyFraming = NO_BODY;
  private bytesIn = 0;
  private bytesOut = 0;
  /** The cluster's rq_active was taken for this request (released in finish). */
  private holdsRequest = false;
  /** A gRPC request (HTTP/2, content-type application/grpc): the proxy's own answers are gRPC statuses. */
  private readonly grpc: boolean;
  /** The grpc-status the client got (from the upstream's trailers or head, or the proxy's answer); -1: none yet. */
  private grpcStatus = -1;
  /** The upstream response's trailers, relayed when its body ends. */
  private trailers: HeaderList | null = null;

  private readonly chain: FilterChain | null;
  /** A filter asked for the whole request (or response) body before deciding: the chain holds it. */
  private bufferRequest = false;
  private bufferResponse = false;
  /** This request's spans; null when the listener does not trace. */
  readonly trace: ExchangeTrace | null;
  /** HTTP/1.0 or 1.1 (not HTTP/2): a drain closes its connection after the response. */
  private readonly http1: boolean;

  /**
   * Takes over a request whose head the codec has read: `target` is the request target as sent (path
   * and query), `headers` the fields with lower-case names, `versionMinor` 1 or 0 for HTTP/1.x.
   */
  constructor(listener: HttpListener, res: Downstream, method: string, target: string, headers: HeaderList, versionMinor: number) {
    super(method, headers, target, listener.clientAddress(res), listener.clientIdentity(res));
    this.listener = listener;
    this.res = res;
    this.start = performance.now();
    listener.active++;
    listener.stats.listener(listener.slot, 'downstream_cx_total', 1);
    listener.stats.listener(listener.slot, 'downstream_cx_active', 1);
    this.target = target;
    this.chain = listener.filterChain;
    res.onAborted(this.onAborted.bind(this));
    // gRPC runs over HTTP/2 only: HTTP/1.x requests skip the look at content-type.
    this.grpc = versionMinor >= H2_NO_BODY && isGrpcContentType(headers.get('content-type'));
    this.http1 = versionMinor === 0 || versionMinor === 1;
    const tracing = listener.tracing;
    this.trace = tracing === null ? null : tracing.begin(headers, this.start);

    const framing = admit(listener, method, target, headers, versionMinor);
    if (isRefusal(framing)) {
      this.localReply(framing.status, framing.detail, true);
      return;
    }
    const hasBody = framing.kind !== 'none' && !(framing.kind === 'length' && framing.length === 0);
    if (this.chain !== null && !this.requestHeadersFiltered(hasBody)) return;

    if (this.chain !== null && this.trace !== null) this.trace.filterVerdict = this.clusterOverride !== null ? 'cluster_override' : 'continue';
    const choice = routeRequest(listener, method, this.path, headers, this.clusterOverride, this.peer === null ? null : this.peer.name);
    if (isRefusal(choice)) {
      this.localReply(choice.status, choice.detail, false);
      return;
    }
    const route = (this.route = choice.route);
    this.routeSlot = listener.routeSlots[route.index] ?? -1;
    const cluster = (this.cluster = choice.cluster);
    this.framing = framing;
    if (hasBody) {
      const replayLimit = route.retryOn !== null ? route.config.retry!.replay_buffer : -1;
      this.body = new RequestBody(res, listener.stats, cluster.slot, framing, replayLimit);
      res.onData(this.onRequestData.bind(this));
    }
    this.upstreamHead = { method, target: choice.target, headers };
    this.requestId = forwardRequestHeaders(headers, route, this.clientAddress, headers.get('host') ?? '', listener, this.peer, versionMinor >= H2_NO_BODY);
    const upstream = (this.upstream = new UpstreamAttempts(this, listener.runtime, route, cluster, method, headers, this.clientAddress));
    let timeout = route.config.timeout ?? listener.config.timeouts.request;
    if (this.grpc) {
      // The client's deadline bounds the route's timeout (never extends it).
      const deadline = parseGrpcTimeout(headers.get('grpc-timeout'));
      if (deadline !== undefined && (timeout <= 0 || deadline < timeout)) timeout = deadline;
    }
    if (timeout > 0) this.timer = setTimeout(this.onTimeout.bind(this), timeout);

    // The max_requests breaker counts requests in flight on the cluster across every worker.
    this.holdsRequest = true;
    if (listener.runtime.state.addCluster(cluster.slot, 'rq_active', 1) >= cluster.snapshot.config.circuit_breaker.max_requests) {
      this.overloaded('max_requests');
      return;
    }
    // A filter that wants the whole body decides before anything goes upstream.
    if (this.bufferRequest) return;
    // Requests with a body start at once: their body chunks arrive through onData meanwhile.
    if (listener.deferForward && !hasBody) setImmediate(startDeferred, this);
    else upstream.start();
  }

  // ------------------------------------------------------------------ filters

  /** Runs the request-headers hooks; false when the request was answered. */
  private requestHeadersFiltered(hasBody: boolean): boolean {
    const chain = this.chain!;
    const action = chain.onRequestHeaders(this);
    if (action === Action.Buffer) {
      if (hasBody) this.bufferRequest = true;
      else if (chain.onRequestBody(this, NO_BYTES, true) === Action.LocalReply) {
        this.sendFilterReply(true);
        return false;
      }
    } else if (action === Action.LocalReply) {
      this.sendFilterReply(true);
      return false;
    }
    return true;
  }

  /** Answers with the reply a filter recorded (see filterAnswer). */
  private sendFilterReply(requestPhase: boolean): void {
    if (this.aborted || this.phase === Phase.Done) return;
    const reply = this.filterAnswer(this.chain, requestPhase);
    if (this.trace !== null) this.trace.filterVerdict = 'local_reply';
    this.upstream?.end();
    this.listener.stats.listener(this.listener.slot, 'local_replies', 1);
    this.res.cork(() => writeFilterReply(this.res, reply.status, reply.body, reply.headers, this.closeAfterReply()));
    this.finish();
  }

  /** Answers from a filter's body hook: before the head went out a reply, after it only an abort. */
  private bodyHookReplied(): void {
    if (this.headSent) this.abortDownstream();
    else this.sendFilterReply(this.bufferRequest);
  }

  // ------------------------------------------------------------------ request body

  private onRequestData(ab: ArrayBuffer | Buffer, isLast: boolean): void {
    const n = ab.byteLength;
    this.bytesIn += n;
    const max = this.listener.maxBodyBytes;
    if (max > 0 && this.bytesIn > max) return this.failRequestBody();
    const body = this.body!;
    if (isLast) body.ended = true;
    if (this.phase === Phase.Done) return;
    if (this.bufferRequest) {
      // The chain copies what it withholds (up to the filter's limit): no copy of ours, none kept.
      const action = this.chain!.onRequestBody(this, ab instanceof ArrayBuffer ? new Uint8Array(ab) : ab, isLast);
      if (action === Action.LocalReply) return this.bodyHookReplied();
      if (action === Action.Buffer) return;
      this.bufferRequest = false;
      const whole = this.chain!.takeRequestBody(this);
      body.pushWhole(Buffer.from(whole.buffer, whole.byteOffset, whole.byteLength));
      this.upstream!.start();
      return;
    }
    const chunk = body.own(ab);
    if (this.chain !== null && this.chain.onRequestBody(this, chunk, isLast) === Action.LocalReply) return this.bodyHookReplied();
    body.push(chunk, isLast);
  }

  private failRequestBody(): void {
    if (this.headSent) return this.abortDownstream();
    this.upstream?.drop();
    this.localReply(413, undefined, true);
  }

  // ------------------------------------------------------------------ response (AttemptOwner)

  get finished(): boolean {
    return this.phase === Phase.Done;
  }

  get headSent(): boolean {
    return this.relay !== null && this.relay.headSent;
  }

  onResponse(status: number, reason: string, headers: HeaderList, bodyKind: ResponseBodyKind, length: number, nonAscii: boolean): void {
    this.phase = Phase.Responding;
    this.responseStatus = status;
    if (this.grpc && bodyKind === 'none') this.grpcStatus = grpcStatusOf(headers);
    forwardResponseHeaders(headers, this.route!);
    this.responseHeaders = headers;
    if (this.chain !== null) {
      const action = this.chain.onResponseHeaders(this);
      if (action === Action.LocalReply) return this.responseHookReplied();
      this.bufferResponse = action === Action.Buffer && bodyKind !== 'none';
    }
    const relay = (this.relay = new ResponseRelay(this.res, this));
    relay.begin(status, reason ? `${status} ${reason}` : `${status} `, headers, bodyKind, length, nonAscii);
    if (bodyKind === 'none') {
      if (this.chain !== null && this.chain.onResponseBody(this, NO_BYTES, true) === Action.LocalReply) return this.responseHookReplied();
      if (this.body !== null && !this.body.ended) this.body.discard();
      relay.end();
    }
  }

  onResponseBody(chunk: Buffer): void {
    if (this.phase !== Phase.Responding) return;
    if (this.chain !== null) {
      // Withheld for a filter that wants the whole body: the chain copies it (the read buffer is reused).
      const action = this.chain.onResponseBody(this, chunk, false);
      if (action === Action.LocalReply) return this.responseHookReplied();
      if (action === Action.Buffer) return;
    }
    this.bytesOut += chunk.length;
    this.relay!.send(chunk);
  }

  onResponseTrailers(trailers: HeaderList): void {
    if (this.phase !== Phase.Responding) return;
    this.trailers = trailers;
    if (this.grpc) this.grpcStatus = grpcStatusOf(trailers);
  }

  /** The connection's read ended: send a head still waiting for body bytes. */
  onReadDone(): void {
    if (this.phase === Phase.Responding && !this.bufferResponse) this.relay!.readDone();
  }

  onResponseComplete(): void {
    if (this.phase !== Phase.Responding) return;
    if (this.body !== null && !this.body.ended) this.body.discard();
    const relay = this.relay!;
    if (!relay.hasBody) return; // already ended with the head
    let last: Buffer = NO_BYTES;
    if (this.chain !== null) {
      if (this.chain.onResponseBody(this, NO_BYTES, true) === Action.LocalReply) return this.responseHookReplied();
      if (this.bufferResponse) {
        this.bufferResponse = false;
        const whole = this.chain.takeResponseBody(this);
        last = Buffer.from(whole.buffer, whole.byteOffset, whole.byteLength);
        this.bytesOut += last.length;
      }
    }
    relay.end(last, this.trailers);
  }

  private responseHookReplied(): void {
    if (this.headSent) this.abortDownstream();
    else this.res.cork(() => this.sendFilterReply(false));
  }

  failed(status: number, detail: string | undefined): void {
    this.res.cork(() => this.localReply(status, detail, false));
  }

  // RelayOwner
  get closeAfterResponse(): boolean {
    return this.listener.draining && this.http1;
  }
  relayDone(): void {
    this.finish();
  }
  relayShort(): void {
    this.abortDownstream();
  }
  pauseUpstream(): boolean {
    return this.upstream !== null && this.upstream.pause();
  }
  resumeUpstream(): void {
    this.upstream?.resume();
  }

  // ------------------------------------------------------------------ failures

  private onTimeout(): void {
    this.timer = null;
    if (this.phase === Phase.Done) return;
    this.listener.stats.cluster(this.cluster!.slot, 'upstream_timeouts', 1);
    if (this.headSent) return this.abortDownstream();
    this.upstream!.timedOut(this.phase === Phase.Responding);
    this.failed(504, undefined);
  }

  private onAborted(): void {
    this.aborted = true;
    if (this.phase === Phase.Done) return;
    const l = this.listener;
    l.stats.listener(l.slot, 'downstream_aborted', 1);
    if (this.upstream !== null && this.upstream.requestWritten) l.stats.listener(l.slot, 'downstream_aborted_forwarded', 1);
    this.upstream?.drop();
    this.finish();
  }

  abortDownstream(): void {
    this.upstream?.drop();
    if (!this.aborted) {
      this.aborted = true;
      this.res.close();
    }
    this.finish();
  }

  // ------------------------------------------------------------------ local replies

  /** 503 from a circuit breaker: says so in a header and counts which limit. */
  overloaded(limit: BreakerLimit): void {
    const stats = this.listener.stats;
    if (limit === 'max_requests') stats.cluster(this.cluster!.slot, 'cb_reject_max_requests', 1);
    else if (limit === 'failure_rate') stats.cluster(this.cluster!.slot, 'cb_reject_failure_rate', 1);
    this.upstream?.end();
    if (this.aborted || this.phase === Phase.Done) return;
    this.responseStatus = 503;
    stats.listener(this.listener.slot, 'local_replies', 1);
    this.res.cork(() => this.writeReply(503, `circuit breaker open (${limit})`, this.closeAfterReply(), OVERLOADED));
    this.finish();
  }

  /**
   * A reply the proxy makes itself. `close` marks a refusal of a request whose framing cannot be
   * trusted: it is answered with `connection: close`, and from the next turn of the event loop, not
   * from the request handler. uWS goes on parsing the connection's buffered bytes after the handler
   * returns: a reply ended there lets it hand the bytes after the refused request to the handler as a
   * new request (a smuggled one). While the refusal is still pending, uWS instead treats such bytes as
   * a pipelined request and closes the connection, so they are never read as a request.
   */
  private localReply(status: number, detail: string | undefined, close: boolean): void {
    if (this.aborted || this.phase === Phase.Done) return;
    this.responseStatus = status;
    const l = this.listener;
    l.stats.listener(l.slot, 'local_replies', 1);
    if (close) {
      l.stats.listener(l.slot, 'refused_requests', 1);
      setImmediate(() => {
        if (this.aborted) l.stats.listener(l.slot, 'refusals_unsent', 1);
        else this.res.cork(() => this.writeReply(status, detail, true));
      });
    } else this.writeReply(status, detail, this.closeAfterReply());
    this.finish();
  }

  /** Writes a proxy-made answer: plain text, or for a gRPC request a trailers-only gRPC status. */
  private writeReply(status: number, detail: string | undefined, close: boolean, extra?: readonly string[]): void {
    if (this.grpc) {
      this.responseStatus = 200;
      this.grpcStatus = writeGrpcReply(this.res, status, detail, close, extra);
    } else writeLocalReply(this.res, status, detail, close, extra);
  }

  /** A reply before the whole request body was read closes the connection (the rest is not read), as does draining. */
  private closeAfterReply(): boolean {
    return this.listener.draining || (this.body !== null && !this.body.ended);
  }

  // ------------------------------------------------------------------ the end

  /** Counts and logs the exchange, once. */
  private finish(): void {
    if (this.phase === Phase.Done) return;
    this.phase = Phase.Done;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const l = this.listener;
    const seconds = (performance.now() - this.start) / 1000;
    const cluster = this.cluster;
    countExchange(l, cluster, this.routeSlot, this.responseStatus, this.aborted, seconds, this.bytesIn, this.bytesOut);
    if (this.grpc) l.stats.listener(l.slot, this.grpcStatus >= 0 && this.grpcStatus <= 16 ? GRPC_STATUS_STATS[this.grpcStatus]! : 'grpc_status_missing', 1);
    const upstream = this.upstream;
    const endpoint = upstream?.endpoint?.key;
    upstream?.release();
    if (this.holdsRequest) l.runtime.state.addCluster(cluster!.slot, 'rq_active', -1);
    const trace = this.trace;
    if (trace !== null) trace.finish(this.method, this.target, this.route === null ? '' : this.route.name, cluster === null ? '' : cluster.name, this.responseStatus, this.aborted, this.bytesIn, this.bytesOut, this.clientAddress);
    if (accessLogged(l)) {
      writeAccessLog(l, {
        method: this.method,
        path: this.target,
        status: this.responseStatus,
        aborted: this.aborted,
        cluster,
        upstream: endpoint,
        attempts: upstream === null ? 1 : upstream.attempt + 1,
        seconds,
        bytesIn: this.bytesIn,
        bytesOut: this.bytesOut,
        requestId: this.requestId,
        client: this.clientAddress,
        clientIdentity: this.clientIdentity,
        grpcStatus: this.grpc ? this.grpcStatus : undefined,
        traceId: trace === null ? undefined : trace.traceId,
      });
    }
    if (this.chain !== null) this.chain.onLog(this);
    l.exchangeDone();
  }
}
