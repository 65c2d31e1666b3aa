/**
 * Tracing in one worker thread, loaded only when the config has a `tracing` block: the id source,
 * the OTLP exporter, and each HTTP listener's settings (HttpListener.tracing), renewed on reload.
 * Removing the block on reload sets every listener's tracing back to null and stops the exporter.
 */
import { IdGenerator, type Config, type StatsWriter } from '@pillion/core';
import type { HttpListener } from '../worker/http-listener.js';
import { ListenerTracing } from './listener-tracing.js';
import { OtlpExporter } from './otlp-exporter.js';

/**
 * Fills `buf` from Math.random (V8's xorshift128+), as OpenTelemetry's own id generator does: trace
 * ids need to be unique and unpredictable enough to spread, not secret, and a CSPRNG costs about
 * 10 ns a byte (a quarter of a microsecond per request).
 */
function fillRandom(buf: Uint8Array): void {
  for (let i = 0; i + 4 <= buf.length; i += 4) {
    const r = (Math.random() * 0x100000000) >>> 0;
    buf[i] = r & 0xff;
    buf[i + 1] = (r >>> 8) & 0xff;
    buf[i + 2] = (r >>> 16) & 0xff;
    buf[i + 3] = r >>> 24;
  }
}

export class WorkerTracing {
  readonly ids = new IdGenerator(fillRandom);
  exporter: OtlpExporter | null = null;

  constructor(private readonly stats: StatsWriter) {}

  /** Gives every HTTP listener its tracing settings for `config` (null for all when tracing is off). */
  configure(config: Config, listeners: readonly HttpListener[]): void {
    const top = config.tracing;
    if (top === undefined) {
      for (const l of listeners) l.tracing = null;
      this.exporter?.close();
      this.exporter = null;
      return;
    }
    if (this.exporter === null) this.exporter = new OtlpExporter(this.stats, top);
    else this.exporter.update(top);
    for (const l of listeners) l.tracing = new ListenerTracing(this, this.exporter, l.slot, top, l.config);
  }

  close(): void {
    this.exporter?.close();
  }
}
