/**
 * One listener's tracing settings in one worker: the top-level `tracing` block with the listener's
 * own `tracing` overrides applied. The request path reads `HttpListener.tracing`: null when tracing
 * is off, and then this module is never loaded.
 */
import { propagationBits, type HeaderList, type HttpListenerConfig, type TracingConfig } from '@pillion/core';
import { ExchangeTrace } from './exchange-trace.js';
import type { OtlpExporter } from './otlp-exporter.js';
import type { WorkerTracing } from './worker-tracing.js';

export class ListenerTracing {
  /** Propagation formats (PROPAGATE_W3C | PROPAGATE_B3). */
  readonly bits: number;
  readonly ratio: number;
  readonly errors: boolean;
  readonly listener: string;
  readonly port: number;
  readonly scheme: string;

  constructor(
    readonly tracer: WorkerTracing,
    /** The exporter of the config these settings came from (a stopped one drops and counts). */
    readonly exporter: OtlpExporter,
    readonly slot: number,
    top: TracingConfig,
    l: HttpListenerConfig,
  ) {
    const own = l.tracing;
    this.bits = propagationBits(own?.propagation ?? top.propagation);
    this.ratio = own?.sampling?.ratio ?? top.sampling.ratio;
    this.errors = own?.sampling?.errors ?? top.sampling.errors;
    this.listener = l.name;
    this.port = l.port;
    this.scheme = l.tls !== undefined ? 'https' : 'http';
  }

  /** A request arrived: continue its caller's trace or start one. `start` is its performance.now(). */
  begin(headers: HeaderList, start: number): ExchangeTrace {
    return new ExchangeTrace(this, headers, start);
  }
}
