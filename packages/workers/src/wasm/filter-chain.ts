import { HookResult } from '@pillion/sdk';
import { Action } from './action.js';
import { FilterChainState } from './chain-state.js';
import { FilterError, toFilterError } from './filter-error.js';
import type { ChainFilter, ChainInstance } from './chain-filter.js';
import type { FilterRequest } from './filter-request.js';
import { Hook } from './hooks.js';

export interface FilterChainOptions {
  /**
   * Called once per failure with the filter's name and why (trap, abort, memory, host, config,
   * crashed). The pipeline counts pillion_wasm_filter_errors_total{filter} and logs it here.
   */
  onFilterError: (filterName: string, error: FilterError) => void;
}

const REQUEST = 0;
const RESPONSE = 1;
const EMPTY_BODY = new Uint8Array(0);
/** States kept for reuse; beyond this, finished ones go to the garbage collector. */
const MAX_POOLED_STATES = 1024;

/** Ids filters see for requests; one sequence per thread so chains sharing a filter never collide. */
let nextRequestId = 1;

/**
 * A listener's filters, in order, built once at config time. The pipeline calls, per request:
 *
 *   onRequestHeaders                      once
 *   onRequestBody(chunk, end)             per chunk; at least once with end = true (an empty
 *                                         chunk when there is no body) if headers returned Buffer
 *   onResponseHeaders                     once the upstream answered; also over a local reply,
 *                                         so filters that saw the request can decorate it
 *   onResponseBody(chunk, end)            per chunk, like the request body
 *
 * While a body hook returns Buffer the chain keeps a copy of the chunk (up to the smallest limit a
 * filter asked for: past it, 413 or 500) and the pipeline forwards nothing; after the last chunk
 * returns Continue the pipeline takes the whole body (takeRequestBody, takeResponseBody) and sends it.
 * So a filter's limit bounds what the proxy holds for it.
 *   onLog                                 exactly once at the end, even when the request failed
 *                                         or was aborted (it releases the request's state)
 *
 * Request hooks run in filter order, response hooks in reverse order. A filter failure answers
 * 500, or skips the filter when it is fail_open; the filter's instance is replaced and
 * onFilterError is told. No call allocates unless a filter buffers a body.
 */
export class FilterChain {
  private readonly pool: FilterChainState[] = [];
  private readonly onFilterError: (filterName: string, error: FilterError) => void;

  constructor(
    readonly filters: readonly ChainFilter[],
    options: FilterChainOptions,
  ) {
    this.onFilterError = options.onFilterError;
  }

  /** Stops what the filters run on their own (timers), when the chain is replaced. */
  close(): void {
    for (const filter of this.filters) filter.close?.();
  }

  get length(): number {
    return this.filters.length;
  }

  /** The filter named `name`, or undefined. */
  filter(name: string): ChainFilter | undefined {
    const filters = this.filters;
    for (let i = 0; i < filters.length; i++) if (filters[i]!.name === name) return filters[i];
    return undefined;
  }

  /** Hot reload of one filter; see WasmFilter.swap. Throws FilterError, keeping the old one, on failure. */
  swap(name: string, module: WebAssembly.Module, config?: string): void {
    const filter = this.filter(name);
    if (filter === undefined) throw new Error(`no filter named ${name} in this chain`);
    filter.swap(module, config);
  }

  onRequestHeaders(req: FilterRequest): Action {
    const filters = this.filters;
    const n = filters.length;
    if (n === 0) return Action.Continue;
    let state = req.filterState;
    if (state === null) {
      state = this.pool.pop() ?? new FilterChainState(n);
      state.id = nextRequestId;
      nextRequestId = nextRequestId >= 0x7fffffff ? 1 : nextRequestId + 1;
      req.filterState = state;
    }
    for (let i = 0; i < n; i++) {
      let instance: ChainInstance;
      try {
        instance = filters[i]!.current();
      } catch (error) {
        if (!this.failed(req, state, i, null, error)) return Action.LocalReply;
        continue;
      }
      state.instances[i] = instance;
      if ((instance.hooks & Hook.RequestHeaders) === 0) continue;
      if (!this.run(req, state, i, instance, Hook.RequestHeaders, null, false)) return Action.LocalReply;
    }
    return state.bufferFrom[REQUEST] === -1 ? Action.Continue : Action.Buffer;
  }

  onRequestBody(req: FilterRequest, chunk: Uint8Array, end: boolean): Action {
    return this.body(req, chunk, end, REQUEST);
  }

  onResponseHeaders(req: FilterRequest): Action {
    const state = req.filterState;
    if (state === null) return Action.Continue;
    const instances = state.instances;
    for (let i = instances.length - 1; i >= 0; i--) {
      const instance = instances[i];
      if (instance == null || (instance.hooks & Hook.ResponseHeaders) === 0) continue;
      if (!this.run(req, state, i, instance, Hook.ResponseHeaders, null, false)) return Action.LocalReply;
    }
    return state.bufferFrom[RESPONSE] === -1 ? Action.Continue : Action.Buffer;
  }

  onResponseBody(req: FilterRequest, chunk: Uint8Array, end: boolean): Action {
    return this.body(req, chunk, end, RESPONSE);
  }

  /**
   * The request body the chain withheld, once onRequestBody returned Continue for its last chunk; the
   * memory is the caller's. Empty when no filter asked for the whole body.
   */
  takeRequestBody(req: FilterRequest): Uint8Array {
    return req.filterState === null ? EMPTY_BODY : req.filterState.bodies[REQUEST].take();
  }

  /** The response body the chain withheld, like takeRequestBody. */
  takeResponseBody(req: FilterRequest): Uint8Array {
    return req.filterState === null ? EMPTY_BODY : req.filterState.bodies[RESPONSE].take();
  }

  onLog(req: FilterRequest): void {
    const state = req.filterState;
    if (state === null) return;
    req.filterState = null;
    const instances = state.instances;
    for (let i = 0; i < instances.length; i++) {
      const instance = instances[i];
      if (instance == null || instance.broken || (instance.hooks & Hook.Log) === 0) continue;
      try {
        instance.call(Hook.Log, req, state.id, null, false);
      } catch (error) {
        this.report(i, instance, error);
      }
    }
    state.reset();
    if (this.pool.length < MAX_POOLED_STATES) this.pool.push(state);
  }

  /** Body chunks: streamed to filters before the first one that buffers, withheld for it and the rest. */
  private body(req: FilterRequest, chunk: Uint8Array, end: boolean, direction: number): Action {
    const state = req.filterState;
    if (state === null) return Action.Continue;
    const instances = state.instances;
    const n = instances.length;
    const hook = direction === REQUEST ? Hook.RequestBody : Hook.ResponseBody;
    const from = state.bufferFrom[direction]!;
    const streamed = from === -1 ? n : from;
    for (let p = 0; p < streamed; p++) {
      const i = direction === REQUEST ? p : n - 1 - p;
      const instance = instances[i];
      if (instance == null || (instance.hooks & hook) === 0) continue;
      if (!this.run(req, state, i, instance, hook, chunk, end)) return Action.LocalReply;
    }
    if (from === -1) return Action.Continue;
    const buffer = state.bodies[direction as 0 | 1];
    if (!buffer.append(chunk, state.bufferLimit[direction]!)) {
      if (direction === REQUEST) req.sendLocalReply(413, 'request body over the filter buffer limit\n');
      else req.sendLocalReply(500, 'response body over the filter buffer limit\n');
      return Action.LocalReply;
    }
    if (!end) return Action.Buffer;
    let whole = buffer.view();
    for (let p = from; p < n; p++) {
      const i = direction === REQUEST ? p : n - 1 - p;
      const instance = instances[i];
      if (instance == null || (instance.hooks & hook) === 0) continue;
      if (!this.run(req, state, i, instance, hook, whole, true)) return Action.LocalReply;
      const rewritten = instance.rewrittenBody;
      if (rewritten !== null) {
        instance.rewrittenBody = null;
        buffer.replace(rewritten);
        whole = buffer.view();
      }
    }
    return Action.Continue;
  }

  /** Runs one hook of filter `i`; false when the request must stop (its local reply is recorded). */
  private run(
    req: FilterRequest,
    state: FilterChainState,
    i: number,
    instance: ChainInstance,
    hook: Hook,
    body: Uint8Array | null,
    end: boolean,
  ): boolean {
    if (instance.broken) {
      const name = this.filters[i]!.name;
      return this.failed(req, state, i, null, new FilterError(name, 'crashed', 'the instance serving this request failed'));
    }
    let result: number;
    try {
      result = instance.call(hook, req, state.id, body, end);
    } catch (error) {
      return this.failed(req, state, i, instance, error);
    }
    const limits = instance.bufferLimit;
    if (limits[REQUEST] !== -1 || limits[RESPONSE] !== -1) {
      if (hook === Hook.RequestHeaders || hook === Hook.ResponseHeaders) {
        this.takeBufferRequest(state, i, instance, REQUEST);
        this.takeBufferRequest(state, i, instance, RESPONSE);
      } else {
        limits[REQUEST] = limits[RESPONSE] = -1;
      }
    }
    if (result === HookResult.Stop) {
      if (!instance.replied) {
        req.sendLocalReply(500, `filter ${this.filters[i]!.name} stopped the request without a reply\n`);
      }
      return false;
    }
    return true;
  }

  /** Records a buffer_body call made in a headers hook (calls from body hooks are ignored). */
  private takeBufferRequest(state: FilterChainState, i: number, instance: ChainInstance, direction: number): void {
    const limit = instance.bufferLimit[direction]!;
    if (limit === -1) return;
    instance.bufferLimit[direction] = -1;
    const position = direction === REQUEST ? i : state.instances.length - 1 - i;
    const from = state.bufferFrom[direction]!;
    if (from === -1 || position < from) state.bufferFrom[direction] = position;
    state.bufferLimit[direction] = from === -1 ? limit : Math.min(state.bufferLimit[direction]!, limit);
  }

  /**
   * Filter `i` failed for this request (`instance` is null when it never got one). Reports it,
   * replaces the instance, and answers 500 unless the filter is fail_open; true to go on.
   */
  private failed(req: FilterRequest, state: FilterChainState, i: number, instance: ChainInstance | null, error: unknown): boolean {
    const filter = this.filters[i]!;
    state.instances[i] = null;
    this.report(i, instance, error);
    if (filter.failOpen) return true;
    req.sendLocalReply(500, `filter ${filter.name} failed\n`);
    return false;
  }

  private report(i: number, instance: ChainInstance | null, error: unknown): void {
    const filter = this.filters[i]!;
    if (instance !== null) filter.retire(instance);
    this.onFilterError(filter.name, toFilterError(filter.name, error));
  }
}
