import type { FilterRequest } from './filter-request.js';
import type { Hook } from './hooks.js';

/**
 * What the filter chain runs a request on: an instance of a filter module. FilterInstance (Pillion's
 * own SDK) and ProxyWasmVm (Envoy's proxy-wasm ABI) are both one.
 */
export interface ChainInstance {
  /** Hooks worth calling (Hook bits). */
  readonly hooks: number;
  /** Set once a call failed: its state can no longer be trusted. */
  broken: boolean;
  /** Whether the running hook sent a local reply. */
  readonly replied: boolean;
  /** Per direction, the body limit the running headers hook asked to buffer (-1: none). */
  readonly bufferLimit: number[];
  /**
   * A body the last body hook wrote in place of the withheld one (null: unchanged); the chain takes
   * it and sets it back to null.
   */
  rewrittenBody: Uint8Array | null;
  /** Runs one hook: HookResult.Continue or HookResult.Stop. Throws FilterError on failure. */
  call(hook: Hook, request: FilterRequest, id: number, body: Uint8Array | null, end: boolean): number;
}

/** One entry of a listener's filter list in one worker: the instance new requests start on. */
export interface ChainFilter {
  readonly name: string;
  readonly failOpen: boolean;
  /** Bumped by every swap and every re-creation of the instance. */
  readonly generation: number;
  /** The instance a new request starts on; re-creates it after a failure (throws FilterError if that fails). */
  current(): ChainInstance;
  /** Marks `instance` failed and replaces it for new requests. */
  retire(instance: ChainInstance): void;
  /** Hot reload with another module or config; throws FilterError, keeping the old one, on failure. */
  swap(module: WebAssembly.Module, config?: string): void;
  /** Stops what the filter runs on its own (timers); requests in flight finish. */
  close?(): void;
}
