import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, HeaderList, REQUEST_REJECTIONS as R, checkRequest } from '../src/http/index.js';
import type { RequestLimits, RequestVerdict } from '../src/http/index.js';

interface Row {
  name: string;
  method?: string;
  url?: string;
  headers?: string[];
  minor?: number;
  limits?: RequestLimits;
  verdict: RequestVerdict;
}

const HOST = ['host', 'example.com'];
const NONE: RequestVerdict = { ok: true, bodyKind: 'none', contentLength: -1 };
const CHUNKED: RequestVerdict = { ok: true, bodyKind: 'chunked', contentLength: -1 };
const length = (n: number): RequestVerdict => ({ ok: true, bodyKind: 'length', contentLength: n });

const rows: Row[] = [
  { name: 'plain GET', verdict: NONE },
  { name: 'HTTP/1.0 without host', headers: [], minor: 0, verdict: NONE },
  { name: 'content-length body', method: 'POST', headers: [...HOST, 'content-length', '11'], verdict: length(11) },
  { name: 'content-length 0', method: 'POST', headers: [...HOST, 'content-length', '0'], verdict: length(0) },
  { name: 'identical content-length lines', headers: [...HOST, 'content-length', '3', 'content-length', '3'], verdict: length(3) },
  { name: 'content-length list of one value', headers: [...HOST, 'content-length', '3, 3'], verdict: length(3) },
  { name: 'chunked', method: 'POST', headers: [...HOST, 'transfer-encoding', 'chunked'], verdict: CHUNKED },
  { name: 'chunked in any case', method: 'POST', headers: [...HOST, 'transfer-encoding', 'ChUnKeD'], verdict: CHUNKED },
  { name: 'differing content-length lines', headers: [...HOST, 'content-length', '3', 'content-length', '4'], verdict: R.differingContentLength },
  { name: 'differing content-length list', headers: [...HOST, 'content-length', '3, 4'], verdict: R.differingContentLength },
  ...['+3', '-1', '3.0', '0x3', '', '3 4', '9007199254740992'].map(
    (v): Row => ({ name: `content-length ${JSON.stringify(v)}`, headers: [...HOST, 'content-length', v], verdict: R.badContentLength }),
  ),
  {
    name: 'content-length with transfer-encoding',
    headers: [...HOST, 'content-length', '5', 'transfer-encoding', 'chunked'],
    verdict: R.contentLengthWithTransferEncoding,
  },
  { name: 'transfer-encoding in HTTP/1.0', headers: [...HOST, 'transfer-encoding', 'chunked'], minor: 0, verdict: R.transferEncodingInHttp10 },
  { name: 'unknown coding alone', headers: [...HOST, 'transfer-encoding', 'gzip'], verdict: R.unknownTransferCoding },
  { name: 'unknown coding before chunked', headers: [...HOST, 'transfer-encoding', 'gzip, chunked'], verdict: R.unknownTransferCoding },
  { name: 'chunked not last', headers: [...HOST, 'transfer-encoding', 'chunked, gzip'], verdict: R.chunkedNotLast },
  {
    name: 'chunked not last over two lines',
    headers: [...HOST, 'transfer-encoding', 'chunked', 'transfer-encoding', 'identity'],
    verdict: R.chunkedNotLast,
  },
  { name: 'chunked twice', headers: [...HOST, 'transfer-encoding', 'chunked, chunked'], verdict: R.badTransferEncoding },
  { name: 'empty transfer-encoding', headers: [...HOST, 'transfer-encoding', ''], verdict: R.badTransferEncoding },
  { name: 'NUL in a value', headers: [...HOST, 'x-a', 'a\0b'], verdict: R.badHeaderValue },
  { name: 'DEL in a value', headers: [...HOST, 'x-a', 'a\x7fb'], verdict: R.badHeaderValue },
  { name: 'vertical tab in a value', headers: [...HOST, 'x-a', 'a\x0bb'], verdict: R.badHeaderValue },
  { name: 'tab in a value is fine', headers: [...HOST, 'x-a', 'a\tb'], verdict: NONE },
  { name: 'transfer_encoding with an underscore', headers: [...HOST, 'transfer_encoding', 'chunked'], verdict: R.framingNameVariant },
  { name: 'content_length with an underscore', headers: [...HOST, 'content_length', '5'], verdict: R.framingNameVariant },
  { name: 'CR in a value', headers: [...HOST, 'x-a', 'a\rb'], verdict: R.badHeaderValue },
  { name: 'LF in a value', headers: [...HOST, 'x-a', 'a\nb'], verdict: R.badHeaderValue },
  { name: 'space in a name', headers: [...HOST, 'x a', 'b'], verdict: R.badHeaderName },
  { name: 'colon in a name', headers: [...HOST, 'x:a', 'b'], verdict: R.badHeaderName },
  { name: 'empty name', headers: [...HOST, '', 'b'], verdict: R.badHeaderName },
  { name: 'non-ASCII name', headers: [...HOST, 'x-é', 'b'], verdict: R.badHeaderName },
  { name: 'missing host in HTTP/1.1', headers: ['accept', '*/*'], verdict: R.missingHost },
  { name: 'duplicate host', headers: [...HOST, ...HOST], verdict: R.duplicateHost },
  { name: 'duplicate host in HTTP/1.0', headers: [...HOST, 'host', 'other'], minor: 0, verdict: R.duplicateHost },
  { name: 'empty host', headers: ['host', ''], verdict: NONE },
  { name: 'host with port', headers: ['host', 'example.com:8080'], verdict: NONE },
  { name: 'IPv6 host', headers: ['host', '[::1]:80'], verdict: NONE },
  { name: 'host with userinfo', headers: ['host', 'user@example.com'], verdict: R.badHost },
  { name: 'host with a path', headers: ['host', 'example.com/x'], verdict: R.badHost },
  { name: 'host with a space', headers: ['host', 'example.com x'], verdict: R.badHost },
  { name: 'host with a bad port', headers: ['host', 'example.com:8o'], verdict: R.badHost },
  { name: 'unclosed IPv6 host', headers: ['host', '[::1'], verdict: R.badHost },
  { name: 'method with a space', method: 'GE T', verdict: R.badMethod },
  { name: 'empty method', method: '', verdict: R.badMethod },
  { name: 'method with a slash', method: 'GET/', verdict: R.badMethod },
  { name: 'extension method', method: 'PROPFIND', verdict: NONE },
  { name: 'HTTP/1.2', minor: 2, verdict: R.badVersion },
  { name: 'HTTP/1.9', minor: 9, verdict: R.badVersion },
  { name: 'origin-form with query and escapes', url: '/a/b%20c;p=1?q=1&r=a:b@c/d?e', verdict: NONE },
  { name: 'origin-form with unescaped braces and pipes', url: '/search?q={"a":[1|2]}', verdict: NONE },
  { name: 'absolute-form', url: 'http://example.com:8080/a?b', verdict: NONE },
  { name: 'absolute-form without a path', url: 'https://example.com', verdict: NONE },
  { name: 'absolute-form with only a query', url: 'http://example.com?x=1', verdict: NONE },
  { name: 'asterisk-form for OPTIONS', method: 'OPTIONS', url: '*', verdict: NONE },
  { name: 'asterisk-form for GET', url: '*', verdict: R.badTarget },
  { name: 'authority-form', method: 'CONNECT', url: 'example.com:443', verdict: R.badTarget },
  { name: 'empty target', url: '', verdict: R.badTarget },
  { name: 'relative path', url: 'a/b', verdict: R.badTarget },
  { name: 'fragment', url: '/a#b', verdict: R.badTarget },
  { name: 'space in target', url: '/a b', verdict: R.badTarget },
  { name: 'tab in target', url: '/a\tb', verdict: R.badTarget },
  { name: 'backslash in target', url: '/a\\..\\b', verdict: R.badTarget },
  { name: 'non-ASCII in target', url: '/café', verdict: R.badTarget },
  { name: 'truncated escape', url: '/a%2', verdict: R.badTarget },
  { name: 'non-hex escape', url: '/a%zz', verdict: R.badTarget },
  { name: 'absolute-form with userinfo', url: 'http://u@example.com/', verdict: R.badTarget },
  { name: 'absolute-form without authority', url: 'http:///a', verdict: R.badTarget },
  { name: 'scheme without //', url: 'http:/a', verdict: R.badTarget },
  { name: 'target at the URI limit', url: '/' + 'a'.repeat(15), limits: { ...DEFAULT_LIMITS, maxUriBytes: 16 }, verdict: NONE },
  { name: 'target over the URI limit', url: '/' + 'a'.repeat(16), limits: { ...DEFAULT_LIMITS, maxUriBytes: 16 }, verdict: R.uriTooLong },
  { name: 'default URI limit', url: '/' + 'a'.repeat(8192), verdict: R.uriTooLong },
  {
    name: 'header bytes at the limit',
    headers: ['host', 'a', 'x', '12345'], // (4 + 1 + 4) + (1 + 5 + 4)
    limits: { ...DEFAULT_LIMITS, maxHeaderBytes: 19 },
    verdict: NONE,
  },
  {
    name: 'header bytes over the limit',
    headers: ['host', 'a', 'x', '123456'],
    limits: { ...DEFAULT_LIMITS, maxHeaderBytes: 19 },
    verdict: R.headersTooLarge,
  },
  {
    name: 'header count at the limit',
    headers: [...HOST, 'a', '1', 'b', '2'],
    limits: { ...DEFAULT_LIMITS, maxHeaders: 3 },
    verdict: NONE,
  },
  {
    name: 'header count over the limit',
    headers: [...HOST, 'a', '1', 'b', '2', 'c', '3'],
    limits: { ...DEFAULT_LIMITS, maxHeaders: 3 },
    verdict: R.tooManyHeaders,
  },
  {
    name: 'default header count limit',
    headers: [...HOST, ...Array.from({ length: 100 }, (_, i) => [`x-${i}`, 'v']).flat()],
    verdict: R.tooManyHeaders,
  },
];

describe('checkRequest', () => {
  it.each(rows)('$name', (row) => {
    const verdict = checkRequest(
      row.method ?? 'GET',
      row.url ?? '/',
      new HeaderList(row.headers ?? [...HOST]),
      row.minor ?? 1,
      row.limits,
    );
    expect(verdict).toEqual(row.verdict);
  });

  it('exports its defaults in one place', () => {
    expect(DEFAULT_LIMITS).toEqual({ maxUriBytes: 8192, maxHeaderBytes: 65536, maxHeaders: 100 });
  });

  it('answers the statuses the contract names', () => {
    const statuses = Object.values(R).map((r) => r.status);
    expect(new Set(statuses)).toEqual(new Set([400, 414, 431, 501, 505]));
  });

  it('shares the verdict of a bodyless request', () => {
    const a = checkRequest('GET', '/', new HeaderList([...HOST]), 1);
    const b = checkRequest('GET', '/x', new HeaderList([...HOST]), 1);
    expect(a).toBe(b);
  });
});
