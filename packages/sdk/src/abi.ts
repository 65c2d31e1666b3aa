/**
 * The filter ABI: every function a Pillion host gives a filter module, and every function a
 * filter module may export for the host to call. This table is the one source of truth: the
 * host runtime (packages/workers/src/wasm) implements `hostFunctions`, the AssemblyScript library
 * (assembly/host.ts) declares them, a test compares the compiled library against this table,
 * and docs/sdk.md prints it.
 *
 * Conventions, chosen so that no call allocates inside the module on the host's behalf:
 * - Strings cross as UTF-16 code units: `(ptr, len)` with `len` counted in code units.
 * - A host function that returns a string copies it into a buffer the caller owns: `(dst, cap)`
 *   with `cap` in code units (bytes for bodies). It returns the full length, or -1 when the value
 *   is absent. When the length exceeds `cap` nothing is copied and the caller retries with a
 *   buffer at least that long.
 * - Header names are case-insensitive; the host lower-cases them.
 */

export type WasmType = 'i32' | 'f64';

export interface FunctionSignature {
  /** Parameter names, for the documentation. */
  readonly names: readonly string[];
  readonly params: readonly WasmType[];
  readonly results: readonly WasmType[];
  /** One line for the documentation table. */
  readonly doc: string;
}

/** The import module name of every host function. */
export const HOST_MODULE = 'pillion';

const fn = (names: string, params: readonly WasmType[], results: readonly WasmType[], doc: string): FunctionSignature => ({
  names: names === '' ? [] : names.split(' '),
  params,
  results,
  doc,
});
const I = 'i32';
const F = 'f64';

/** Functions the host provides, imported from module `pillion`. */
export const hostFunctions = {
  log: fn('level ptr len', [I, I, I], [], 'Writes a log line at a `LogLevel`.'),
  get_config: fn('dst cap', [I, I], [I], 'Copies the filter config (JSON text); returns its length.'),
  get_property: fn('property dst cap', [I, I, I], [I], 'Copies a request property (`Property`); returns its length.'),
  set_path: fn('ptr len', [I, I], [], 'Rewrites the request path (with its query).'),
  response_status: fn('', [], [I], 'Status of the upstream response, 0 before it arrives.'),
  header_get: fn('map name nameLen dst cap', [I, I, I, I, I], [I], 'Copies the first value of a header; returns its length, -1 when absent.'),
  header_count: fn('map name nameLen', [I, I, I], [I], 'How many lines carry that name.'),
  header_size: fn('map', [I], [I], 'Number of header lines, -1 when the map does not exist yet.'),
  header_name_at: fn('map index dst cap', [I, I, I, I], [I], 'Copies the name of the line at index; returns its length, -1 past the end.'),
  header_value_at: fn('map index dst cap', [I, I, I, I], [I], 'Copies the value of the line at index; returns its length, -1 past the end.'),
  header_set: fn('map name nameLen value valueLen', [I, I, I, I, I], [], 'Replaces every line of a name with one.'),
  header_add: fn('map name nameLen value valueLen', [I, I, I, I, I], [], 'Appends a line.'),
  header_remove: fn('map name nameLen', [I, I, I], [I], 'Removes every line of a name; returns how many.'),
  body_read: fn('dst cap', [I, I], [I], 'Copies the body the running body hook sees; `cap` and the result count bytes.'),
  buffer_body: fn('direction limit', [I, I], [], 'From a headers hook: deliver the whole body of `Direction` in one call, up to limit bytes.'),
  send_local_reply: fn(
    'status body bodyLen headers headersLen',
    [I, I, I, I, I],
    [],
    'Answers the request here (or replaces the response); headers as "name\\nvalue\\n" repeated.',
  ),
  set_cluster: fn('ptr len', [I, I], [], 'Sends the request to another cluster than its route picked.'),
  metric_define: fn('kind name nameLen', [I, I, I], [I], 'Defines (or finds) a counter or gauge (`MetricKind`); returns its id.'),
  metric_add: fn('id delta', [I, F], [], 'Adds to a counter or gauge.'),
  metric_set: fn('id value', [I, F], [], 'Sets a gauge.'),
  bucket_take: fn(
    'bucket tokens ratePerSec burst',
    [I, I, F, F],
    [I],
    'Takes tokens from a token bucket all workers share; 0 when granted, else ms to wait.',
  ),
  now_ms: fn('', [], [F], 'Wall-clock milliseconds (the host clock; tests inject it).'),
  random: fn('', [], [F], 'A number in [0, 1) (the host random source; tests inject it).'),
} as const satisfies Record<string, FunctionSignature>;

export type HostFunctionName = keyof typeof hostFunctions;

/**
 * Imports from `env` that AssemblyScript's standard library emits; the host provides them
 * (through @assemblyscript/loader) and nothing else.
 */
export const envFunctions = {
  abort: fn('message file line column', [I, I, I, I], [], 'A thrown error or a failed assertion.'),
  trace: fn('message n a0 a1 a2 a3 a4', [I, I, F, F, F, F, F], [], '`trace()` output, logged at debug.'),
  seed: fn('', [], [F], 'Seed for `Math.random`.'),
} as const satisfies Record<string, FunctionSignature>;

/** Functions a filter module may export. The host calls only those present. */
export const hookExports = {
  _start: fn('', [], [], 'Runs top-level code; called once after instantiation (built with --exportStart).'),
  configure: fn('configLen', [I], [I], 'Once per instance, before any request; returns 1 when the config is accepted.'),
  on_request_headers: fn('request', [I], [I], 'Request headers arrived; returns a `HookResult`.'),
  on_request_body: fn('request size end', [I, I, I], [I], 'A request body chunk (or the whole body) of `size` bytes arrived.'),
  on_response_headers: fn('request', [I], [I], 'Response headers arrived (upstream, or a local reply passing back).'),
  on_response_body: fn('request size end', [I, I, I], [I], 'A response body chunk arrived.'),
  on_log: fn('request', [I], [], 'The request is over; called once for every request the filter saw.'),
} as const satisfies Record<string, FunctionSignature>;

export type HookExportName = keyof typeof hookExports;

/** `map` argument of the header functions. */
export const HeaderMap = { Request: 0, Response: 1 } as const;
/**
 * `property` argument of get_property. ClientIdentity: the name of the client's verified TLS
 * certificate (its URI SAN, else its first DNS SAN, else its CN); empty without one.
 */
export const Property = { Method: 0, Path: 1, Authority: 2, ClientAddress: 3, ClientIdentity: 4 } as const;
/** `direction` argument of buffer_body. */
export const Direction = { Request: 0, Response: 1 } as const;
/** `level` argument of log. */
export const LogLevel = { Debug: 0, Info: 1, Warn: 2, Error: 3 } as const;
/** `kind` argument of metric_define. */
export const MetricKind = { Counter: 0, Gauge: 1 } as const;

/**
 * What a request hook returns: the action in the low byte, flags above it.
 * `Stop` ends the chain; the request is answered with the local reply the hook sent
 * (500 when it sent none).
 */
export const HookResult = {
  Continue: 0,
  Stop: 1,
  ActionMask: 0xff,
  /** The hook is the library's default: the host may stop calling it on this instance. */
  UnusedFlag: 0x100,
} as const;
