/**
 * The upstream side of one exchange: its attempts against endpoints of the cluster, each on a pooled
 * HTTP/1.1 connection. It picks (endpoint-pick.ts), waits for a connection, writes the request head
 * and body, hands the response's events to the exchange, and on a failure decides between another
 * attempt after a backoff (retries.ts) and an answer. The pool and the connection talk to this object
 * (UpstreamExchange); the exchange talks to it through start, drop, end and release.
 */
import { codeClass, RETRY_REASON_STATS, type BodyFraming, type BreakerLimit, type ClusterStat, type CompiledRoute, type HeaderList, type ResponseBodyKind } from '@pillion/core';
import type { ExchangeTrace } from '../tracing/exchange-trace.js';
import type { UpstreamExchange, UpstreamStream } from '../upstream/upstream-exchange.js';
import type { ClusterRuntime, UpstreamEndpoint, UpstreamResult } from './cluster-runtime.js';
import { pickEndpoint, releaseEndpoint, reportResult, type AttemptCursor } from './endpoint-pick.js';
import type { HttpHost } from './http-listener.js';
import type { RequestBody, UpstreamHead } from './request-body.js';
import { grpcRetryAllowed, retryAllowed, retryBackoff, takeRetrySlot } from './retries.js';

/** What the attempts need from the exchange they serve. */
export interface AttemptOwner {
  /** The exchange has ended: anything that arrives now is let go. */
  readonly finished: boolean;
  /** The response head went downstream: a failure can only abort the client's connection. */
  readonly headSent: boolean;
  readonly body: RequestBody | null;
  /** The request head as it goes upstream. */
  readonly upstreamHead: UpstreamHead;
  readonly framing: BodyFraming;
  /** The exchange's spans (null without tracing): each attempt is a CLIENT span, the upstream's parent. */
  readonly trace: ExchangeTrace | null;
  /** The response head of the attempt that answers (after hop-by-hop and retries are dealt with). */
  onResponse(status: number, reason: string, headers: HeaderList, bodyKind: ResponseBodyKind, length: number, nonAscii: boolean): void;
  onResponseBody(chunk: Buffer): void;
  onResponseTrailers(trailers: HeaderList): void;
  onReadDone(): void;
  onResponseComplete(): void;
  /** The last attempt failed: answer `status` (502, 503, 504) saying `detail`. */
  failed(status: number, detail: string | undefined): void;
  /** A breaker refused the attempt: answer 503 naming the limit. */
  overloaded(limit: BreakerLimit): void;
  /** The upstream failed after the head went downstream. */
  abortDownstream(): void;
}

export class UpstreamAttempts implements UpstreamExchange, AttemptCursor {
  lbScratch: unknown = null;
  picks = 0;
  breakerVerdict = 0;
  /** Attempts before the current one (0 on the first). */
  attempt = 0;
  /** At least one byte of this attempt's request reached the upstream socket. */
  requestWritten = false;
  endpoint: UpstreamEndpoint | null = null;
  private conn: UpstreamStream | null = null;
  /** Waiting for the pool to hand a connection over. */
  private connecting = false;
  private timer: NodeJS.Timeout | null = null;
  /** A retry holds a place in the cluster's rq_retry_active until its attempt ends. */
  private holdsRetry = false;
  /** performance.now() when this attempt asked its pool for a connection, then when it got one (latency histograms). */
  private acquiredAt = 0;
  private sentAt = 0;

  constructor(
    private readonly owner: AttemptOwner,
    private readonly host: HttpHost,
    private readonly route: CompiledRoute,
    public cluster: ClusterRuntime,
    readonly method: string,
    readonly headers: HeaderList,
    readonly clientAddress: string,
  ) {}

  /** Picks an endpoint (walking past ones whose request breaker is full) and asks its pool for a connection. */
  start(): void {
    // A reload or an endpoint change since the request arrived (the first attempt starts a turn later,
    // a retry after its backoff) replaced the cluster's runtime and retired the pools of endpoints that
    // left: pick from the one in service, or the attempt could wait on a retired pool forever.
    let cluster = this.cluster;
    const current = this.host.cluster(cluster.name);
    if (current !== undefined && current !== cluster && current.slot === cluster.slot) this.cluster = cluster = current;
    const picked = pickEndpoint(cluster, this, this.host.state);
    if (picked === null) return this.owner.failed(503, undefined);
    if (typeof picked === 'string') return this.owner.overloaded(picked);
    this.endpoint = picked;
    this.requestWritten = false;
    const acquiredAt = performance.now();
    const trace = this.owner.trace;
    if (trace !== null) trace.attemptStart(this.attempt, cluster.name, picked, this.owner.upstreamHead.headers, acquiredAt);
    this.host.stats.endpoint(picked.slot, 'requests', 1);
    const perTry = this.route.config.retry?.per_try_timeout;
    if (perTry !== undefined && perTry > 0) this.timer = setTimeout(this.onAttemptTimeout.bind(this), perTry);
    this.connecting = true;
    this.acquiredAt = acquiredAt;
    const full = picked.pool.acquire(this, this.method === 'HEAD');
    if (full !== null) {
      this.connecting = false;
      this.owner.overloaded(full);
    }
  }

  pause(): boolean {
    if (this.conn === null) return false;
    this.conn.pause();
    return true;
  }

  resume(): void {
    this.conn?.resume();
  }

  /** Abandons the upstream side: a connection mid-message is closed, never pooled. */
  drop(): void {
    const conn = this.conn;
    this.conn = null;
    if (this.owner.body !== null) this.owner.body.conn = null;
    if (conn !== null) conn.destroy();
    else if (this.connecting && this.endpoint !== null) this.endpoint.pool.cancel(this);
    this.connecting = false;
  }

  /** Lets go of the current attempt: its connection (never pooled mid-message) and its endpoint. */
  end(): void {
    this.drop();
    this.releaseEndpoint();
  }

  /**
   * The exchange is over: lets go of the endpoint, a retry's place and the timer. A connection whose
   * response is still completing stays with it and goes back to its pool.
   */
  release(): void {
    this.releaseEndpoint();
    this.releaseRetry();
  }

  private releaseEndpoint(): void {
    this.clearTimer();
    if (this.endpoint !== null) {
      releaseEndpoint(this.cluster, this.endpoint, this, this.host.state);
      this.endpoint = null;
    }
  }

  /** The whole request timed out: an attempt still waiting for its answer counts as timed out. */
  timedOut(responding: boolean): void {
    if (!responding && this.endpoint !== null) this.report('timeout');
    this.drop();
  }

  // ------------------------------------------------------------------ UpstreamExchange

  onConnection(conn: UpstreamStream): void {
    this.connecting = false;
    if (this.owner.finished || this.endpoint === null || conn.pool !== this.endpoint.pool) {
      // Gave up while waiting (abort, timeout, retry elsewhere): nothing was written, so it stays clean.
      conn.release();
      return;
    }
    this.sentAt = performance.now();
    this.host.stats.clusterLatency(this.cluster.slot, 'pool_wait', (this.sentAt - this.acquiredAt) / 1000);
    const body = this.owner.body;
    if (body === null) {
      const h = this.owner.upstreamHead;
      conn.sendRequest(h.method, h.target, h.headers, this.owner.framing, null, true, null);
    } else if (!body.send(conn, this.owner.upstreamHead, this.attempt > 0)) {
      // The body outgrew the replay buffer while this retry waited: it can no longer be sent whole.
      conn.release();
      this.end();
      this.owner.failed(502, 'request body outgrew the retry buffer');
      return;
    }
    this.requestWritten = true;
    this.conn = conn;
  }

  onConnectFailure(reason: string): void {
    this.connecting = false;
    if (this.owner.finished) return;
    this.report('connect-failure');
    if (this.retry('connect-failure', undefined)) return;
    this.drop();
    this.owner.failed(503, `upstream connect failure: ${reason}`);
  }

  onUpstreamError(kind: 'reset' | 'invalid' | 'refused', detail: string): void {
    if (this.owner.finished) return;
    this.conn = null;
    if (this.owner.body !== null) this.owner.body.conn = null;
    this.host.stats.cluster(this.cluster.slot, 'upstream_resets', 1);
    if (this.owner.headSent) return this.owner.abortDownstream();
    // The endpoint says it never processed the request: as safe to retry as a connect failure.
    if (kind === 'refused') this.requestWritten = false;
    this.report('reset');
    if (this.retry('reset', undefined, -1, kind === 'refused')) return;
    this.owner.failed(502, kind === 'invalid' ? detail : 'upstream reset before response');
  }

  onUpstreamDrain(): void {
    if (!this.owner.finished) this.owner.body?.resume();
  }

  onInformational(): void {
    // 100 Continue and other interim answers are not relayed: the body is already being streamed.
  }

  onResponseHead(status: number, reason: string, headers: HeaderList, bodyKind: ResponseBodyKind, contentLength: number): void {
    if (this.owner.finished) return;
    this.host.stats.clusterLatency(this.cluster.slot, 'upstream_first_byte', (performance.now() - this.sentAt) / 1000);
    this.report(status);
    const retryOn = this.route.retryOn;
    if (retryOn !== null) {
      if (retryOn.covers(status)) {
        const retryAfter = status === 503 || status === 429 ? headers.get('retry-after') : undefined;
        if (this.retry(status, retryAfter)) return;
      } else if (retryOn.grpcMask !== 0 && bodyKind === 'none') {
        // A trailers-only gRPC answer: its grpc-status is in the head, before anything went downstream.
        const grpc = headers.get('grpc-status');
        if (grpc !== undefined && this.retry(status, undefined, Number(grpc))) return;
      }
    }
    this.clearTimer();
    this.owner.onResponse(status, reason, headers, bodyKind, contentLength, this.conn !== null && this.conn.headHasNonAscii);
  }

  onResponseBody(chunk: Buffer): void {
    this.owner.onResponseBody(chunk);
  }

  onResponseTrailers(trailers: HeaderList): void {
    this.owner.onResponseTrailers(trailers);
  }

  onReadDone(): void {
    this.owner.onReadDone();
  }

  onResponseComplete(): void {
    const now = performance.now();
    this.host.stats.clusterLatency(this.cluster.slot, 'upstream_duration', (now - this.sentAt) / 1000);
    this.conn = null;
    const trace = this.owner.trace;
    if (trace !== null) trace.attemptEnd(now);
    this.owner.onResponseComplete();
  }

  // ------------------------------------------------------------------ retries

  private onAttemptTimeout(): void {
    this.timer = null;
    if (this.owner.finished || this.owner.headSent) return;
    this.host.stats.cluster(this.cluster.slot, 'upstream_timeouts', 1);
    this.report('timeout');
    if (this.retry('timeout', undefined)) return;
    this.drop();
    this.owner.failed(504, 'per-try timeout');
  }

  /**
   * Schedules another attempt after a failed one, when the route's policy, the cluster's retry budget
   * and its max_retries breaker allow it. Returns false when the failure must be answered instead.
   */
  private retry(outcome: UpstreamResult, retryAfter: string | undefined, grpcStatus = -1, refused = false): boolean {
    if (this.owner.headSent) return false;
    const route = this.route;
    const body = this.owner.body;
    const facts = { method: this.method, attempt: this.attempt, reached: this.requestWritten, hasBody: body !== null, replayable: body === null || body.replayable };
    if (grpcStatus >= 0 ? !grpcRetryAllowed(route, facts, grpcStatus) : !retryAllowed(route, facts, outcome)) return false;
    this.releaseRetry();
    if (!takeRetrySlot(route, this.cluster, this.host.state, this.host.stats)) return false;
    this.holdsRetry = true;
    this.host.stats.cluster(this.cluster.slot, retryReasonStat(outcome, grpcStatus, refused), 1);
    const trace = this.owner.trace;
    if (trace !== null) trace.attemptEnd(performance.now());
    this.end();
    const delay = retryBackoff(route, this.attempt, retryAfter);
    this.attempt++;
    this.timer = setTimeout(this.onRetryDue.bind(this), delay);
    return true;
  }

  private onRetryDue(): void {
    this.timer = null;
    if (!this.owner.finished) this.start();
  }

  /** Tells the cluster how the attempt on the current endpoint ended (passive health), and counts its response class. */
  private report(result: UpstreamResult): void {
    if (this.endpoint !== null) {
      this.host.stats.endpointResponse(this.endpoint.slot, typeof result === 'number' ? codeClass(result) : 0);
      reportResult(this.cluster, this.endpoint, this, result);
      const trace = this.owner.trace;
      if (trace !== null) trace.attemptResult(result);
    }
  }

  private releaseRetry(): void {
    if (this.holdsRetry) {
      this.holdsRetry = false;
      this.host.state.addCluster(this.cluster.slot, 'rq_retry_active', -1);
    }
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}

/** The retry_* cluster stat of a retry's reason (RETRY_REASONS order: connect-failure, reset, refused, timeout, status, grpc-status). */
function retryReasonStat(outcome: UpstreamResult, grpcStatus: number, refused: boolean): ClusterStat {
  if (grpcStatus >= 0) return RETRY_REASON_STATS[5]!;
  if (typeof outcome === 'number') return RETRY_REASON_STATS[4]!;
  if (outcome === 'connect-failure') return RETRY_REASON_STATS[0]!;
  if (outcome === 'timeout') return RETRY_REASON_STATS[3]!;
  return RETRY_REASON_STATS[refused ? 2 : 1]!;
}
