import type { FilterMetrics } from '../filter-metrics.js';
import type { FilterLogger } from '../filter-instance.js';
import type { FilterRequest } from '../filter-request.js';
import { HostCallError } from '../filter-error.js';
import { Status } from './abi.js';
import type { SharedData } from './shared-data.js';
import type { SharedQueues } from './shared-queues.js';
import { MemoryAccessError, type VmMemory } from './vm-memory.js';

/** What a proxy-wasm VM is given by the filter that owns it; the same for every VM it replaces. */
export interface VmEnv {
  /** The filter's name: logs, errors, metrics, `plugin_name`. */
  readonly name: string;
  /** `root_id`: which root context the module creates; also `plugin_root_id`. */
  readonly rootId: string;
  /** `config:` as handed to proxy_on_configure (a string as is, anything else as JSON). */
  readonly config: Uint8Array;
  /** Bytes of linear memory a VM may hold (`max_memory`); past it the call fails and the VM is replaced. */
  readonly maxMemory: number;
  /** Bytes a buffered body may reach (`max_body_bytes`). */
  readonly maxBodyBytes: number;
  readonly metrics: FilterMetrics;
  /** The key-value store every worker's VMs of this filter share; null when the module does not use it. */
  readonly sharedData: SharedData | null;
  /** The queues every worker's VMs of this filter share; null when the module does not use them. */
  readonly sharedQueues: SharedQueues | null;
  readonly log: FilterLogger;
  /** Wall clock in ms. */
  readonly now: () => number;
  readonly random: () => number;
}

/**
 * The state host functions act on, kept by the VM: which request (if any) a callback is running
 * for, and what that callback may read and change.
 */
export interface HostState {
  readonly env: VmEnv;
  readonly memory: VmMemory;
  /** The request whose callback is running; null in root callbacks (configure, tick). */
  request: FilterRequest | null;
  /** The context whose callback is running: the root context's id in root callbacks, 0 between callbacks. */
  context: number;
  /** The body chunk a body callback sees, and which one (0 request, 1 response, -1 none). */
  body: Uint8Array | null;
  bodyDirection: number;
  /** Whether `body` is the whole body the chain withheld (so it may be replaced). */
  bodyBuffered: boolean;
  /** A replacement set with proxy_set_buffer_bytes, for the chain to take. */
  rewrittenBody: Uint8Array | null;
  /** Set when the running callback sent a local response. */
  replied: boolean;
  /** The configuration buffer readable now (during proxy_on_configure / proxy_on_vm_start), or null. */
  configuration: Uint8Array | null;
  configurationType: number;
  /** Asks for proxy_on_tick every `ms` (0 stops it). */
  setTickPeriod(ms: number): void;
  /** The module registered queue `id`: deliver proxy_on_queue_ready for it while this VM owns it. */
  watchQueue(id: number): void;
}

export type HostFunction = (...args: number[]) => number | void;
export type HostFunctions = Record<string, HostFunction>;

/**
 * Wraps a host function so a pointer outside memory answers INVALID_MEMORY_ACCESS, as the spec says;
 * other errors (HostCallError, traps) propagate and fail the filter.
 */
export function guarded(fn: (...args: number[]) => number): HostFunction {
  // Fixed parameters, not a rest array: header calls run per request and must not allocate.
  return (a?: number, b?: number, c?: number, d?: number, e?: number, f?: number, g?: number, h?: number, i?: number, j?: number) => {
    try {
      return (fn as (...args: (number | undefined)[]) => number)(a, b, c, d, e, f, g, h, i, j);
    } catch (error) {
      if (error instanceof MemoryAccessError) return Status.InvalidMemoryAccess;
      throw error;
    }
  };
}

export function currentRequest(host: HostState, fn: string): FilterRequest {
  const request = host.request;
  if (request === null) throw new HostCallError(`${fn} may only be called while an HTTP callback runs`);
  return request;
}
