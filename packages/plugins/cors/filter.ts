import { Action, Context, Filter, Headers, JsonValue, register } from "@pillion/sdk/assembly";

/** Answers CORS preflights and adds the CORS headers to responses for allowed origins. */
class Cors extends Filter {
  origins: string[] = [];
  methods: string = "GET, HEAD, POST";
  headers: string = "";
  expose: string = "";
  maxAge: string = "";
  credentials: bool = false;

  configure(config: JsonValue): void {
    this.origins = config.getStringArray("allow_origins");
    if (this.origins.length == 0) throw new Error("cors: allow_origins must list at least one origin (or \"*\")");
    if (config.has("allow_methods")) this.methods = config.getStringArray("allow_methods").join(", ");
    this.headers = config.getStringArray("allow_headers").join(", ");
    this.expose = config.getStringArray("expose_headers").join(", ");
    if (config.has("max_age")) this.maxAge = config.getInt("max_age").toString();
    this.credentials = config.getBool("allow_credentials", false);
  }

  /** The allow-origin value for this origin, or "" when it is not allowed. */
  allowed(origin: string): string {
    for (let i = 0; i < this.origins.length; i++) {
      if (this.origins[i] == origin) return origin;
      if (this.origins[i] == "*") return this.credentials ? origin : "*";
    }
    return "";
  }

  decorate(h: Headers, allow: string): void {
    h.set("access-control-allow-origin", allow);
    if (allow != "*") h.add("vary", "origin");
    if (this.credentials) h.set("access-control-allow-credentials", "true");
    if (this.expose.length > 0) h.set("access-control-expose-headers", this.expose);
  }

  onRequestHeaders(ctx: Context): Action {
    const origin = ctx.requestHeaders.get("origin");
    if (origin === null || ctx.method != "OPTIONS" || !ctx.requestHeaders.has("access-control-request-method")) {
      return Action.Continue;
    }
    if (this.allowed(origin).length == 0) return ctx.sendLocalReply(403, "origin not allowed\n");
    const asked = ctx.requestHeaders.get("access-control-request-headers");
    const reply = ["access-control-allow-methods", this.methods];
    const headers = this.headers.length > 0 ? this.headers : asked;
    if (headers !== null) reply.push("access-control-allow-headers");
    if (headers !== null) reply.push(headers);
    if (this.maxAge.length > 0) reply.push("access-control-max-age");
    if (this.maxAge.length > 0) reply.push(this.maxAge);
    return ctx.sendLocalReply(204, "", reply);
  }

  onResponseHeaders(ctx: Context): Action {
    const origin = ctx.requestHeaders.get("origin");
    if (origin === null) return Action.Continue;
    const allow = this.allowed(origin);
    if (allow.length > 0) this.decorate(ctx.responseHeaders, allow);
    return Action.Continue;
  }
}

register(new Cors());
