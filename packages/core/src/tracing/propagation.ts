/**
 * Reading a caller's span context from request fields and writing the proxy's into the request it
 * sends upstream, in the formats a listener propagates (W3C, B3, or both; W3C is read first).
 */
import type { HeaderList } from '../http/header-list.js';
import { B3_FLAGS, B3_PARENT_SPAN_ID, B3_SAMPLED, B3_SPAN_ID, B3_TRACE_ID, formatB3Single, parseB3Multi, parseB3Single } from './b3.js';
import type { SpanContext } from './span-context.js';
import { formatTraceparent, isValidTracestate, parseTraceparent } from './w3c.js';

export const PROPAGATION_FORMATS = ['w3c', 'b3'] as const;
export type PropagationFormat = (typeof PROPAGATION_FORMATS)[number];

/** Formats as a bit set: one number to test per request. */
export const PROPAGATE_W3C = 1;
export const PROPAGATE_B3 = 2;

export function propagationBits(formats: readonly PropagationFormat[]): number {
  let bits = 0;
  for (const f of formats) bits |= f === 'w3c' ? PROPAGATE_W3C : PROPAGATE_B3;
  return bits;
}

/** The caller's context in the first format (W3C, then single `b3`, then `X-B3-*`) that holds a valid one. */
export function extractContext(h: HeaderList, bits: number): SpanContext | null {
  if ((bits & PROPAGATE_W3C) !== 0) {
    const ctx = parseTraceparent(h.get('traceparent'));
    if (ctx !== null) return ctx;
  }
  if ((bits & PROPAGATE_B3) !== 0) {
    const single = h.get('b3');
    if (single !== undefined) return parseB3Single(single);
    return parseB3Multi((name) => h.get(name));
  }
  return null;
}

/** The fields the proxy replaces: a caller's context must never reach the upstream beside the proxy's own. */
const B3_FIELDS: ReadonlySet<string> = new Set([B3_TRACE_ID, B3_SPAN_ID, B3_PARENT_SPAN_ID, B3_SAMPLED, B3_FLAGS]);
const isContextField = (name: string) => name === 'traceparent' || name === 'b3' || (name.startsWith('x-b3-') && B3_FIELDS.has(name));

/**
 * Writes `traceId`/`spanId` (the proxy's client span, child of `parentSpanId`) into the upstream
 * request: every incoming traceparent and B3 field is removed, then the configured formats are added.
 * `tracestate` is kept as it came.
 */
export function injectContext(h: HeaderList, bits: number, traceId: string, spanId: string, sampled: boolean, parentSpanId: string): void {
  const raw = h.raw;
  let w = 0;
  for (let r = 0; r < raw.length; r += 2) {
    if (isContextField(raw[r]!)) continue;
    if (w !== r) {
      raw[w] = raw[r]!;
      raw[w + 1] = raw[r + 1]!;
    }
    w += 2;
  }
  // Setting an array's length is slow even when it does not change; most requests carry no context.
  if (w !== raw.length) raw.length = w;
  if ((bits & PROPAGATE_W3C) !== 0) raw.push('traceparent', formatTraceparent(traceId, spanId, sampled));
  if ((bits & PROPAGATE_B3) !== 0) {
    raw.push('b3', formatB3Single(traceId, spanId, sampled, parentSpanId));
    raw.push(B3_TRACE_ID, traceId, B3_SPAN_ID, spanId);
    if (parentSpanId !== '') raw.push(B3_PARENT_SPAN_ID, parentSpanId);
    raw.push(B3_SAMPLED, sampled ? '1' : '0');
  }
}

/**
 * The caller's `tracestate` when it may go on: the context came as a valid traceparent and the
 * value follows the rules. Otherwise the field is removed (it belongs to a trace not continued).
 */
export function keepTracestate(h: HeaderList, continuedW3c: boolean): void {
  if (!h.has('tracestate')) return;
  if (continuedW3c) {
    const lines = h.getAll('tracestate');
    const value = lines.length === 1 ? lines[0]! : lines.join(',');
    if (isValidTracestate(value)) return;
  }
  h.remove('tracestate');
}
