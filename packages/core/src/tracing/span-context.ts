/**
 * A span's context as it travels between services: the trace it belongs to, its own id, and whether
 * the caller sampled it. Ids are lower-case hex: 32 digits for a trace, 16 for a span.
 */
export interface SpanContext {
  readonly traceId: string;
  readonly spanId: string;
  /** The caller's sampling decision; undefined when it deferred it (B3 without a sampling state). */
  readonly sampled: boolean | undefined;
}

const LOWER_HEX = /^[0-9a-f]+$/;

/** `s` is `length` lower-case hex digits, not all zero (W3C and B3 both forbid an all-zero id). */
export function isHexId(s: string, length: number): boolean {
  return s.length === length && LOWER_HEX.test(s) && !/^0+$/.test(s);
}
