import { Action, Context, Counter, Filter, JsonValue, TokenBucket, register } from "@pillion/sdk/assembly";

/**
 * A request rate limit for the whole proxy: one token bucket shared by every worker thread.
 * Over the limit, answers 429 with retry-after.
 */
class LocalRateLimit extends Filter {
  bucket: TokenBucket = new TokenBucket(0, 1, 1);
  limited: Counter = new Counter("limited");

  configure(config: JsonValue): void {
    const rate = config.getNumber("requests_per_second", 0);
    const burst = config.getNumber("burst", rate);
    if (!(rate > 0)) throw new Error("local-rate-limit: requests_per_second must be above 0");
    if (!(burst >= 1)) throw new Error("local-rate-limit: burst must be at least 1");
    this.bucket = new TokenBucket(config.getInt("bucket", 0), rate, burst);
  }

  onRequestHeaders(ctx: Context): Action {
    const waitMs = this.bucket.take(1);
    if (waitMs == 0) return Action.Continue;
    this.limited.inc();
    const seconds = (waitMs + 999) / 1000;
    return ctx.sendLocalReply(429, "rate limit exceeded\n", ["retry-after", seconds.toString()]);
  }
}

register(new LocalRateLimit());
