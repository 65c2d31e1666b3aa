/**
 * Trace context (issue 16): W3C traceparent and tracestate validation, B3 single and multi headers,
 * reading and writing them on a request, ids from an injected random source, the parent-based head
 * sampling decision, and the OTLP JSON encoding.
 */
import { describe, expect, it } from 'vitest';
import { HeaderList } from '../src/http/header-list.js';
import {
  IdGenerator,
  PROPAGATE_B3,
  PROPAGATE_W3C,
  encodeTraces,
  extractContext,
  formatB3Single,
  formatTraceparent,
  injectContext,
  isValidTracestate,
  keepTracestate,
  msToUnixNanos,
  parseB3Multi,
  parseB3Single,
  parseTraceparent,
  propagationBits,
  sampleDecision,
  type SpanContext,
} from '../src/tracing/index.js';

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const S = '00f067aa0ba902b7';

describe('traceparent', () => {
  it.each([
    [`00-${T}-${S}-01`, { traceId: T, spanId: S, sampled: true }],
    [`00-${T}-${S}-00`, { traceId: T, spanId: S, sampled: false }],
    [`00-${T}-${S}-03`, { traceId: T, spanId: S, sampled: true }], // unknown flag bits ignored
    [`00-${T}-${S}-02`, { traceId: T, spanId: S, sampled: false }],
    [`01-${T}-${S}-01`, { traceId: T, spanId: S, sampled: true }], // a later version, read as 00
    [`cc-${T}-${S}-01-what-the-future-holds`, { traceId: T, spanId: S, sampled: true }],
  ])('accepts %s', (value, ctx) => {
    expect(parseTraceparent(value)).toEqual(ctx);
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['version ff', `ff-${T}-${S}-01`],
    ['upper-case version', `0A-${T}-${S}-01`],
    ['version 00 with more after it', `00-${T}-${S}-01-extra`],
    ['later version, more without a dash', `01-${T}-${S}-01x`],
    ['upper-case trace id', `00-${T.toUpperCase()}-${S}-01`],
    ['upper-case span id', `00-${T}-00F067AA0BA902B7-01`],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${S}-01`],
    ['all-zero span id', `00-${T}-${'0'.repeat(16)}-01`],
    ['short trace id', `00-${T.slice(1)}-${S}-01x`],
    ['non-hex flags', `00-${T}-${S}-0g`],
    ['upper-case flags', `00-${T}-${S}-0A`],
    ['wrong separator', `00_${T}-${S}-01`],
    ['non-hex in trace id', `00-${T.slice(0, 31)}z-${S}-01`],
  ])('refuses %s', (_name, value) => {
    expect(parseTraceparent(value)).toBeNull();
  });

  it('formats version 00', () => {
    expect(formatTraceparent(T, S, true)).toBe(`00-${T}-${S}-01`);
    expect(formatTraceparent(T, S, false)).toBe(`00-${T}-${S}-00`);
  });
});

describe('tracestate', () => {
  it.each([
    ['rojo=00f067aa0ba902b7', true],
    ['rojo=00f067aa0ba902b7,congo=t61rcWkgMzE', true],
    ['rojo=1, congo=2 ,,\t', true],
    ['tenant@vendor=x', true],
    ['a=b c', true], // spaces inside a value
    ['', true],
    ['Rojo=1', false], // upper-case key
    ['rojo', false],
    ['=1', false],
    ['rojo=1,rojo=2', false], // duplicate key
    ['rojo=a=b', false], // '=' in a value
    ['rojo=a ', true], // trailing space is optional whitespace around the member
    ['rojo=a,b', false],
    ['t@toolongvendorname=1', false], // system part over 14 characters
    [Array.from({ length: 32 }, (_, i) => `k${i}=v`).join(','), true],
    [Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(','), false],
  ])('%j valid: %s', (value, ok) => {
    expect(isValidTracestate(value)).toBe(ok);
  });
});

describe('B3', () => {
  it.each([
    [`${T}-${S}-1`, { traceId: T, spanId: S, sampled: true }],
    [`${T}-${S}-0`, { traceId: T, spanId: S, sampled: false }],
    [`${T}-${S}-d`, { traceId: T, spanId: S, sampled: true }],
    [`${T}-${S}`, { traceId: T, spanId: S, sampled: undefined }],
    [`${T}-${S}-1-05e3ac9a4f6e3b90`, { traceId: T, spanId: S, sampled: true }],
    [`a3ce929d0e0e4736-${S}-1`, { traceId: `0000000000000000a3ce929d0e0e4736`, spanId: S, sampled: true }],
  ])('single %s', (value, ctx) => {
    expect(parseB3Single(value)).toEqual(ctx);
  });

  it.each([['0'], ['1'], ['d'], [`${T}-${S}-2`], [`${T}-${'0'.repeat(16)}-1`], [`${T.toUpperCase()}-${S}-1`], [`${T}-${S}-1-xyz`], [`${T}`], [`${T}-${S}-1-05e3ac9a4f6e3b90-x`]])(
    'single %s gives no context',
    (value) => {
      expect(parseB3Single(value)).toBeNull();
    },
  );

  const multi = (h: Record<string, string>) => parseB3Multi((n) => h[n]);
  it('multi', () => {
    expect(multi({ 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-sampled': '1' })).toEqual({ traceId: T, spanId: S, sampled: true });
    expect(multi({ 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-sampled': 'false' })).toEqual({ traceId: T, spanId: S, sampled: false });
    expect(multi({ 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-sampled': '0', 'x-b3-flags': '1' })).toEqual({ traceId: T, spanId: S, sampled: true });
    expect(multi({ 'x-b3-traceid': T, 'x-b3-spanid': S })).toEqual({ traceId: T, spanId: S, sampled: undefined });
    expect(multi({ 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-sampled': 'yes' })).toBeNull();
    expect(multi({ 'x-b3-traceid': T })).toBeNull();
    expect(multi({ 'x-b3-traceid': 'xyz', 'x-b3-spanid': S })).toBeNull();
  });

  it('formats a single value', () => {
    expect(formatB3Single(T, S, true, '')).toBe(`${T}-${S}-1`);
    expect(formatB3Single(T, S, false, '05e3ac9a4f6e3b90')).toBe(`${T}-${S}-0-05e3ac9a4f6e3b90`);
  });
});

describe('propagation on a request', () => {
  const both = propagationBits(['w3c', 'b3']);
  it('reads W3C first, then single b3, then X-B3-*', () => {
    const b3 = `${'1'.repeat(32)}-${'2'.repeat(16)}-0`;
    expect(extractContext(new HeaderList(['traceparent', `00-${T}-${S}-01`, 'b3', b3]), both)).toEqual({ traceId: T, spanId: S, sampled: true });
    expect(extractContext(new HeaderList(['traceparent', 'bad', 'b3', b3]), both)).toEqual({ traceId: '1'.repeat(32), spanId: '2'.repeat(16), sampled: false });
    expect(extractContext(new HeaderList(['x-b3-traceid', T, 'x-b3-spanid', S, 'x-b3-sampled', '1']), PROPAGATE_B3)).toEqual({ traceId: T, spanId: S, sampled: true });
    expect(extractContext(new HeaderList(['b3', b3]), PROPAGATE_W3C)).toBeNull();
    expect(extractContext(new HeaderList(['traceparent', `00-${T}-${S}-01`]), PROPAGATE_B3)).toBeNull();
  });

  it('replaces every incoming context field and keeps the rest in order', () => {
    const h = new HeaderList(['host', 'a', 'traceparent', 'old', 'x-b3-traceid', 'old', 'tracestate', 'k=v', 'b3', 'old', 'x-b3-sampled', '1', 'accept', '*/*']);
    injectContext(h, both, T, S, false, 'aaaaaaaaaaaaaaaa');
    expect(h.raw).toEqual([
      'host', 'a', 'tracestate', 'k=v', 'accept', '*/*',
      'traceparent', `00-${T}-${S}-00`,
      'b3', `${T}-${S}-0-aaaaaaaaaaaaaaaa`,
      'x-b3-traceid', T, 'x-b3-spanid', S, 'x-b3-parentspanid', 'aaaaaaaaaaaaaaaa', 'x-b3-sampled', '0',
    ]);
    injectContext(h, PROPAGATE_W3C, T, '1'.repeat(16), true, S);
    expect(h.raw).toEqual(['host', 'a', 'tracestate', 'k=v', 'accept', '*/*', 'traceparent', `00-${T}-${'1'.repeat(16)}-01`]);
  });

  it('keeps a valid tracestate only with a continued W3C context', () => {
    const h = () => new HeaderList(['tracestate', 'a=1', 'tracestate', 'b=2']);
    const kept = h();
    keepTracestate(kept, true);
    expect(kept.getAll('tracestate')).toEqual(['a=1', 'b=2']);
    const dropped = h();
    keepTracestate(dropped, false);
    expect(dropped.has('tracestate')).toBe(false);
    const invalid = new HeaderList(['tracestate', 'A=1']);
    keepTracestate(invalid, true);
    expect(invalid.has('tracestate')).toBe(false);
  });
});

describe('ids', () => {
  it('draws hex ids from the source in blocks and skips all-zero ones', () => {
    let calls = 0;
    const bytes = [Array(16).fill(0), Array.from({ length: 16 }, (_, i) => i), Array(8).fill(0), Array(8).fill(255)].flat();
    const ids = new IdGenerator((buf) => {
      calls++;
      buf.set(bytes.slice(0, buf.length));
    }, 48);
    expect(ids.traceId()).toBe('000102030405060708090a0b0c0d0e0f');
    expect(ids.spanId()).toBe('ffffffffffffffff');
    expect(calls).toBe(1);
    ids.spanId();
    expect(calls).toBe(2);
  });

  it('draws a trace id and its first span id in one piece, drawing again while either is all zero', () => {
    // 24 bytes each: zero trace part, then zero span part, then both good.
    const draws = [
      [Array(16).fill(0), Array(8).fill(1)],
      [Array(16).fill(2), Array(8).fill(0)],
      [Array.from({ length: 16 }, (_, i) => i), Array(8).fill(255)],
    ].flat(2);
    const ids = new IdGenerator((buf) => buf.set(draws.slice(0, buf.length)), 72);
    const both = ids.traceAndSpanIds();
    expect(both).toBe('000102030405060708090a0b0c0d0e0fffffffffffffffff');
    expect([both.slice(0, 32), both.slice(32)]).toEqual(['000102030405060708090a0b0c0d0e0f', 'ffffffffffffffff']);
  });
});

describe('head sampling', () => {
  const never = (): number => {
    throw new Error('random drawn');
  };
  it.each([
    ['sampled parent', { traceId: T, spanId: S, sampled: true }, 0, never, true],
    ['unsampled parent', { traceId: T, spanId: S, sampled: false }, 1, never, false],
    ['deferred parent, drawn under the ratio', { traceId: T, spanId: S, sampled: undefined }, 0.25, () => 0.2, true],
    ['no parent, drawn under the ratio', null, 0.25, () => 0.2499, true],
    ['no parent, drawn at the ratio', null, 0.25, () => 0.25, false],
    ['no parent, ratio 1', null, 1, never, true],
    ['no parent, ratio 0', null, 0, never, false],
  ] as [string, SpanContext | null, number, () => number, boolean][])('%s', (_name, parent, ratio, random, expected) => {
    expect(sampleDecision(parent, ratio, random)).toBe(expected);
  });
});

describe('OTLP JSON', () => {
  it('times are nanoseconds as decimal strings', () => {
    expect(msToUnixNanos(1_700_000_000_123.5)).toBe('1700000000123500000');
    expect(msToUnixNanos(1_700_000_000_000)).toBe('1700000000000000000');
    expect(msToUnixNanos(1.9999999)).toBe('2000000');
    expect(msToUnixNanos(0.25)).toBe('250000');
  });

  it('encodes an ExportTraceServiceRequest', () => {
    const body = JSON.parse(
      encodeTraces({ 'service.name': 'pillion' }, { name: 'pillion', version: '1' }, [
        { traceId: T, spanId: S, parentSpanId: '', name: 'GET', kind: 2, startMs: 1000, endMs: 1001.5, attributes: { 'http.response.status_code': 200, a: 'x', b: true, c: 0.5, d: undefined }, status: 0 },
        { traceId: T, spanId: '1'.repeat(16), parentSpanId: S, name: 'GET', kind: 3, startMs: 1000, endMs: 1001, attributes: {}, status: 2, statusMessage: 'reset' },
      ]),
    );
    expect(body).toEqual({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'pillion' } }] },
          scopeSpans: [
            {
              scope: { name: 'pillion', version: '1' },
              spans: [
                {
                  traceId: T, spanId: S, name: 'GET', kind: 2, startTimeUnixNano: '1000000000', endTimeUnixNano: '1001500000',
                  attributes: [
                    { key: 'http.response.status_code', value: { intValue: '200' } },
                    { key: 'a', value: { stringValue: 'x' } },
                    { key: 'b', value: { boolValue: true } },
                    { key: 'c', value: { doubleValue: 0.5 } },
                  ],
                  status: { code: 0 },
                },
                { traceId: T, spanId: '1'.repeat(16), parentSpanId: S, name: 'GET', kind: 3, startTimeUnixNano: '1000000000', endTimeUnixNano: '1001000000', attributes: [], status: { code: 2, message: 'reset' } },
              ],
            },
          ],
        },
      ],
    });
  });
});
