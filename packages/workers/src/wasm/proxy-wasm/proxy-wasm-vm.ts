import { HookResult } from '@pillion/sdk';
import type { ChainInstance } from '../chain-filter.js';
import { FilterError, HostCallError, toFilterError } from '../filter-error.js';
import type { FilterRequest } from '../filter-request.js';
import { Hook } from '../hooks.js';
import { BufferType } from './abi.js';
import type { HostFunctions, HostState, VmEnv } from './host.js';
import { bufferImports } from './imports-buffers.js';
import { headerImports } from './imports-headers.js';
import { localResponseImports } from './imports-local-response.js';
import { loggingImports, wasiImports } from './imports-logging.js';
import { metricImports } from './imports-metrics.js';
import { propertyImports } from './imports-properties.js';
import { sharedDataImports } from './imports-shared-data.js';
import { sharedQueueImports } from './imports-shared-queues.js';
import { timerImports } from './imports-timers.js';
import { contextImports } from './imports-context.js';
import { VmMemory } from './vm-memory.js';

/** The root context's id; a request's context is its chain id + 1, so the two never meet. */
const ROOT_CONTEXT = 1;
const REQUEST = 0;
const RESPONSE = 1;

type Callback = (...args: number[]) => number;

interface ProxyExports {
  memory?: WebAssembly.Memory;
  _initialize?: () => void;
  _start?: () => void;
  main?: (a: number, b: number) => number;
  proxy_on_memory_allocate?: (size: number) => number;
  malloc?: (size: number) => number;
  proxy_on_context_create?: (id: number, parent: number) => void;
  proxy_on_vm_start?: (id: number, size: number) => number;
  proxy_on_configure?: (id: number, size: number) => number;
  proxy_on_tick?: (id: number) => void;
  proxy_on_queue_ready?: (id: number, queue: number) => void;
  proxy_on_request_headers?: Callback;
  proxy_on_request_body?: Callback;
  proxy_on_response_headers?: Callback;
  proxy_on_response_body?: Callback;
  proxy_on_done?: (id: number) => number;
  proxy_on_log?: (id: number) => void;
  proxy_on_delete?: (id: number) => void;
}

export interface VmOptions {
  /** Per direction (0 request, 1 response): withhold the whole body for the module (`buffer_body`). */
  bufferBody: readonly [boolean, boolean];
  /** The worker's log level as a proxy_log_level_t (what proxy_get_log_level answers). */
  logLevel: number;
  /** Called when the module asks for ticks; the VM's owner runs the timer. */
  onTickPeriod: (vm: ProxyWasmVm, ms: number) => void;
  /** Called when the module registers a queue; the VM's owner waits on it. */
  onQueueRegistered: (vm: ProxyWasmVm, id: number) => void;
}

/**
 * One proxy-wasm VM in one worker, as Envoy runs it: instantiated once, its root context created
 * (proxy_on_context_create with parent 0), started (proxy_on_vm_start) and configured
 * (proxy_on_configure) once; then a context per request, created at its first callback and ended
 * with proxy_on_done, proxy_on_log and proxy_on_delete. A failed call marks the VM broken; its owner
 * makes a new one.
 *
 * To the filter chain it is one more instance (ChainInstance): a request's callbacks arrive as the
 * chain's hooks.
 */
export class ProxyWasmVm implements ChainInstance, HostState {
  hooks = Hook.RequestHeaders | Hook.Log;
  broken = false;
  replied = false;
  readonly bufferLimit = [-1, -1];

  request: FilterRequest | null = null;
  context = 0;
  body: Uint8Array | null = null;
  bodyDirection = -1;
  bodyBuffered = false;
  rewrittenBody: Uint8Array | null = null;
  configuration: Uint8Array | null = null;
  configurationType = -1;
  readonly memory = new VmMemory();

  private readonly exports: ProxyExports;

  constructor(
    module: WebAssembly.Module,
    readonly env: VmEnv,
    private readonly options: VmOptions,
  ) {
    let exports: ProxyExports;
    const imports = hostImports(this, options.logLevel);
    checkImports(module, imports, env.name);
    try {
      // wasi_unstable: the name older toolchains (AssemblyScript 0.14, the proxy-runtime SDK's) import WASI by.
      const instance = new WebAssembly.Instance(module, { env: imports.env, wasi_snapshot_preview1: imports.wasi, wasi_unstable: imports.wasi } as WebAssembly.Imports);
      exports = instance.exports as ProxyExports;
    } catch (error) {
      throw new FilterError(env.name, 'config', `cannot instantiate: ${(error as Error).message}`, { cause: error });
    }
    if (!(exports.memory instanceof WebAssembly.Memory)) throw new FilterError(env.name, 'config', 'the module must export its memory as "memory"');
    this.memory.attach(exports.memory, exports.proxy_on_memory_allocate ?? exports.malloc ?? null);
    this.exports = exports;
    if (typeof exports.proxy_on_response_headers === 'function' || options.bufferBody[RESPONSE]) this.hooks |= Hook.ResponseHeaders;
    if (typeof exports.proxy_on_response_body === 'function') this.hooks |= Hook.ResponseBody;
    if (typeof exports.proxy_on_request_body === 'function') this.hooks |= Hook.RequestBody;
    this.start();
  }

  get memoryBytes(): number {
    return this.memory.byteLength;
  }

  /** What the module last asked with proxy_set_tick_period_milliseconds (0: no ticks). */
  tickPeriodMs = 0;

  setTickPeriod(ms: number): void {
    this.tickPeriodMs = ms;
    this.options.onTickPeriod(this, ms);
  }

  /** Queues the module registered (their ids). */
  readonly queues = new Set<number>();

  watchQueue(id: number): void {
    if (this.queues.has(id)) return;
    this.queues.add(id);
    this.options.onQueueRegistered(this, id);
  }

  /** Runs proxy_on_queue_ready on the root context; throws FilterError when the module fails. */
  queueReady(id: number): void {
    const fn = this.exports.proxy_on_queue_ready;
    if (typeof fn !== 'function') return;
    this.context = ROOT_CONTEXT;
    try {
      fn(ROOT_CONTEXT, id);
    } catch (error) {
      throw toFilterError(this.env.name, error);
    } finally {
      this.context = 0;
    }
    this.checkMemory();
  }

  /** Runs proxy_on_tick on the root context; throws FilterError when the module fails. */
  tick(): void {
    const fn = this.exports.proxy_on_tick;
    if (typeof fn !== 'function') return;
    this.context = ROOT_CONTEXT;
    try {
      fn(ROOT_CONTEXT);
    } catch (error) {
      throw toFilterError(this.env.name, error);
    } finally {
      this.context = 0;
    }
    this.checkMemory();
  }

  call(hook: Hook, request: FilterRequest, id: number, body: Uint8Array | null, end: boolean): number {
    const exports = this.exports;
    const context = id + 1;
    this.request = request;
    this.context = context;
    this.replied = false;
    let code = 0;
    try {
      switch (hook) {
        case Hook.RequestHeaders: {
          exports.proxy_on_context_create?.(context, ROOT_CONTEXT);
          if (this.options.bufferBody[REQUEST]) this.bufferLimit[REQUEST] = this.env.maxBodyBytes;
          const fn = exports.proxy_on_request_headers;
          if (typeof fn === 'function') code = fn(context, request.requestHeaders.size, hasNoBody(request.requestHeaders) ? 1 : 0);
          break;
        }
        case Hook.ResponseHeaders: {
          if (this.options.bufferBody[RESPONSE]) this.bufferLimit[RESPONSE] = this.env.maxBodyBytes;
          const fn = exports.proxy_on_response_headers;
          if (typeof fn === 'function') code = fn(context, request.responseHeaders?.size ?? 0, 0);
          break;
        }
        case Hook.RequestBody:
          code = this.bodyCall(exports.proxy_on_request_body!, context, BufferType.HttpRequestBody, body, end, this.options.bufferBody[REQUEST]);
          break;
        case Hook.ResponseBody:
          code = this.bodyCall(exports.proxy_on_response_body!, context, BufferType.HttpResponseBody, body, end, this.options.bufferBody[RESPONSE]);
          break;
        case Hook.Log:
          this.finish(context);
          break;
      }
    } catch (error) {
      throw toFilterError(this.env.name, error);
    } finally {
      this.request = null;
      this.context = 0;
      this.body = null;
      this.bodyDirection = -1;
    }
    this.checkMemory();
    if (this.replied) return HookResult.Stop;
    if (code === 0) return HookResult.Continue;
    // Pausing needs proxy_continue_stream (resuming later), which this host does not provide; a body
    // callback that pauses mid-body is asking for buffer_body.
    const what = hook === Hook.RequestBody || hook === Hook.ResponseBody ? (end ? 'paused at the end of the body' : 'paused a body without buffer_body') : 'paused the request';
    throw new FilterError(this.env.name, 'host', `the module ${what} (action ${code}) and sent no local response; this host cannot resume a stream`);
  }

  private bodyCall(fn: Callback, context: number, type: number, body: Uint8Array | null, end: boolean, buffered: boolean): number {
    this.body = body ?? new Uint8Array(0);
    this.bodyDirection = type;
    this.bodyBuffered = buffered && end;
    return fn(context, this.body.length, end ? 1 : 0);
  }

  /** The request is over: proxy_on_done, then (Envoy's order) proxy_on_log and proxy_on_delete. */
  private finish(context: number): void {
    const exports = this.exports;
    exports.proxy_on_done?.(context);
    exports.proxy_on_log?.(context);
    exports.proxy_on_delete?.(context);
  }

  private start(): void {
    const exports = this.exports;
    const env = this.env;
    try {
      if (typeof exports._initialize === 'function') {
        exports._initialize();
        if (typeof exports.main === 'function') exports.main(0, 0);
      } else if (typeof exports._start === 'function') exports._start();
      exports.proxy_on_context_create?.(ROOT_CONTEXT, 0);
      this.context = ROOT_CONTEXT;
      this.configurationType = BufferType.VmConfiguration;
      this.configuration = new Uint8Array(0);
      if (typeof exports.proxy_on_vm_start === 'function' && exports.proxy_on_vm_start(ROOT_CONTEXT, 0) === 0) {
        throw new HostCallError('proxy_on_vm_start returned false');
      }
      this.configurationType = BufferType.PluginConfiguration;
      this.configuration = env.config;
      if (typeof exports.proxy_on_configure === 'function' && exports.proxy_on_configure(ROOT_CONTEXT, env.config.length) === 0) {
        throw new HostCallError('proxy_on_configure returned false: the module refused its config');
      }
    } catch (error) {
      const cause = toFilterError(env.name, error);
      throw new FilterError(env.name, 'config', cause.detail, { cause });
    } finally {
      this.context = 0;
      this.configuration = null;
      this.configurationType = -1;
    }
    this.checkMemory();
  }

  private checkMemory(): void {
    const bytes = this.memory.byteLength;
    if (bytes > this.env.maxMemory) {
      throw new FilterError(this.env.name, 'memory', `memory grew to ${bytes} bytes, over max_memory ${this.env.maxMemory}`);
    }
  }
}


function hasNoBody(headers: { get(name: string): string | undefined; has(name: string): boolean }): boolean {
  const length = headers.get('content-length');
  return (length === undefined || length === '0') && !headers.has('transfer-encoding');
}

/** Every host function this host provides, by import module. */
function hostImports(host: HostState, logLevel: number): { env: HostFunctions; wasi: HostFunctions } {
  return {
    env: {
      ...loggingImports(host, logLevel),
      ...headerImports(host),
      ...bufferImports(host),
      ...propertyImports(host),
      ...metricImports(host),
      ...sharedDataImports(host),
      ...sharedQueueImports(host),
      ...localResponseImports(host),
      ...timerImports(host),
      ...contextImports(host),
    },
    wasi: wasiImports(host),
  };
}

/** Fails with every missing import named, rather than the engine's first LinkError. */
function checkImports(module: WebAssembly.Module, imports: { env: HostFunctions; wasi: HostFunctions }, name: string): void {
  const missing: string[] = [];
  for (const i of WebAssembly.Module.imports(module)) {
    const table = i.module === 'env' ? imports.env : i.module === 'wasi_snapshot_preview1' || i.module === 'wasi_unstable' ? imports.wasi : null;
    if (i.kind !== 'function' || table === null || typeof table[i.name] !== 'function') missing.push(`${i.module}.${i.name}`);
  }
  if (missing.length > 0) {
    throw new FilterError(name, 'config', `the module imports what this proxy-wasm host does not provide: ${missing.join(', ')}`);
  }
}

