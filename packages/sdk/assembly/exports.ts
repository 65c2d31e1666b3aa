// The functions the host calls (src/abi.ts `hookExports`). `pillion-sdk build` compiles this
// file as a second entry next to the filter's own, so a filter file never lists them.

import { Context } from "./context";
import { registeredFilter, takeDefaultHookRan } from "./filter";
import { RESULT_UNUSED_FLAG, get_config } from "./host";
import { JsonKind, JsonValue } from "./json";

/** Contexts of the requests in flight, dropped in on_log. */
const contexts = new Map<u32, Context>();
let logUsed = true;

function context(id: u32): Context {
  if (contexts.has(id)) return contexts.get(id);
  const ctx = registeredFilter().createContext(id);
  contexts.set(id, ctx);
  return ctx;
}

function result(action: i32): i32 {
  return takeDefaultHookRan() ? action | RESULT_UNUSED_FLAG : action;
}

export function configure(configLen: i32): i32 {
  const buffer = new ArrayBuffer(configLen << 1);
  const n = get_config(changetype<usize>(buffer), configLen);
  const text = n <= 0 ? "" : String.UTF16.decodeUnsafe(changetype<usize>(buffer), <usize>min(n, configLen) << 1);
  const config = text.length == 0 ? new JsonValue(JsonKind.Object) : JsonValue.parse(text);
  registeredFilter().configure(config);
  return 1;
}

export function on_request_headers(id: u32): i32 {
  return result(registeredFilter().onRequestHeaders(context(id)));
}

export function on_request_body(id: u32, size: i32, end: i32): i32 {
  return result(registeredFilter().onRequestBody(context(id), size, end != 0));
}

export function on_response_headers(id: u32): i32 {
  return result(registeredFilter().onResponseHeaders(context(id)));
}

export function on_response_body(id: u32, size: i32, end: i32): i32 {
  return result(registeredFilter().onResponseBody(context(id), size, end != 0));
}

export function on_log(id: u32): void {
  let ctx: Context | null = null;
  if (contexts.has(id)) {
    ctx = contexts.get(id);
    contexts.delete(id);
  }
  // on_log also ends the request's context, so the host always calls it; once the filter's
  // onLog turns out to be the default, skip making a context just to call it.
  if (!logUsed) return;
  const filter = registeredFilter();
  filter.onLog(ctx !== null ? ctx : filter.createContext(id));
  if (takeDefaultHookRan()) logUsed = false;
}
