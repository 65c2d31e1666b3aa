/**
 * B3 propagation (https://github.com/openzipkin/b3-propagation): the single `b3` header and the
 * `X-B3-*` headers. A 64-bit trace id is widened to 128 bits with leading zeros, as W3C and OTLP
 * need. Debug (`d`, `X-B3-Flags: 1`) counts as sampled.
 */
import { isHexId, type SpanContext } from './span-context.js';

/** Header names of multi-header B3, lower-case. */
export const B3_TRACE_ID = 'x-b3-traceid';
export const B3_SPAN_ID = 'x-b3-spanid';
export const B3_PARENT_SPAN_ID = 'x-b3-parentspanid';
export const B3_SAMPLED = 'x-b3-sampled';
export const B3_FLAGS = 'x-b3-flags';

function traceIdOf(s: string): string | null {
  if (isHexId(s, 32)) return s;
  if (isHexId(s, 16)) return `0000000000000000${s}`;
  return null;
}

function samplingState(s: string | undefined): boolean | undefined | null {
  if (s === undefined) return undefined;
  if (s === '1' || s === 'd') return true;
  if (s === '0') return false;
  return null;
}

/**
 * Parses a single `b3` value: `{trace id}-{span id}[-{1|0|d}[-{parent span id}]]`. A value with only
 * a sampling state (`0`, `1`, `d`) carries no context to continue: null, like an invalid one.
 */
export function parseB3Single(value: string | undefined): SpanContext | null {
  if (value === undefined) return null;
  const parts = value.split('-');
  if (parts.length < 2 || parts.length > 4) return null;
  const traceId = traceIdOf(parts[0]!);
  const spanId = parts[1]!;
  if (traceId === null || !isHexId(spanId, 16)) return null;
  const sampled = samplingState(parts[2]);
  if (sampled === null) return null;
  if (parts.length === 4 && !isHexId(parts[3]!, 16)) return null;
  return { traceId, spanId, sampled };
}

/** Parses `X-B3-TraceId`, `X-B3-SpanId`, `X-B3-Sampled` (`1`, `0`, `true`, `false`) and `X-B3-Flags`. */
export function parseB3Multi(get: (name: string) => string | undefined): SpanContext | null {
  const t = get(B3_TRACE_ID);
  const s = get(B3_SPAN_ID);
  if (t === undefined || s === undefined) return null;
  const traceId = traceIdOf(t);
  if (traceId === null || !isHexId(s, 16)) return null;
  let sampled: boolean | undefined;
  if (get(B3_FLAGS) === '1') sampled = true;
  else {
    const v = get(B3_SAMPLED);
    if (v === '1' || v === 'true') sampled = true;
    else if (v === '0' || v === 'false') sampled = false;
    else if (v !== undefined) return null;
  }
  return { traceId, spanId: s, sampled };
}

/** A single `b3` value; `parentSpanId` '' leaves the parent out. */
export function formatB3Single(traceId: string, spanId: string, sampled: boolean, parentSpanId: string): string {
  const v = `${traceId}-${spanId}-${sampled ? '1' : '0'}`;
  return parentSpanId === '' ? v : `${v}-${parentSpanId}`;
}
