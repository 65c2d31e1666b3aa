/**
 * The proxy-wasm ABI (0.2.0 and 0.2.1, as github.com/proxy-wasm/spec defines them): the codes and
 * enums host calls and callbacks pass, and how a module says which version it speaks.
 */

/** `proxy_status_t`: what every host function returns. */
export const Status = {
  Ok: 0,
  NotFound: 1,
  BadArgument: 2,
  SerializationFailure: 3,
  ParseFailure: 4,
  InvalidMemoryAccess: 6,
  Empty: 7,
  CasMismatch: 8,
  InternalFailure: 10,
  Unimplemented: 12,
} as const;

/** `proxy_log_level_t`. */
export const LogLevel = { Trace: 0, Debug: 1, Info: 2, Warn: 3, Error: 4, Critical: 5 } as const;

/** `proxy_map_type_t`. */
export const MapType = {
  HttpRequestHeaders: 0,
  HttpRequestTrailers: 1,
  HttpResponseHeaders: 2,
  HttpResponseTrailers: 3,
  GrpcCallInitialMetadata: 4,
  GrpcCallTrailingMetadata: 5,
  HttpCallResponseHeaders: 6,
  HttpCallResponseTrailers: 7,
} as const;

/** `proxy_buffer_type_t`. */
export const BufferType = {
  HttpRequestBody: 0,
  HttpResponseBody: 1,
  DownstreamData: 2,
  UpstreamData: 3,
  HttpCallResponseBody: 4,
  GrpcCallMessage: 5,
  VmConfiguration: 6,
  PluginConfiguration: 7,
  ForeignFunctionArguments: 8,
} as const;

/** `proxy_metric_type_t`. */
export const MetricType = { Counter: 0, Gauge: 1, Histogram: 2 } as const;

/**
 * What HTTP callbacks return. `proxy_action_t` names 0 and 1 (Continue, Pause); Envoy reads a body
 * callback's 1 as StopIterationAndBuffer, 2 as StopIterationAndWatermark, 3 as StopIterationNoBuffer.
 */
export const Action = { Continue: 0, Pause: 1 } as const;

/** `wasi_errno_t`, for the few WASI functions the spec asks hosts to provide. */
export const WasiErrno = { Success: 0, Badf: 8, Fault: 21, Inval: 28, Notsup: 58 } as const;

export type AbiVersion = '0.2.0' | '0.2.1';

const MARKERS: Record<string, AbiVersion> = {
  proxy_abi_version_0_2_1: '0.2.1',
  proxy_abi_version_0_2_0: '0.2.0',
};

/** The proxy-wasm ABI a module speaks, from its `proxy_abi_version_*` export; null for any other module. */
export function proxyWasmAbiOf(module: WebAssembly.Module): AbiVersion | null {
  let found: AbiVersion | null = null;
  for (const e of WebAssembly.Module.exports(module)) {
    const version = MARKERS[e.name];
    if (e.kind === 'function' && version !== undefined && (found === null || version > found)) found = version;
  }
  return found;
}
