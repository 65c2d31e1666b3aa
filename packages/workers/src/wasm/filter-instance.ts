import { instantiateSync } from '@assemblyscript/loader';
import type { HeaderList } from '@pillion/core';
import { Direction, HOST_MODULE, HeaderMap, HookResult, MetricKind, Property } from '@pillion/sdk';
import type { HostFunctionName } from '@pillion/sdk';
import { FilterError, HostCallError, toFilterError } from './filter-error.js';
import type { FilterMetrics } from './filter-metrics.js';
import type { FilterRequest } from './filter-request.js';
import { Hook } from './hooks.js';
import type { ChainInstance } from './chain-filter.js';
import { checkHeaderName, checkHeaderValue, isFramingHeader, parseReplyHeaders } from './local-reply-headers.js';
import type { SharedBuckets } from './shared-buckets.js';
import { WasmMemory } from './wasm-memory.js';

export type FilterLogLevel = 'debug' | 'info' | 'warn' | 'error';
export type FilterLogger = (filter: string, level: FilterLogLevel, message: string) => void;

/** The buckets a filter may use: its ids 0 .. count - 1 map to shared slots base .. base + count - 1. */
export interface BucketRange {
  readonly shared: SharedBuckets;
  readonly base: number;
  readonly count: number;
}

/** What an instance needs from the filter that owns it. */
export interface InstanceEnv {
  readonly name: string;
  readonly metrics: FilterMetrics;
  readonly buckets: BucketRange | null;
  readonly log: FilterLogger;
  readonly now: () => number;
  readonly random: () => number;
}

type HostImports = Record<HostFunctionName, (...args: number[]) => number | void>;
type HookFn = (id: number, size?: number, end?: number) => number;

interface HookExports {
  memory?: WebAssembly.Memory;
  _start?: () => void;
  configure?: (configLen: number) => number;
  on_request_headers?: HookFn;
  on_request_body?: HookFn;
  on_response_headers?: HookFn;
  on_response_body?: HookFn;
  on_log?: (id: number) => void;
}

const LEVELS: readonly FilterLogLevel[] = ['debug', 'info', 'warn', 'error'];
const PATH = /^\/[\x21-\x7e]*$/;

/**
 * One instantiation of a filter module: its memory, the hooks it exports, and the host functions
 * bound to it. Host functions act on `request`, which is set only while a hook runs.
 */
export class FilterInstance implements ChainInstance {
  /** Hooks still worth calling: exported, and not reported as the SDK's default. */
  hooks = 0;
  /** Set once a call failed: its state can no longer be trusted. */
  broken = false;
  /** Whether the running hook sent a local reply. */
  replied = false;
  /** Per direction, the body limit the running hook asked for with buffer_body (-1: none). */
  readonly bufferLimit = [-1, -1];
  /** Pillion's ABI has no body writes: always null. */
  rewrittenBody: Uint8Array | null = null;

  private readonly exports: HookExports;
  /** Replaced once instantiation returns the module's memory. */
  private memory = new WasmMemory(null);
  private request: FilterRequest | null = null;
  private body: Uint8Array | null = null;

  constructor(
    module: WebAssembly.Module,
    private readonly env: InstanceEnv,
    private readonly config: string,
    private readonly maxMemory: number,
  ) {
    let exports: HookExports;
    try {
      const result = instantiateSync<Record<string, unknown>>(module, {
        [HOST_MODULE]: this.hostFunctions(),
        env: {
          seed: () => Math.floor(env.random() * 2 ** 52),
          trace: (msg: number, n?: number, ...args: number[]) =>
            env.log(env.name, 'debug', `trace: ${this.readAbortString(msg)} ${args.slice(0, n ?? 0).join(', ')}`),
        },
      });
      exports = result.instance.exports as HookExports;
    } catch (error) {
      throw new FilterError(env.name, 'config', `cannot instantiate: ${errorMessage(error)}`, { cause: error });
    }
    if (!(exports.memory instanceof WebAssembly.Memory)) {
      throw new FilterError(env.name, 'config', 'the module must export its memory as "memory"');
    }
    this.exports = exports;
    this.memory = new WasmMemory(exports.memory);
    if (typeof exports.on_request_headers === 'function') this.hooks |= Hook.RequestHeaders;
    if (typeof exports.on_request_body === 'function') this.hooks |= Hook.RequestBody;
    if (typeof exports.on_response_headers === 'function') this.hooks |= Hook.ResponseHeaders;
    if (typeof exports.on_response_body === 'function') this.hooks |= Hook.ResponseBody;
    if (typeof exports.on_log === 'function') this.hooks |= Hook.Log;
    this.start();
  }

  /** Bytes of linear memory the instance holds. */
  get memoryBytes(): number {
    return this.memory.byteLength;
  }

  /**
   * Runs one request hook. Returns HookResult.Continue or HookResult.Stop (a local reply counts
   * as Stop). Throws FilterError when the module fails or outgrows its memory limit.
   */
  call(hook: Hook, request: FilterRequest, id: number, body: Uint8Array | null, end: boolean): number {
    const exports = this.exports;
    this.request = request;
    this.body = body;
    this.replied = false;
    let code = 0;
    try {
      switch (hook) {
        case Hook.RequestHeaders:
          code = exports.on_request_headers!(id);
          break;
        case Hook.RequestBody:
          code = exports.on_request_body!(id, body === null ? 0 : body.length, end ? 1 : 0);
          break;
        case Hook.ResponseHeaders:
          code = exports.on_response_headers!(id);
          break;
        case Hook.ResponseBody:
          code = exports.on_response_body!(id, body === null ? 0 : body.length, end ? 1 : 0);
          break;
        case Hook.Log:
          exports.on_log!(id);
          break;
      }
    } catch (error) {
      throw toFilterError(this.env.name, error);
    } finally {
      this.request = null;
      this.body = null;
    }
    if ((code & HookResult.UnusedFlag) !== 0) this.hooks &= ~hook;
    this.checkMemory();
    return this.replied || (code & HookResult.ActionMask) === HookResult.Stop ? HookResult.Stop : HookResult.Continue;
  }

  private start(): void {
    const exports = this.exports;
    try {
      if (typeof exports._start === 'function') exports._start();
      if (typeof exports.configure === 'function' && exports.configure(this.config.length) !== 1) {
        throw new HostCallError('configure() did not accept the config');
      }
    } catch (error) {
      const cause = toFilterError(this.env.name, error);
      throw new FilterError(this.env.name, 'config', cause.detail, { cause });
    }
    this.checkMemory();
  }

  private checkMemory(): void {
    const bytes = this.memory.byteLength;
    if (bytes > this.maxMemory) {
      throw new FilterError(this.env.name, 'memory', `memory grew to ${bytes} bytes, over max_memory ${this.maxMemory}`);
    }
  }

  private current(fn: string): FilterRequest {
    const request = this.request;
    if (request === null) throw new HostCallError(`${fn} may only be called while a request hook runs`);
    return request;
  }

  private headers(map: number, fn: string): HeaderList | null {
    const request = this.current(fn);
    if (map === HeaderMap.Request) return request.requestHeaders;
    if (map === HeaderMap.Response) return request.responseHeaders;
    throw new HostCallError(`${fn}: unknown header map ${map}`);
  }

  private mutableHeaders(map: number, fn: string): HeaderList {
    const headers = this.headers(map, fn);
    if (headers === null) throw new HostCallError(`${fn}: response headers exist only from onResponseHeaders on`);
    return headers;
  }

  private readAbortString(ptr: number): string {
    try {
      const bytes = new Uint32Array(this.exports.memory!.buffer)[(ptr - 4) >>> 2]!;
      return this.memory.readString(ptr, bytes >>> 1);
    } catch {
      return '<unreadable>';
    }
  }

  /** The `pillion` import module, bound to this instance once. */
  private hostFunctions(): HostImports {
    const env = this.env;
    return {
      log: (level, ptr, len) => {
        env.log(env.name, LEVELS[level] ?? 'info', this.memory.readString(ptr, len));
      },
      get_config: (dst, cap) => this.memory.writeString(this.config, dst, cap),
      get_property: (property, dst, cap) => {
        const request = this.current('get_property');
        let value: string;
        switch (property) {
          case Property.Method:
            value = request.method;
            break;
          case Property.Path:
            value = request.path;
            break;
          case Property.Authority:
            value = request.authority;
            break;
          case Property.ClientAddress:
            value = request.clientAddress;
            break;
          case Property.ClientIdentity:
            value = request.clientIdentity;
            break;
          default:
            return -1;
        }
        return this.memory.writeString(value, dst, cap);
      },
      set_path: (ptr, len) => {
        const path = this.memory.readString(ptr, len);
        if (!PATH.test(path)) throw new HostCallError(`set_path: ${JSON.stringify(path)} is not an absolute path`);
        this.current('set_path').path = path;
      },
      response_status: () => this.current('response_status').responseStatus,
      header_get: (map, name, nameLen, dst, cap) => {
        const headers = this.headers(map, 'header_get');
        const value = headers === null ? undefined : headers.get(this.memory.readName(name, nameLen));
        return value === undefined ? -1 : this.memory.writeString(value, dst, cap);
      },
      header_count: (map, name, nameLen) => {
        const headers = this.headers(map, 'header_count');
        return headers === null ? 0 : headers.count(this.memory.readName(name, nameLen));
      },
      header_size: (map) => {
        const headers = this.headers(map, 'header_size');
        return headers === null ? -1 : headers.size;
      },
      header_name_at: (map, index, dst, cap) => {
        const headers = this.headers(map, 'header_name_at');
        if (headers === null || !(index >= 0 && index < headers.size)) return -1;
        return this.memory.writeString(headers.nameAt(index), dst, cap);
      },
      header_value_at: (map, index, dst, cap) => {
        const headers = this.headers(map, 'header_value_at');
        if (headers === null || !(index >= 0 && index < headers.size)) return -1;
        return this.memory.writeString(headers.valueAt(index), dst, cap);
      },
      header_set: (map, name, nameLen, value, valueLen) => {
        const headers = this.mutableHeaders(map, 'header_set');
        const n = checkHeaderName(this.memory.readName(name, nameLen));
        headers.set(n, checkHeaderValue(n, this.memory.readString(value, valueLen)));
      },
      header_add: (map, name, nameLen, value, valueLen) => {
        const headers = this.mutableHeaders(map, 'header_add');
        const n = checkHeaderName(this.memory.readName(name, nameLen));
        headers.add(n, checkHeaderValue(n, this.memory.readString(value, valueLen)));
      },
      header_remove: (map, name, nameLen) => {
        const headers = this.headers(map, 'header_remove');
        const n = this.memory.readName(name, nameLen);
        if (isFramingHeader(n)) checkHeaderName(n);
        return headers === null ? 0 : headers.remove(n);
      },
      body_read: (dst, cap) => {
        this.current('body_read');
        const body = this.body;
        return body === null ? -1 : this.memory.writeBytes(body, dst, cap);
      },
      buffer_body: (direction, limit) => {
        this.current('buffer_body');
        if (direction !== Direction.Request && direction !== Direction.Response) {
          throw new HostCallError(`buffer_body: unknown direction ${direction}`);
        }
        if (!(limit > 0)) throw new HostCallError(`buffer_body: limit must be positive, not ${limit}`);
        const previous = this.bufferLimit[direction]!;
        this.bufferLimit[direction] = previous === -1 ? limit : Math.min(previous, limit);
      },
      send_local_reply: (status, body, bodyLen, headers, headersLen) => {
        const request = this.current('send_local_reply');
        if (!(Number.isInteger(status) && status >= 200 && status <= 599)) {
          throw new HostCallError(`send_local_reply: status ${status} is outside 200..599`);
        }
        const list = parseReplyHeaders(this.memory.readString(headers, headersLen));
        request.sendLocalReply(status, this.memory.readString(body, bodyLen), list);
        this.replied = true;
      },
      set_cluster: (ptr, len) => {
        const name = this.memory.readString(ptr, len);
        if (name.length === 0 || !/^[\x21-\x7e]+$/.test(name)) {
          throw new HostCallError(`set_cluster: invalid cluster name ${JSON.stringify(name)}`);
        }
        this.current('set_cluster').setCluster(name);
      },
      metric_define: (kind, name, nameLen) => {
        if (kind !== MetricKind.Counter && kind !== MetricKind.Gauge) {
          throw new HostCallError(`metric_define: unknown kind ${kind}`);
        }
        return env.metrics.define(kind === MetricKind.Counter ? 'counter' : 'gauge', this.memory.readString(name, nameLen));
      },
      metric_add: (id, delta) => env.metrics.add(id, delta),
      metric_set: (id, value) => env.metrics.set(id, value),
      bucket_take: (bucket, tokens, ratePerSec, burst) => {
        const buckets = env.buckets;
        if (buckets === null) throw new HostCallError('bucket_take: no shared buckets are configured for this filter');
        if (!(bucket >= 0 && bucket < buckets.count)) {
          throw new HostCallError(`bucket_take: bucket ${bucket} is outside 0..${buckets.count - 1}`);
        }
        try {
          return buckets.shared.take(buckets.base + bucket, tokens, env.now(), ratePerSec, burst);
        } catch (error) {
          throw new HostCallError(`bucket_take: ${errorMessage(error)}`);
        }
      },
      now_ms: () => env.now(),
      random: () => env.random(),
    };
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
