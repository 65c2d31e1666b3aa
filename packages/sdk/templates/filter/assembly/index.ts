import { Action, Context, Counter, Filter, JsonValue, register } from "@pillion/sdk/assembly";

/**
 * __NAME__: adds a header to every request and, when `require` is set, answers 403 to requests
 * that lack that header.
 */
class __CLASS__ extends Filter {
  header: string = "x-hello";
  value: string = "world";
  require: string = "";
  denied: Counter = new Counter("denied");

  configure(config: JsonValue): void {
    this.header = config.getString("header", this.header);
    this.value = config.getString("value", this.value);
    this.require = config.getString("require", "");
  }

  onRequestHeaders(ctx: Context): Action {
    if (this.require.length > 0 && !ctx.requestHeaders.has(this.require)) {
      this.denied.inc();
      return ctx.sendLocalReply(403, "missing " + this.require + "\n");
    }
    ctx.requestHeaders.set(this.header, this.value);
    return Action.Continue;
  }
}

register(new __CLASS__());
