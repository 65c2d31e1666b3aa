import type { ChainFilter, ChainInstance } from '../chain-filter.js';
import { FilterError, toFilterError } from '../filter-error.js';
import type { FilterLogger } from '../filter-instance.js';
import { FilterMetrics } from '../filter-metrics.js';
import { LogLevel } from './abi.js';
import type { VmEnv } from './host.js';
import { ProxyWasmVm } from './proxy-wasm-vm.js';
import { threadId } from 'node:worker_threads';
import { SHARED_DATA_DEFAULTS, SharedData, usesSharedData } from './shared-data.js';
import { SHARED_QUEUE_DEFAULTS, SharedQueues, usesSharedQueues } from './shared-queues.js';

/** Default `max_body_bytes`: what a proxy-wasm filter's buffered body may reach. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export interface ProxyWasmFilterOptions {
  name: string;
  /** `root_id` (default ''). */
  rootId?: string;
  /** The filter's `config:` as proxy_on_configure receives it. */
  config?: string;
  failOpen?: boolean;
  maxMemory: number;
  maxBodyBytes?: number;
  /** `buffer_body`: per direction, hand the module the whole body (and let it rewrite it). */
  bufferBody?: readonly [boolean, boolean];
  metrics?: FilterMetrics;
  /**
   * The store shared with the other workers' VMs of this filter. Left out, a module that uses shared
   * data gets a store of its own (seen by this filter's VMs only).
   */
  sharedData?: SharedData | null;
  /** The queues shared with the other workers' VMs of this filter; left out, like sharedData. */
  sharedQueues?: SharedQueues | null;
  log?: FilterLogger;
  /** proxy_log_level_t below which proxy_log calls are dropped (default Info). */
  logLevel?: number;
  /** Failures outside a request (proxy_on_tick): the VM is replaced, and this is told. */
  onError?: (error: FilterError) => void;
  now?: () => number;
  random?: () => number;
}

const noLog: FilterLogger = () => {};
/** How long one wait on a queue lasts before it is renewed (so a closed filter stops waiting). */
const QUEUE_WAIT_MS = 1000;
/** Atomics.waitAsync (Node 20 has it; TypeScript's ES2023 lib does not declare it). */
const waitAsync = (Atomics as unknown as {
  waitAsync(array: Int32Array, index: number, value: number, timeoutMs: number): { async: false; value: string } | { async: true; value: Promise<string> };
}).waitAsync;
/** proxy_on_queue_ready calls per wake-up, however many items arrived (the module drains the queue). */
const MAX_READY_CALLS = 64;
const encoder = new TextEncoder();

/**
 * A `wasm:` entry whose module speaks Envoy's proxy-wasm ABI, in one worker: one VM (Envoy's "one VM
 * per worker"), replaced by a fresh one, created and configured again, after a failure. Requests in
 * flight keep the VM they started on, as with Pillion's own filters.
 */
export class ProxyWasmFilter implements ChainFilter {
  readonly name: string;
  readonly failOpen: boolean;
  generation = 0;

  private env: VmEnv;
  private module: WebAssembly.Module;
  private vm: ProxyWasmVm | null;
  private timer: NodeJS.Timeout | null = null;
  private readonly bufferBody: readonly [boolean, boolean];
  private readonly sharedData: SharedData | null;
  private readonly sharedQueues: SharedQueues | null;
  /** Per queue being waited on, the enqueue count already delivered. */
  private readonly watched = new Map<number, number>();
  private closed = false;
  private readonly logLevel: number;
  private readonly onError: (error: FilterError) => void;

  constructor(module: WebAssembly.Module, private readonly options: ProxyWasmFilterOptions) {
    this.name = options.name;
    this.failOpen = options.failOpen ?? false;
    this.bufferBody = options.bufferBody ?? [false, false];
    this.logLevel = options.logLevel ?? LogLevel.Info;
    this.onError = options.onError ?? (() => {});
    this.module = module;
    this.sharedData = options.sharedData !== undefined ? options.sharedData : usesSharedData(module) ? SharedData.create(SHARED_DATA_DEFAULTS) : null;
    this.sharedQueues = options.sharedQueues !== undefined ? options.sharedQueues : usesSharedQueues(module) ? SharedQueues.create(SHARED_QUEUE_DEFAULTS) : null;
    this.env = this.envFor(options.config ?? '');
    this.vm = this.create(module, this.env);
    this.startTicks(this.vm);
  }

  current(): ProxyWasmVm {
    const vm = this.vm;
    if (vm !== null && !vm.broken) return vm;
    this.vm = null;
    this.stopTicks();
    const fresh = this.create(this.module, this.env);
    this.vm = fresh;
    this.generation++;
    this.startTicks(fresh);
    return fresh;
  }

  retire(instance: ChainInstance): void {
    instance.broken = true;
    if (this.vm !== instance) return;
    this.vm = null;
    this.stopTicks();
    try {
      this.current();
    } catch (error) {
      if (!(error instanceof FilterError)) throw error;
    }
  }

  swap(module: WebAssembly.Module, config?: string): void {
    const env = config === undefined ? this.env : this.envFor(config);
    const fresh = this.create(module, env);
    this.module = module;
    this.env = env;
    this.vm = fresh;
    this.generation++;
    this.startTicks(fresh);
  }

  close(): void {
    this.closed = true;
    this.stopTicks();
  }

  /**
   * Waits on queue `id`'s enqueue counter (once per queue, whichever VM registered it) and, while
   * this thread owns the queue, calls proxy_on_queue_ready on the current VM once per enqueue.
   */
  private watchQueue(id: number): void {
    const queues = this.sharedQueues;
    if (queues === null || this.watched.has(id)) return;
    const seq = queues.seqIndex(id);
    this.watched.set(id, Atomics.load(queues.words, seq));
    const wait = (): void => {
      if (this.closed) return;
      const seen = this.watched.get(id)!;
      // A bounded wait, so a closed filter's waits end; a change before the call answers at once.
      const result = waitAsync(queues.words, seq, seen, QUEUE_WAIT_MS);
      if (result.async) void result.value.then(() => this.queueChanged(id, wait));
      else setImmediate(() => this.queueChanged(id, wait));
    };
    wait();
  }

  private queueChanged(id: number, wait: () => void): void {
    const queues = this.sharedQueues!;
    if (this.closed) return;
    const now = Atomics.load(queues.words, queues.seqIndex(id));
    const ready = (now - this.watched.get(id)!) | 0;
    this.watched.set(id, now);
    if (ready > 0 && queues.owner(id) === threadId + 1) {
      let vm: ProxyWasmVm | null = null;
      try {
        vm = this.current();
        for (let i = 0; i < Math.min(ready, MAX_READY_CALLS) && !vm.broken; i++) vm.queueReady(id);
      } catch (error) {
        const failure = toFilterError(this.name, error);
        if (vm !== null) this.retire(vm);
        this.onError(failure);
      }
    }
    wait();
  }

  private create(module: WebAssembly.Module, env: VmEnv): ProxyWasmVm {
    return new ProxyWasmVm(module, env, {
      bufferBody: this.bufferBody,
      logLevel: this.logLevel,
      onTickPeriod: (vm, ms) => this.tickPeriod(vm, ms),
      onQueueRegistered: (_vm, id) => this.watchQueue(id),
    });
  }

  private envFor(config: string): VmEnv {
    const o = this.options;
    return {
      name: o.name,
      rootId: o.rootId ?? '',
      config: encoder.encode(config),
      maxMemory: o.maxMemory,
      maxBodyBytes: o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      metrics: o.metrics ?? new FilterMetrics(),
      sharedData: this.sharedData,
      sharedQueues: this.sharedQueues,
      log: o.log ?? noLog,
      now: o.now ?? Date.now,
      random: o.random ?? Math.random,
    };
  }

  /**
   * proxy_set_tick_period_milliseconds from the current VM changes its ticks now; a VM being made
   * (asking from proxy_on_configure) gets its ticks once it becomes current.
   */
  private tickPeriod(vm: ProxyWasmVm, _ms: number): void {
    if (vm === this.vm) this.startTicks(vm);
  }

  private startTicks(vm: ProxyWasmVm): void {
    this.stopTicks();
    if (vm.tickPeriodMs === 0) return;
    const timer = setInterval(() => this.tick(vm), vm.tickPeriodMs);
    timer.unref();
    this.timer = timer;
  }

  private tick(vm: ProxyWasmVm): void {
    if (vm.broken) return;
    try {
      vm.tick();
    } catch (error) {
      const failure = toFilterError(this.name, error);
      this.retire(vm);
      this.onError(failure);
    }
  }

  private stopTicks(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
