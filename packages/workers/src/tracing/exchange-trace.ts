/**
 * The spans of one request through the proxy: a SERVER span for the downstream request and a CLIENT
 * span for each upstream attempt (a retry is a span of its own). The caller's context is continued
 * (or a trace started), and each attempt's request carries its CLIENT span as the parent.
 *
 * Recording is cheap fields on this object; the OTLP form is built by the exporter, off the request
 * path. A request the head decision did not sample is still recorded when `sampling.errors` is on,
 * and handed to the exporter only if it ended in an error.
 */
import {
  PROPAGATE_B3,
  PROPAGATE_W3C,
  SPAN_KIND_CLIENT,
  SPAN_KIND_SERVER,
  STATUS_ERROR,
  STATUS_UNSET,
  extractContext,
  injectContext,
  keepTracestate,
  parseTraceparent,
  sampleDecision,
  type HeaderList,
  type OtlpSpan,
  type UpstreamResult,
} from '@pillion/core';
import type { ListenerTracing } from './listener-tracing.js';

/** One upstream attempt (a CLIENT span). */
interface AttemptSpan {
  spanId: string;
  attempt: number;
  start: number;
  end: number;
  cluster: string;
  endpoint: string;
  address: string;
  port: number;
  /** The upstream's status, or how the attempt failed; 0 while none is known. */
  result: UpstreamResult;
}

/** The SERVER span's data, as the request ended. */
interface ServerSpan {
  method: string;
  target: string;
  route: string;
  cluster: string;
  status: number;
  aborted: boolean;
  bytesIn: number;
  bytesOut: number;
  client: string;
  end: number;
}

/** Milliseconds since the epoch of a performance.now() reading. */
const epochMs = (t: number) => performance.timeOrigin + t;

export class ExchangeTrace {
  readonly traceId: string;
  /** The SERVER span's id, drawn when first needed (a B3 parent, or export): most requests never need it. */
  private ownId = '';
  /** The first CLIENT span's id when it came with a new trace id ('' once used, or for a continued trace). */
  private nextSpanId = '';
  /** The caller's span ('' when the proxy started the trace). */
  readonly parentSpanId: string;
  /** The head decision: what goes upstream in the flags. */
  readonly sampled: boolean;
  /** Spans are recorded: sampled, or `sampling.errors` may still want them. */
  readonly recording: boolean;
  /** The first attempt; later ones (retries) in `retries`, allocated only when there are some. */
  private first: AttemptSpan | null = null;
  private retries: AttemptSpan[] | null = null;
  private open: AttemptSpan | null = null;
  /** The Host header, kept while recording. */
  private host = '';
  /** The SERVER span's data, made at finish for the requests exported only (most are not). */
  private server: ServerSpan | null = null;
  /** What the listener's filters decided: continue, cluster_override or local_reply ('' without filters). */
  filterVerdict = '';

  constructor(
    readonly tracing: ListenerTracing,
    headers: HeaderList,
    private readonly start: number,
  ) {
    const parent = extractContext(headers, tracing.bits);
    if (headers.has('tracestate')) keepTracestate(headers, (tracing.bits & PROPAGATE_W3C) !== 0 && parseTraceparent(headers.get('traceparent')) !== null);
    if (parent === null) {
      const ids = tracing.tracer.ids.traceAndSpanIds();
      this.traceId = ids.slice(0, 32);
      this.nextSpanId = ids.slice(32);
    } else {
      this.traceId = parent.traceId;
    }
    this.parentSpanId = parent === null ? '' : parent.spanId;
    this.sampled = sampleDecision(parent, tracing.ratio, Math.random);
    this.recording = this.sampled || tracing.errors;
    if (this.recording) this.host = headers.get('host') ?? '';
  }

  get spanId(): string {
    if (this.ownId === '') this.ownId = this.tracing.tracer.ids.spanId();
    return this.ownId;
  }

  /**
   * An attempt begins against `endpoint` at `now` (performance.now()): a new CLIENT span, written into
   * the request as the upstream's parent.
   */
  attemptStart(attempt: number, cluster: string, endpoint: { key: string; address: string; port: number }, headers: HeaderList, now: number): void {
    let spanId = this.nextSpanId;
    if (spanId === '') spanId = this.tracing.tracer.ids.spanId();
    else this.nextSpanId = '';
    const bits = this.tracing.bits;
    injectContext(headers, bits, this.traceId, spanId, this.sampled, (bits & PROPAGATE_B3) !== 0 ? this.spanId : '');
    if (!this.recording) return;
    if (this.open !== null) this.open.end = now;
    const span: AttemptSpan = { spanId, attempt, start: now, end: 0, cluster, endpoint: endpoint.key, address: endpoint.address, port: endpoint.port, result: 0 };
    if (this.first === null) this.first = span;
    else (this.retries ??= []).push(span);
    this.open = span;
  }

  /** How the current attempt ended (its status, or the failure). */
  attemptResult(result: UpstreamResult): void {
    if (this.open !== null) this.open.result = result;
  }

  /** The current attempt is over at `now` (its response completed, or it is being retried). */
  attemptEnd(now: number): void {
    if (this.open !== null) {
      this.open.end = now;
      this.open = null;
    }
  }

  /** The request is over: hands the spans to the exporter when they are sampled, or failed and errors are wanted. */
  finish(
    method: string,
    target: string,
    route: string,
    cluster: string,
    status: number,
    aborted: boolean,
    bytesIn: number,
    bytesOut: number,
    client: string,
  ): void {
    if (!this.recording) return;
    const failed = aborted || status === 0 || status >= 500;
    if (!this.sampled && !failed) return;
    const end = performance.now();
    if (this.open !== null) {
      this.open.end = end;
      this.open = null;
    }
    this.server = { method, target, route, cluster, status, aborted, bytesIn, bytesOut, client, end };
    this.tracing.exporter.enqueue(this);
  }

  get spanCount(): number {
    return 1 + this.attemptCount;
  }

  private get attemptCount(): number {
    return this.first === null ? 0 : this.retries === null ? 1 : 1 + this.retries.length;
  }

  /** The OTLP form of the spans (called by the exporter, off the request path). */
  toSpans(out: OtlpSpan[]): void {
    const sv = this.server;
    if (sv === null) return;
    const q = sv.target.indexOf('?');
    const path = q < 0 ? sv.target : sv.target.slice(0, q);
    const hostEnd = this.host.startsWith('[') ? this.host.indexOf(']') + 1 : this.host.lastIndexOf(':');
    const serverFailed = sv.aborted || sv.status === 0 || sv.status >= 500;
    const last = this.attemptCount - 1;
    out.push({
      traceId: this.traceId,
      spanId: this.spanId,
      parentSpanId: this.parentSpanId,
      name: sv.route === '' ? sv.method : `${sv.method} ${sv.route}`,
      kind: SPAN_KIND_SERVER,
      startMs: epochMs(this.start),
      endMs: epochMs(sv.end),
      attributes: {
        'http.request.method': sv.method,
        'url.path': path,
        'url.scheme': this.tracing.scheme,
        'http.route': sv.route || undefined,
        'http.response.status_code': sv.status > 0 ? sv.status : undefined,
        'server.address': (hostEnd > 0 ? this.host.slice(0, hostEnd) : this.host) || undefined,
        'server.port': this.tracing.port,
        'network.peer.address': sv.client || undefined,
        'client.address': sv.client || undefined,
        'http.request.body.size': sv.bytesIn,
        'http.response.body.size': sv.bytesOut,
        'error.type': !serverFailed ? undefined : sv.aborted ? 'aborted' : sv.status === 0 ? 'no_response' : String(sv.status),
        'pillion.listener': this.tracing.listener,
        'pillion.cluster': sv.cluster || undefined,
        'pillion.attempts': last + 1,
        'pillion.filter.verdict': this.filterVerdict || undefined,
      },
      status: serverFailed ? STATUS_ERROR : STATUS_UNSET,
    });
    for (let i = 0; i <= last; i++) {
      const a = i === 0 ? this.first! : this.retries![i - 1]!;
      // An attempt without a result was given up: retried (per-try timeout), or the request ended first (abort, breaker, timeout).
      const failure =
        typeof a.result === 'string' ? a.result : a.result >= 500 ? String(a.result) : a.result !== 0 ? undefined : i < last ? 'retried' : sv.aborted ? 'aborted' : serverFailed ? 'no_response' : undefined;
      out.push({
        traceId: this.traceId,
        spanId: a.spanId,
        parentSpanId: this.spanId,
        name: sv.method,
        kind: SPAN_KIND_CLIENT,
        startMs: epochMs(a.start),
        endMs: epochMs(a.end),
        attributes: {
          'http.request.method': sv.method,
          'url.path': path,
          'server.address': a.address,
          'server.port': a.port,
          'network.peer.address': a.address,
          'network.peer.port': a.port,
          'http.response.status_code': typeof a.result === 'number' && a.result > 0 ? a.result : undefined,
          'http.request.resend_count': a.attempt > 0 ? a.attempt : undefined,
          'http.response.body.size': i === last && a.result !== 0 ? sv.bytesOut : undefined,
          'error.type': failure,
          'pillion.cluster': a.cluster,
          'pillion.endpoint': a.endpoint,
          'pillion.attempt': a.attempt,
        },
        status: failure !== undefined ? STATUS_ERROR : STATUS_UNSET,
      });
    }
  }
}
