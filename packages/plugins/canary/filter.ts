import { Action, Context, Filter, JsonValue, random, register } from "@pillion/sdk/assembly";

/** The value of cookie `name` in a Cookie header, or null. */
function cookie(header: string, name: string): string | null {
  const pairs = header.split(";");
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i].trim();
    const eq = pair.indexOf("=");
    if (eq > 0 && pair.substring(0, eq) == name) return pair.substring(eq + 1);
  }
  return null;
}

/** Sends requests to a canary cluster: those with a header or a cookie, plus a share of the rest. */
class Canary extends Filter {
  cluster: string = "";
  percent: f64 = 0;
  header: string = "";
  headerValue: string = "";
  cookie: string = "";
  cookieValue: string = "";

  configure(config: JsonValue): void {
    this.cluster = config.getString("cluster");
    this.percent = config.getNumber("percent", 0);
    const header = config.getObject("header");
    this.header = header.getString("name");
    this.headerValue = header.getString("value");
    const cookie = config.getObject("cookie");
    this.cookie = cookie.getString("name");
    this.cookieValue = cookie.getString("value");
    if (this.cluster.length == 0) throw new Error("canary: cluster is required");
    if (!(this.percent >= 0 && this.percent <= 100)) throw new Error("canary: percent must be within 0..100");
  }

  chosen(ctx: Context): bool {
    if (this.header.length > 0) {
      const value = ctx.requestHeaders.get(this.header);
      if (value !== null && (this.headerValue.length == 0 || value == this.headerValue)) return true;
    }
    if (this.cookie.length > 0) {
      const cookies = ctx.requestHeaders.get("cookie");
      const value = cookies !== null ? cookie(cookies, this.cookie) : null;
      if (value !== null && (this.cookieValue.length == 0 || value == this.cookieValue)) return true;
    }
    return this.percent > 0 && random() * 100 < this.percent;
  }

  onRequestHeaders(ctx: Context): Action {
    if (this.chosen(ctx)) ctx.setCluster(this.cluster);
    return Action.Continue;
  }
}

register(new Canary());
