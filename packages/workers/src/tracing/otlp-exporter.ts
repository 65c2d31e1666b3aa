/**
 * Sends a worker's finished spans to an OTLP/HTTP receiver as JSON, in batches, never on the request
 * path: a request only appends to a bounded queue (a full queue drops and counts), and a timer or a
 * full batch starts an export on a later turn. One export is in flight at a time; one that fails or
 * outlasts `otlp.timeout` is counted and its spans dropped (no retry), so a receiver that is down or
 * slow costs requests nothing.
 */
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { encodeTraces, type OtlpSpan, type StatsWriter, type TracingConfig } from '@pillion/core';
import type { ExchangeTrace } from './exchange-trace.js';

const SCOPE = { name: 'pillion', version: '1' } as const;

export class OtlpExporter {
  private queue: ExchangeTrace[] = [];
  private queuedSpans = 0;
  private inFlight = false;
  private flushSoon = false;
  private timer: NodeJS.Timeout | null = null;
  private config!: TracingConfig['otlp'];
  private url!: URL;
  private resource!: Record<string, string>;
  private agent: HttpAgent | null = null;
  private closed = false;

  constructor(
    private readonly stats: StatsWriter,
    config: TracingConfig,
  ) {
    this.update(config);
  }

  /** Applies a reloaded `tracing` block: endpoint, headers, batch sizes and interval. */
  update(config: TracingConfig): void {
    const old = this.config;
    this.config = config.otlp;
    this.resource = { 'service.name': config.service_name, 'telemetry.sdk.name': 'pillion', 'telemetry.sdk.language': 'nodejs' };
    if (old === undefined || old.endpoint !== config.otlp.endpoint) {
      this.url = new URL(config.otlp.endpoint);
      this.agent?.destroy();
      this.agent = null;
    }
    if (old === undefined || old.batch.interval !== config.otlp.batch.interval) {
      if (this.timer !== null) clearInterval(this.timer);
      this.timer = setInterval(() => this.flush(), config.otlp.batch.interval);
      this.timer.unref();
    }
  }

  /** A request's spans, to export. Drops them (counted) when the queue is full. */
  enqueue(t: ExchangeTrace): void {
    const n = t.spanCount;
    if (this.closed || this.queuedSpans + n > this.config.batch.max_queue) {
      this.stats.listener(t.tracing.slot, 'trace_spans_dropped', n);
      return;
    }
    this.queue.push(t);
    this.queuedSpans += n;
    if (this.queuedSpans >= this.config.batch.max_batch && !this.flushSoon && !this.inFlight) {
      this.flushSoon = true;
      setImmediate(() => {
        this.flushSoon = false;
        this.flush();
      });
    }
  }

  /** Sends up to max_batch spans (whole requests) unless an export is in flight. */
  flush(final = false): void {
    if (this.inFlight || this.queue.length === 0) return;
    const max = this.config.batch.max_batch;
    const spans: OtlpSpan[] = [];
    const perSlot = new Map<number, number>();
    let taken = 0;
    while (taken < this.queue.length) {
      const t = this.queue[taken]!;
      if (spans.length > 0 && spans.length + t.spanCount > max) break;
      t.toSpans(spans);
      perSlot.set(t.tracing.slot, (perSlot.get(t.tracing.slot) ?? 0) + t.spanCount);
      taken++;
    }
    this.queue = taken === this.queue.length ? [] : this.queue.slice(taken);
    this.queuedSpans -= spans.length;
    this.inFlight = true;
    this.post(encodeTraces(this.resource, SCOPE, spans), final, (ok) => {
      this.inFlight = false;
      for (const [slot, n] of perSlot) {
        if (ok) this.stats.listener(slot, 'trace_spans_exported', n);
        else {
          this.stats.listener(slot, 'trace_spans_dropped', n);
          this.stats.listener(slot, 'trace_export_failures', 1);
        }
      }
      if (!this.closed && this.queuedSpans >= this.config.batch.max_batch) setImmediate(() => this.flush());
    });
  }

  private post(body: string, final: boolean, done: (ok: boolean) => void): void {
    const url = this.url;
    const https = url.protocol === 'https:';
    this.agent ??= https ? new HttpsAgent({ keepAlive: true, maxSockets: 1 }) : new HttpAgent({ keepAlive: true, maxSockets: 1 });
    let settled = false;
    const settle = (ok: boolean) => {
      if (!settled) {
        settled = true;
        done(ok);
      }
    };
    let req: ClientRequest;
    try {
      req = (https ? httpsRequest : httpRequest)(url, {
        method: 'POST',
        agent: this.agent,
        headers: { ...this.config.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      });
    } catch {
      settle(false);
      return;
    }
    req.setTimeout(this.config.timeout, () => req.destroy(new Error('OTLP export timed out')));
    req.on('error', () => settle(false));
    // The last export as the worker stops must not keep the thread alive.
    if (final) req.on('socket', (s) => s.unref());
    req.on('response', (res: IncomingMessage) => {
      res.resume();
      const ok = res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300;
      res.on('end', () => settle(ok));
      res.on('error', () => settle(false));
      // A response cut short ends with close and no end: the export failed (and the next may start).
      res.on('close', () => settle(ok && res.complete));
    });
    req.end(body);
  }

  /** Stops the timer and sends what is queued, without keeping the thread alive for it. */
  close(): void {
    if (this.closed) return;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.flush(true);
    this.closed = true;
    if (!this.inFlight) this.agent?.destroy();
  }
}
