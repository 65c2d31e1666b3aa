/**
 * The contract between the test harness and the host runtime that runs filters. The proxy's own
 * runtime (@pillion/workers, src/wasm/harness-runtime.ts) implements it, so a filter under test
 * runs exactly as it will in the proxy.
 */

export type HeaderPairs = Array<[string, string]>;

/** One request to drive through a filter. */
export interface RequestSpec {
  method?: string;
  path?: string;
  authority?: string;
  clientAddress?: string;
  /** The verified client certificate's identity (Context.clientIdentity); none by default. */
  clientIdentity?: string;
  headers?: HeaderPairs;
  /** Body chunks, in order (none: a request without a body). */
  body?: string[];
}

/** What the upstream answers, when the request gets that far. */
export interface ResponseSpec {
  status?: number;
  headers?: HeaderPairs;
  body?: string[];
}

/** What happened to one request. */
export interface CaseRun {
  /** The reply a filter (or the chain, on a failure) sent instead of forwarding, as sent. */
  localReply: { status: number; body: string; headers: HeaderPairs } | null;
  /** The request as it would go upstream. */
  requestHeaders: HeaderPairs;
  path: string;
  cluster: string | null;
  /** What the client gets: the upstream response or the local reply, after response hooks. */
  status: number;
  responseHeaders: HeaderPairs;
  /** Filter failures reported during the request. */
  errors: string[];
}

export interface HarnessEnv {
  now(): number;
  random(): number;
  log(level: string, message: string): void;
}

/** One filter, configured, ready to take requests. */
export interface HarnessFilter {
  run(request: RequestSpec, response: ResponseSpec): CaseRun;
  /** The filter's counters and gauges, name → value. */
  metrics(): Record<string, number>;
}

export interface HarnessRuntime {
  /** Instantiates `module` with `configJson` the way a worker does. Throws when the filter fails to start. */
  createFilter(module: WebAssembly.Module, configJson: string, env: HarnessEnv): HarnessFilter;
}
