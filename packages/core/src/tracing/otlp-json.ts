/**
 * The OTLP/HTTP JSON encoding of an ExportTraceServiceRequest
 * (opentelemetry-proto, opentelemetry/proto/collector/trace/v1): resourceSpans → scopeSpans → spans,
 * ids as hex, times as decimal strings of nanoseconds since the epoch, 64-bit integers as strings.
 */

export const SPAN_KIND_SERVER = 2;
export const SPAN_KIND_CLIENT = 3;

export const STATUS_UNSET = 0;
export const STATUS_OK = 1;
export const STATUS_ERROR = 2;

export type AttributeValue = string | number | boolean;

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  kind: number;
  /** Milliseconds since the epoch, with a fraction (performance.timeOrigin + performance.now()). */
  startMs: number;
  endMs: number;
  /** Undefined values are left out. Integers become intValue, other numbers doubleValue. */
  attributes: Record<string, AttributeValue | undefined>;
  status: number;
  statusMessage?: string;
}

/** Milliseconds since the epoch (with a fraction) as a decimal string of nanoseconds, rounded to the nanosecond. */
export function msToUnixNanos(ms: number): string {
  let whole = Math.floor(ms);
  let frac = Math.round((ms - whole) * 1e6);
  if (frac >= 1e6) {
    whole++;
    frac -= 1e6;
  }
  return whole === 0 ? String(frac) : `${whole}${String(frac).padStart(6, '0')}`;
}

interface AnyValue {
  stringValue?: string;
  intValue?: string;
  doubleValue?: number;
  boolValue?: boolean;
}

function anyValue(v: AttributeValue): AnyValue {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
}

export function otlpAttributes(attrs: Record<string, AttributeValue | undefined>): { key: string; value: AnyValue }[] {
  const out: { key: string; value: AnyValue }[] = [];
  for (const key in attrs) {
    const v = attrs[key];
    if (v !== undefined) out.push({ key, value: anyValue(v) });
  }
  return out;
}

/** Attribute names are few and fixed: each is escaped once. */
const keyJson = new Map<string, string>();

/** The JSON text of otlpAttributes(attrs), written directly (the exporter's hot loop). */
function attributesJson(attrs: Record<string, AttributeValue | undefined>): string {
  let out = '';
  for (const key in attrs) {
    const v = attrs[key];
    if (v === undefined) continue;
    let k = keyJson.get(key);
    if (k === undefined) keyJson.set(key, (k = `{"key":${JSON.stringify(key)},"value":{`));
    const value =
      typeof v === 'string'
        ? `"stringValue":${JSON.stringify(v)}`
        : typeof v === 'boolean'
          ? `"boolValue":${v}`
          : Number.isInteger(v)
            ? `"intValue":"${v}"`
            : `"doubleValue":${Number.isFinite(v) ? v : JSON.stringify(String(v))}`;
    out += out === '' ? `${k}${value}}}` : `,${k}${value}}}`;
  }
  return `[${out}]`;
}

/** One span's JSON text. Ids are hex and the name, attributes and message are escaped. */
function spanJson(s: OtlpSpan): string {
  const parent = s.parentSpanId === '' ? '' : `"parentSpanId":"${s.parentSpanId}",`;
  const status = s.statusMessage === undefined ? `{"code":${s.status}}` : `{"code":${s.status},"message":${JSON.stringify(s.statusMessage)}}`;
  return (
    `{"traceId":"${s.traceId}","spanId":"${s.spanId}",${parent}"name":${JSON.stringify(s.name)},"kind":${s.kind},` +
    `"startTimeUnixNano":"${msToUnixNanos(s.startMs)}","endTimeUnixNano":"${msToUnixNanos(s.endMs)}",` +
    `"attributes":${attributesJson(s.attributes)},"status":${status}}`
  );
}

/**
 * The request body for POST /v1/traces: one resource, one instrumentation scope, the spans. Written
 * as text directly (the same document JSON.stringify would make of the objects, at a fraction of the
 * cost: no intermediate objects per attribute).
 */
export function encodeTraces(resource: Record<string, AttributeValue>, scope: { name: string; version: string }, spans: readonly OtlpSpan[]): string {
  let body = '';
  for (let i = 0; i < spans.length; i++) body += i === 0 ? spanJson(spans[i]!) : `,${spanJson(spans[i]!)}`;
  return `{"resourceSpans":[{"resource":{"attributes":${attributesJson(resource)}},"scopeSpans":[{"scope":${JSON.stringify(scope)},"spans":[${body}]}]}]}`;
}
