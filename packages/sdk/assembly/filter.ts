import { Action } from "./action";
import { Context } from "./context";
import { JsonValue } from "./json";

/** Set by the default hooks so the host learns which hooks a filter does not use. */
let defaultHookRan = false;

/** @internal Read and cleared by the exported hooks. */
export function takeDefaultHookRan(): bool {
  const ran = defaultHookRan;
  defaultHookRan = false;
  return ran;
}

/**
 * A filter: override the hooks you need. Each hook runs when its phase of a request reaches
 * the filter and returns `Action.Continue` to go on or `Action.Stop` after a local reply.
 *
 * The defaults continue and tell the host the hook is unused, so the host stops calling it.
 * An override therefore must not call `super.onXxx()`.
 */
export abstract class Filter {
  /** Called once per instance with the `config:` object of the filter's entry. Throw to reject it. */
  configure(config: JsonValue): void {}

  /** Makes the per-request context. Override to return a subclass with your own fields. */
  createContext(id: u32): Context {
    return new Context(id);
  }

  /** Request headers arrived. The place to check, rewrite, route or reject. */
  onRequestHeaders(ctx: Context): Action {
    defaultHookRan = true;
    return Action.Continue;
  }

  /**
   * A request body chunk of `size` bytes arrived (`ctx.body()` reads it); `end` on the last.
   * After `ctx.bufferRequestBody()` this runs once with the whole body.
   */
  onRequestBody(ctx: Context, size: i32, end: bool): Action {
    defaultHookRan = true;
    return Action.Continue;
  }

  /** The upstream response's headers arrived. */
  onResponseHeaders(ctx: Context): Action {
    defaultHookRan = true;
    return Action.Continue;
  }

  /** A response body chunk arrived; like `onRequestBody`. */
  onResponseBody(ctx: Context, size: i32, end: bool): Action {
    defaultHookRan = true;
    return Action.Continue;
  }

  /** The request is over (answered, failed or aborted). Runs for every request the filter saw. */
  onLog(ctx: Context): void {
    defaultHookRan = true;
  }
}

let registered: Filter | null = null;

/** Makes `filter` the module's filter. Call it once, at top level. */
export function register(filter: Filter): void {
  registered = filter;
}

/** @internal */
export function registeredFilter(): Filter {
  const filter = registered;
  if (filter === null) throw new Error("no filter registered: call register(new MyFilter()) at top level");
  return filter;
}
