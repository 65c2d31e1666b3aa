/**
 * A worker's WASM filters: one FilterChain per HTTP listener, built from the modules the supervisor
 * compiled and posted, plus the counters filters keep (their own metrics and their failures), which
 * the worker reports to the supervisor now and then — never per request.
 */
import type { Logger } from '../logger.js';
import type { FilterCounters, FilterSpec } from '../messages.js';
import { AtomicBuckets, FilterChain, FilterMetrics, WasmFilter, proxyWasm, type ChainFilter, type FilterError } from '../wasm/index.js';

export class WorkerFilters {
  private readonly metrics = new Map<string, FilterMetrics>();
  private readonly errors = new Map<string, number>();
  private readonly buckets: AtomicBuckets | null;
  /** The specs each live chain was built from, to tell a swap from a rebuild on reload. */
  private readonly built = new WeakMap<FilterChain, readonly FilterSpec[]>();

  constructor(
    bucketsBuffer: SharedArrayBuffer | null,
    private readonly log: Logger,
  ) {
    this.buckets = bucketsBuffer ? new AtomicBuckets(bucketsBuffer) : null;
  }

  /**
   * The chain for a listener's filters. With the same filters in the same order as `previous`, the
   * previous chain is kept and only changed modules or configs are swapped in, so requests in flight
   * finish on the instances they started on.
   */
  chainFor(listener: string, specs: readonly FilterSpec[] | undefined, previous: FilterChain | null): FilterChain | null {
    if (!specs || specs.length === 0) {
      previous?.close();
      return null;
    }
    const before = previous ? this.built.get(previous) : undefined;
    if (previous && before && before.length === specs.length && before.every((b, i) => b.name === specs[i]!.name && b.failOpen === specs[i]!.failOpen && b.maxMemory === specs[i]!.maxMemory && sameProxyWasm(b, specs[i]!))) {
      specs.forEach((spec, i) => {
        const old = before[i]!;
        if (old.module !== spec.module || old.config !== spec.config) previous.swap(spec.name, spec.module, spec.config);
      });
      this.built.set(previous, specs);
      return previous;
    }
    const filters = specs.map((spec) => this.filterOf(listener, spec));
    const chain = new FilterChain(filters, { onFilterError: (name, error) => this.onError(listener, name, error) });
    // The old chain's requests finish on their instances; only what its filters run alone (ticks) stops.
    previous?.close();
    this.built.set(chain, specs);
    return chain;
  }

  counters(): FilterCounters {
    const out: FilterCounters = { errors: {}, metrics: {} };
    for (const [key, n] of this.errors) out.errors[key] = n;
    for (const [key, m] of this.metrics) out.metrics[key] = m.snapshot();
    return out;
  }

  private filterOf(listener: string, spec: FilterSpec): ChainFilter {
    const key = `${listener}/${spec.name}`;
    let metrics = this.metrics.get(key);
    if (!metrics) this.metrics.set(key, (metrics = new FilterMetrics()));
    if (!this.errors.has(key)) this.errors.set(key, 0);
    const pw = spec.proxyWasm;
    if (pw !== null) {
      return new proxyWasm.ProxyWasmFilter(spec.module, {
        name: spec.name,
        rootId: pw.rootId,
        config: spec.config,
        failOpen: spec.failOpen,
        maxMemory: spec.maxMemory,
        maxBodyBytes: pw.maxBodyBytes,
        bufferBody: pw.bufferBody,
        metrics,
        sharedData: pw.sharedData && new proxyWasm.SharedData(pw.sharedData.buffer, pw.sharedData),
        sharedQueues: pw.sharedQueues && new proxyWasm.SharedQueues(pw.sharedQueues.buffer, pw.sharedQueues),
        log: (filter, level, message) => this.log[level]({ listener, filter }, message),
        logLevel: PROXY_LOG_LEVELS[this.log.level] ?? proxyWasm.LogLevel.Info,
        onError: (error) => this.onError(listener, spec.name, error),
      });
    }
    return new WasmFilter(spec.module, {
      name: spec.name,
      config: spec.config,
      failOpen: spec.failOpen,
      maxMemory: spec.maxMemory,
      metrics,
      buckets: this.buckets && spec.bucketCount > 0 ? { shared: this.buckets, base: spec.bucketBase, count: spec.bucketCount } : null,
      log: (filter, level, message) => this.log[level]({ listener, filter }, message),
    });
  }

  private onError(listener: string, name: string, error: FilterError): void {
    const key = `${listener}/${name}`;
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
    this.log.warn({ listener, filter: name, kind: error.kind, detail: error.detail }, 'filter failed');
  }
}

/** The worker's log level as proxy_get_log_level answers it. */
const PROXY_LOG_LEVELS: Record<string, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4, fatal: 5, silent: 5 };

/** Whether two specs make the same kind of filter (else the chain is rebuilt, not swapped). */
function sameProxyWasm(a: FilterSpec, b: FilterSpec): boolean {
  const x = a.proxyWasm;
  const y = b.proxyWasm;
  if (x === null || y === null) return x === y;
  return (
    x.rootId === y.rootId &&
    x.bufferBody[0] === y.bufferBody[0] &&
    x.bufferBody[1] === y.bufferBody[1] &&
    x.maxBodyBytes === y.maxBodyBytes &&
    x.sharedData?.buffer === y.sharedData?.buffer &&
    x.sharedQueues?.buffer === y.sharedQueues?.buffer
  );
}
