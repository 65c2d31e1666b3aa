/**
 * The WASM filter host: runs filters built with @pillion/sdk inside a worker.
 *
 * - filter-request: what the pipeline hands the chain per request
 * - filter-chain: the ordered filters of a listener, and the per-request calls
 * - wasm-filter / filter-instance: one module, its config, and the instance requests run on
 * - filter-metrics: counters and gauges filters define; shared-buckets: cross-thread token buckets
 * - harness-runtime: runs described requests through a chain, for `pillion-sdk test`
 */
export { Action } from './action.js';
export type { FilterRequest } from './filter-request.js';
export { FilterChain } from './filter-chain.js';
export type { FilterChainOptions } from './filter-chain.js';
export { FilterChainState } from './chain-state.js';
export { WasmFilter, DEFAULT_MAX_MEMORY } from './wasm-filter.js';
export type { WasmFilterOptions } from './wasm-filter.js';
export { FilterInstance } from './filter-instance.js';
export type { BucketRange, FilterLogger, FilterLogLevel } from './filter-instance.js';
export { FilterError } from './filter-error.js';
export type { FilterErrorKind } from './filter-error.js';
export { FilterMetrics, MAX_METRICS_PER_FILTER } from './filter-metrics.js';
export type { MetricKind } from './filter-metrics.js';
export { AtomicBuckets } from './shared-buckets.js';
export type { SharedBuckets } from './shared-buckets.js';
export { Hook } from './hooks.js';
export { RecordingRequest } from './recording-request.js';
export type { LocalReply, RecordingRequestInit } from './recording-request.js';
export { harnessRuntime } from './harness-runtime.js';
export type { ChainFilter, ChainInstance } from './chain-filter.js';
export * as proxyWasm from './proxy-wasm/index.js';
