import { FilterError } from './filter-error.js';
import { FilterMetrics } from './filter-metrics.js';
import { FilterInstance } from './filter-instance.js';
import type { BucketRange, FilterLogger, InstanceEnv } from './filter-instance.js';
import type { ChainFilter } from './chain-filter.js';

/** Default `max_memory`: 16 MiB of linear memory per instance. */
export const DEFAULT_MAX_MEMORY = 16 * 1024 * 1024;

export interface WasmFilterOptions {
  /** Names the filter in logs, errors and metrics. */
  name: string;
  /** The filter's `config:` as JSON text, handed to the module's configure() once per instance. */
  config?: string;
  /** On a failure, skip the filter for that request instead of answering 500. */
  failOpen?: boolean;
  /** Bytes of linear memory an instance may hold; past it the call fails and the instance is replaced. */
  maxMemory?: number;
  /** Where the filter's counters and gauges go (one per filter; kept across reloads). */
  metrics?: FilterMetrics;
  /** The shared token buckets this filter may take from. */
  buckets?: BucketRange | null;
  log?: FilterLogger;
  /** Wall clock in ms; injectable for tests. */
  now?: () => number;
  /** Random source in [0, 1); injectable for tests. */
  random?: () => number;
}

const noLog: FilterLogger = () => {};

/**
 * One `wasm:` entry of a listener's filter list, in one worker: the compiled module (compiled once
 * by the supervisor, posted here), its config, and the instance new requests run on.
 *
 * A failed instance is replaced by a fresh one; `swap` replaces it with another module or config.
 * Requests already running keep the instance they started on (FilterChain remembers it), so
 * neither drops them.
 */
export class WasmFilter implements InstanceEnv, ChainFilter {
  readonly name: string;
  readonly failOpen: boolean;
  readonly maxMemory: number;
  readonly metrics: FilterMetrics;
  readonly buckets: BucketRange | null;
  readonly log: FilterLogger;
  readonly now: () => number;
  readonly random: () => number;
  /** Bumped by every swap and every re-creation. */
  generation = 0;

  private module: WebAssembly.Module;
  private config: string;
  private instance: FilterInstance | null;

  /** Instantiates and configures the module now: a bad module or config throws FilterError here. */
  constructor(module: WebAssembly.Module, options: WasmFilterOptions) {
    this.name = options.name;
    this.failOpen = options.failOpen ?? false;
    this.maxMemory = options.maxMemory ?? DEFAULT_MAX_MEMORY;
    this.metrics = options.metrics ?? new FilterMetrics();
    this.buckets = options.buckets ?? null;
    this.log = options.log ?? noLog;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.module = module;
    this.config = options.config ?? '{}';
    this.instance = new FilterInstance(module, this, this.config, this.maxMemory);
  }

  /** The instance a new request starts on; re-creates it after a failure (throws FilterError if that fails). */
  current(): FilterInstance {
    const instance = this.instance;
    if (instance !== null && !instance.broken) return instance;
    this.instance = null;
    const fresh = new FilterInstance(this.module, this, this.config, this.maxMemory);
    this.instance = fresh;
    this.generation++;
    return fresh;
  }

  /**
   * Marks `instance` failed. If new requests were still starting on it, a fresh instance replaces
   * it right away, so the next request never pays for the failure.
   */
  retire(instance: FilterInstance): void {
    instance.broken = true;
    if (this.instance !== instance) return;
    this.instance = null;
    try {
      this.current();
    } catch (error) {
      // The next request tries again and fails on its own; report this failure there.
      if (!(error instanceof FilterError)) throw error;
    }
  }

  /**
   * Hot reload: instantiates `module` with `config` (default: the current config) and makes it the
   * instance for new requests. Throws FilterError, keeping the old instance, if the new one fails
   * to start.
   */
  swap(module: WebAssembly.Module, config: string = this.config): void {
    const fresh = new FilterInstance(module, this, config, this.maxMemory);
    this.module = module;
    this.config = config;
    this.instance = fresh;
    this.generation++;
  }
}
