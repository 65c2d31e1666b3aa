/**
 * A host for filters written against Envoy's proxy-wasm ABI (0.2.0, 0.2.1), beside Pillion's own SDK:
 *
 * - abi: status codes, enums, and telling a proxy-wasm module by its exports
 * - pairs: the map serialization; vm-memory: values in and out of a module's memory
 * - imports-*: host functions by group (headers, buffers, properties, local response, shared data
 *   and queues, timers, metrics, logging and WASI)
 * - proxy-wasm-vm: one VM, its root context and a context per request
 * - proxy-wasm-filter: a `wasm:` entry of the filter chain, replacing its VM after a failure
 * - shared-data, shared-queues: the key-value store and the queues every worker's VMs of a filter share
 */
export { proxyWasmAbiOf, Status, MapType, BufferType, MetricType, LogLevel } from './abi.js';
export type { AbiVersion } from './abi.js';
export { serializePairs, deserializePairs } from './pairs.js';
export { ProxyWasmVm } from './proxy-wasm-vm.js';
export { ProxyWasmFilter, DEFAULT_MAX_BODY_BYTES } from './proxy-wasm-filter.js';
export type { ProxyWasmFilterOptions } from './proxy-wasm-filter.js';
export { SharedData, SHARED_DATA_DEFAULTS, usesSharedData } from './shared-data.js';
export type { SharedDataLimits } from './shared-data.js';
export { SharedQueues, SHARED_QUEUE_DEFAULTS, usesSharedQueues } from './shared-queues.js';
export type { SharedQueueLimits } from './shared-queues.js';
