import { Action, Context, Counter, Filter, JsonValue, register } from "@pillion/sdk/assembly";

/** Compares in time that depends on the lengths only, not on where the strings differ. */
function same(a: string, b: string): bool {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i < b.length ? i : 0);
  return diff == 0;
}

/** Lets through requests that carry one of the configured keys; answers 401 otherwise. */
class ApiKey extends Filter {
  header: string = "x-api-key";
  keys: string[] = [];
  strip: bool = true;
  rejected: Counter = new Counter("rejected");

  configure(config: JsonValue): void {
    this.header = config.getString("header", this.header);
    this.keys = config.getStringArray("keys");
    this.strip = config.getBool("strip", true);
    if (this.keys.length == 0) throw new Error("api-key: keys must list at least one key");
  }

  onRequestHeaders(ctx: Context): Action {
    const key = ctx.requestHeaders.get(this.header);
    let ok = false;
    if (key !== null) for (let i = 0; i < this.keys.length; i++) ok = same(key, this.keys[i]) || ok;
    if (!ok) {
      this.rejected.inc();
      return ctx.sendLocalReply(401, "missing or invalid API key\n", ["www-authenticate", "ApiKey header=" + this.header]);
    }
    if (this.strip) ctx.requestHeaders.remove(this.header);
    return Action.Continue;
  }
}

register(new ApiKey());
