/**
 * Why a filter failed:
 * - `trap`: the module trapped (unreachable, out-of-bounds access, stack overflow, ...)
 * - `abort`: the module threw or failed an assertion (AssemblyScript's abort)
 * - `memory`: the instance's memory grew past `max_memory`
 * - `host`: a host call refused its arguments (an invalid header, a call outside a hook, ...)
 * - `config`: the module rejected its config or failed while starting
 * - `crashed`: the request was in flight on an instance that failed in another request
 */
export type FilterErrorKind = 'trap' | 'abort' | 'memory' | 'host' | 'config' | 'crashed';

export class FilterError extends Error {
  readonly kind: FilterErrorKind;
  readonly filter: string;
  /** What went wrong, without the filter's name and the kind. */
  readonly detail: string;

  constructor(filter: string, kind: FilterErrorKind, detail: string, options?: { cause?: unknown }) {
    super(`filter ${filter}: ${kind}: ${detail}`, options);
    this.name = 'FilterError';
    this.filter = filter;
    this.kind = kind;
    this.detail = detail;
  }
}

/** A host call rejected what the module passed; surfaces as a `host` failure of the filter. */
export class HostCallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostCallError';
  }
}

/** Classifies what a hook call threw. */
export function toFilterError(filter: string, error: unknown): FilterError {
  if (error instanceof FilterError) return error;
  if (error instanceof HostCallError) return new FilterError(filter, 'host', error.message, { cause: error });
  if (error instanceof WebAssembly.RuntimeError) return new FilterError(filter, 'trap', error.message, { cause: error });
  if (error instanceof RangeError && /call stack/i.test(error.message)) {
    return new FilterError(filter, 'trap', error.message, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  if (message.startsWith('abort:')) return new FilterError(filter, 'abort', message.slice(7), { cause: error });
  return new FilterError(filter, 'host', message, { cause: error });
}
