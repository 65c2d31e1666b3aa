import { HeaderList } from '@pillion/core';
import type {
  CaseRun, HarnessEnv, HarnessFilter, HarnessRuntime, HeaderPairs, RequestSpec, ResponseSpec,
} from '@pillion/sdk/harness';
import { Action } from './action.js';
import { FilterChain } from './filter-chain.js';
import { FilterError } from './filter-error.js';
import { RecordingRequest } from './recording-request.js';
import { AtomicBuckets } from './shared-buckets.js';
import { WasmFilter } from './wasm-filter.js';

/** Buckets a filter under test may use, as in the proxy. */
const BUCKETS = 16;
const encoder = new TextEncoder();

function flat(pairs: HeaderPairs | undefined): string[] {
  const raw: string[] = [];
  for (const [name, value] of pairs ?? []) raw.push(name, value);
  return raw;
}

function pairs(headers: HeaderList | null | undefined): HeaderPairs {
  const out: HeaderPairs = [];
  if (headers) for (let i = 0; i < headers.size; i++) out.push([headers.nameAt(i), headers.valueAt(i)]);
  return out;
}

/**
 * One filter in a chain of its own, driven the way the L7 pipeline drives a chain: request
 * headers, body chunks, the upstream response (or the local reply passed back through the
 * response hooks), then onLog.
 */
class ChainHarness implements HarnessFilter {
  private readonly filter: WasmFilter;
  private readonly chain: FilterChain;
  private errors: string[] = [];

  constructor(module: WebAssembly.Module, configJson: string, env: HarnessEnv) {
    this.filter = ChainHarness.start(module, configJson, env);
    this.chain = new FilterChain([this.filter], {
      onFilterError: (_name, error) => this.errors.push(`${error.kind}: ${error.detail}`),
    });
  }

  /** The filter, or an error saying why it did not start (without the name it has only here). */
  private static start(module: WebAssembly.Module, configJson: string, env: HarnessEnv): WasmFilter {
    try {
      return ChainHarness.create(module, configJson, env);
    } catch (error) {
      if (error instanceof FilterError) throw new Error(`${error.kind}: ${error.detail}`, { cause: error });
      throw error;
    }
  }

  private static create(module: WebAssembly.Module, configJson: string, env: HarnessEnv): WasmFilter {
    return new WasmFilter(module, {
      name: 'filter',
      config: configJson,
      now: () => env.now(),
      random: () => env.random(),
      log: (_filter, level, message) => env.log(level, message),
      buckets: { shared: AtomicBuckets.create(BUCKETS), base: 0, count: BUCKETS },
    });
  }

  metrics(): Record<string, number> {
    return this.filter.metrics.snapshot();
  }

  run(request: RequestSpec, response: ResponseSpec): CaseRun {
    this.errors = [];
    const chain = this.chain;
    const req = new RecordingRequest({
      method: request.method,
      path: request.path,
      authority: request.authority,
      clientAddress: request.clientAddress,
      clientIdentity: request.clientIdentity,
      headers: flat(request.headers),
    });
    let action = chain.onRequestHeaders(req);
    if (action !== Action.LocalReply) action = this.body(req, request.body, true);
    let status: number;
    if (action !== Action.LocalReply) {
      status = response.status ?? 200;
      req.respond(status, new HeaderList(flat(response.headers)));
      action = chain.onResponseHeaders(req);
      if (action !== Action.LocalReply) action = this.body(req, response.body, false);
    } else {
      // Filters that saw the request see its local reply, as they would in the proxy.
      const reply = req.localReply!;
      status = reply.status;
      req.respond(reply.status, new HeaderList(reply.headers ? reply.headers.raw.slice() : []));
      const again = chain.onResponseHeaders(req);
      if (again !== Action.LocalReply) action = Action.Continue;
    }
    const reply = req.localReply;
    const replaced = action === Action.LocalReply && reply !== null;
    const run: CaseRun = {
      localReply: reply && { status: reply.status, body: reply.body, headers: pairs(reply.headers) },
      requestHeaders: pairs(req.requestHeaders),
      path: req.path,
      cluster: req.cluster,
      status: replaced ? reply.status : status,
      responseHeaders: replaced ? pairs(reply.headers) : pairs(req.responseHeaders),
      errors: this.errors,
    };
    chain.onLog(req);
    return run;
  }

  private body(req: RecordingRequest, chunks: string[] | undefined, request: boolean): Action {
    const list = chunks && chunks.length > 0 ? chunks : [''];
    for (let i = 0; i < list.length; i++) {
      const bytes = encoder.encode(list[i]);
      const end = i === list.length - 1;
      const action = request ? this.chain.onRequestBody(req, bytes, end) : this.chain.onResponseBody(req, bytes, end);
      if (action === Action.LocalReply) return action;
    }
    return Action.Continue;
  }
}

/** The runtime `pillion-sdk test` runs filters on: this host, with a clock and random source it injects. */
export const harnessRuntime: HarnessRuntime = {
  createFilter: (module, configJson, env) => new ChainHarness(module, configJson, env),
};
