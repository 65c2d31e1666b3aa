// The Pillion filter SDK for AssemblyScript.
//
//   import { Filter, Context, Action, register } from "@pillion/sdk/assembly";
//
//   class AddHeader extends Filter {
//     onRequestHeaders(ctx: Context): Action {
//       ctx.requestHeaders.set("x-hello", "world");
//       return Action.Continue;
//     }
//   }
//   register(new AddHeader());

export { Action } from "./action";
export { Context } from "./context";
export { Filter, register } from "./filter";
export { Headers } from "./headers";
export { JsonKind, JsonValue } from "./json";
export { LogLevel, log } from "./log";
export { Counter, Gauge } from "./metrics";
export { TokenBucket, nowMs, random } from "./shared";
