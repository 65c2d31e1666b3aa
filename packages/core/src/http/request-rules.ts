/**
 * Checks a downstream request as uWS hands it over (method, request target, lower-cased fields)
 * before anything is forwarded. uWS's own parser is lenient in places (it takes the first of two
 * differing Content-Lengths, for one), and a proxy that forwards what its upstream could frame
 * differently opens the door to request smuggling. So every framing and field rule of RFC 9112
 * and RFC 9110 a proxy depends on is checked here, and a request that fails is answered with the
 * verdict's status and its connection closed; it is never forwarded.
 *
 * The verdict carries the framing the proxy must use when it re-serialises the request.
 */
import { COLON, HEX, isStrictFieldValue, isToken } from './char-tables.js';
import {
  CONTENT_LENGTH_DIFFERING,
  CONTENT_LENGTH_INVALID,
  TE_CHUNKED_COUNT_SHIFT,
  TE_HAS_OTHER,
  TE_INVALID,
  TE_LAST_CHUNKED,
  parseContentLength,
  parseTransferEncoding,
} from './framing-values.js';
import type { HeaderList } from './header-list.js';
import { DEFAULT_LIMITS } from './limits.js';
import type { RequestLimits } from './limits.js';

export type RequestBodyKind = 'none' | 'length' | 'chunked';

export interface RequestAccepted {
  readonly ok: true;
  readonly bodyKind: RequestBodyKind;
  /** The body length for 'length', -1 otherwise. */
  readonly contentLength: number;
}

export interface RequestRejected {
  readonly ok: false;
  readonly status: 400 | 414 | 431 | 501 | 505;
  /** A short text for the error reply and the log. */
  readonly reason: string;
}

export type RequestVerdict = RequestAccepted | RequestRejected;

// Verdicts without a length are shared constants: the common bodyless request allocates nothing.
const NO_BODY: RequestAccepted = Object.freeze({ ok: true, bodyKind: 'none', contentLength: -1 });
const CHUNKED: RequestAccepted = Object.freeze({ ok: true, bodyKind: 'chunked', contentLength: -1 });

function rejection(status: RequestRejected['status'], reason: string): RequestRejected {
  return Object.freeze({ ok: false, status, reason });
}

/** Every rejection checkRequest returns, by cause. */
export const REQUEST_REJECTIONS = Object.freeze({
  badVersion: rejection(505, 'unsupported HTTP version'),
  badMethod: rejection(400, 'invalid method'),
  uriTooLong: rejection(414, 'request target too long'),
  badTarget: rejection(400, 'invalid request target'),
  tooManyHeaders: rejection(431, 'too many header fields'),
  headersTooLarge: rejection(431, 'header fields too large'),
  badHeaderName: rejection(400, 'invalid header name'),
  badHeaderValue: rejection(400, 'control character in a header value'),
  framingNameVariant: rejection(400, 'a field named like Content-Length or Transfer-Encoding with an underscore'),
  missingHost: rejection(400, 'missing host'),
  duplicateHost: rejection(400, 'more than one host'),
  badHost: rejection(400, 'invalid host'),
  badContentLength: rejection(400, 'invalid content-length'),
  differingContentLength: rejection(400, 'content-length values differ'),
  contentLengthWithTransferEncoding: rejection(400, 'content-length with transfer-encoding'),
  transferEncodingInHttp10: rejection(400, 'transfer-encoding in HTTP/1.0'),
  badTransferEncoding: rejection(400, 'invalid transfer-encoding'),
  chunkedNotLast: rejection(400, 'chunked is not the final transfer coding'),
  unknownTransferCoding: rejection(501, 'unsupported transfer coding'),
});

/**
 * `url` is the request target as received: the path plus `?` and the query when there is one.
 * Header names must be lower-case (as uWS gives them). `limits` defaults to DEFAULT_LIMITS.
 */
export function checkRequest(
  method: string,
  url: string,
  headers: HeaderList,
  httpVersionMinor: number,
  limits: RequestLimits = DEFAULT_LIMITS,
): RequestVerdict {
  const R = REQUEST_REJECTIONS;
  if (httpVersionMinor !== 1 && httpVersionMinor !== 0) return R.badVersion;
  if (!isToken(method)) return R.badMethod;
  if (url.length > limits.maxUriBytes) return R.uriTooLong;
  if (!isRequestTarget(method, url)) return R.badTarget;

  const raw = headers.raw;
  const fields = raw.length >> 1;
  if (fields > limits.maxHeaders) return R.tooManyHeaders;
  let bytes = 0;
  for (let i = 0; i < raw.length; i++) bytes += raw[i]!.length;
  bytes += fields * 4; // ": " and CRLF per line
  if (bytes > limits.maxHeaderBytes) return R.headersTooLarge;

  let hosts = 0;
  let contentLength = -1;
  let teSeen = false;
  let chunkedCount = 0;
  let otherCoding = false;
  let lastChunked = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (!isToken(name)) return R.badHeaderName;
    if (!isStrictFieldValue(value)) return R.badHeaderValue;
    // `transfer_encoding` / `content_length`: servers that map '_' to '-' (CGI-style) would frame the
    // body by a field the proxy did not; refuse them rather than forward an ambiguity.
    if ((name.length === 17 || name.length === 14) && isFramingNameVariant(name)) return R.framingNameVariant;
    switch (name) {
      case 'host':
        if (++hosts > 1) return R.duplicateHost;
        if (!isAuthority(value, 0, value.length)) return R.badHost;
        break;
      case 'content-length': {
        const n = parseContentLength(value);
        if (n === CONTENT_LENGTH_INVALID) return R.badContentLength;
        if (n === CONTENT_LENGTH_DIFFERING || (contentLength !== -1 && n !== contentLength)) {
          return R.differingContentLength;
        }
        contentLength = n;
        break;
      }
      case 'transfer-encoding': {
        const te = parseTransferEncoding(value);
        if (te === TE_INVALID) return R.badTransferEncoding;
        teSeen = true;
        chunkedCount += te >> TE_CHUNKED_COUNT_SHIFT;
        if ((te & TE_HAS_OTHER) !== 0) otherCoding = true;
        lastChunked = (te & TE_LAST_CHUNKED) !== 0;
        break;
      }
    }
  }
  // RFC 9112 3.2: an HTTP/1.1 request must carry exactly one Host.
  if (hosts === 0 && httpVersionMinor === 1) return R.missingHost;

  if (teSeen) {
    // RFC 9112 6.1 and 6.3: each of these leaves the body length in doubt.
    if (httpVersionMinor === 0) return R.transferEncodingInHttp10;
    if (contentLength !== -1) return R.contentLengthWithTransferEncoding;
    if (chunkedCount > 0 && !lastChunked) return R.chunkedNotLast;
    if (chunkedCount > 1) return R.badTransferEncoding;
    // The proxy drops Transfer-Encoding (hop-by-hop) and re-frames, so it can only pass on a body
    // it can decode: chunked alone.
    if (otherCoding) return R.unknownTransferCoding;
    return CHUNKED;
  }
  if (contentLength !== -1) return { ok: true, bodyKind: 'length', contentLength };
  return NO_BODY;
}

// Bytes allowed in a path or query besides '%' escapes: RFC 3986 pchar, '/' and '?', plus
// " < > [ ] ^ ` { | } which browsers and tools send unescaped and which cannot confuse framing.
// Refused: controls, space, '#', '\' (some servers read it as '/') and anything beyond ASCII.
const PATH_CHAR: Uint8Array = charSet(
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?\"<>[]^`{|}",
);
// reg-name (RFC 3986 3.2.2): unreserved and sub-delims; '%' escapes are handled apart.
const HOST_CHAR: Uint8Array = charSet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=");
// Inside [ ]: IPv6 and IPvFuture address characters, and '%' for a zone (RFC 6874).
const IP_LITERAL_CHAR: Uint8Array = charSet('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:%');
const SCHEME_CHAR: Uint8Array = charSet('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-.');

function charSet(chars: string): Uint8Array {
  const t = new Uint8Array(128);
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  return t;
}

/** origin-form, absolute-form, or asterisk-form for OPTIONS (RFC 9112 3.2). */
function isRequestTarget(method: string, url: string): boolean {
  const n = url.length;
  if (n === 0) return false;
  const c0 = url.charCodeAt(0);
  if (c0 === 0x2f) return isPathAndQuery(url, 0);
  if (n === 1 && c0 === 0x2a) return method === 'OPTIONS';
  // absolute-form: scheme "://" authority [ path-abempty ] [ "?" query ]
  if (!((c0 | 0x20) >= 0x61 && (c0 | 0x20) <= 0x7a)) return false;
  let i = 1;
  while (i < n && SCHEME_CHAR[url.charCodeAt(i)] === 1) i++;
  if (!url.startsWith('://', i)) return false;
  i += 3;
  const authorityStart = i;
  while (i < n) {
    const c = url.charCodeAt(i);
    if (c === 0x2f || c === 0x3f) break;
    i++;
  }
  if (i === authorityStart || !isAuthority(url, authorityStart, i)) return false;
  return i === n || isPathAndQuery(url, i);
}

function isPathAndQuery(s: string, i: number): boolean {
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      if (i + 2 >= n || !isHexDigit(s.charCodeAt(i + 1)) || !isHexDigit(s.charCodeAt(i + 2))) return false;
      i += 3;
      continue;
    }
    if (PATH_CHAR[c] !== 1) return false;
    i++;
  }
  return true;
}

/**
 * `uri-host [ ":" port ]` (RFC 9110 7.2, RFC 3986 3.2). Userinfo ('@') is refused, as RFC 9110
 * 4.2.4 asks. An empty value is allowed for Host, as RFC 9112 3.2 allows.
 */
function isAuthority(s: string, start: number, end: number): boolean {
  let i = start;
  if (i < end && s.charCodeAt(i) === 0x5b) {
    i++;
    const inner = i;
    while (i < end && s.charCodeAt(i) !== 0x5d) {
      if (IP_LITERAL_CHAR[s.charCodeAt(i)] !== 1) return false;
      i++;
    }
    if (i === end || i === inner) return false;
    i++;
  } else {
    while (i < end) {
      const c = s.charCodeAt(i);
      if (c === COLON) break;
      if (c === 0x25) {
        if (i + 2 >= end || !isHexDigit(s.charCodeAt(i + 1)) || !isHexDigit(s.charCodeAt(i + 2))) return false;
        i += 3;
        continue;
      }
      if (HOST_CHAR[c] !== 1) return false;
      i++;
    }
  }
  if (i === end) return true;
  if (s.charCodeAt(i) !== COLON) return false;
  for (i++; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function isHexDigit(c: number): boolean {
  return c < 0x80 && HEX[c] !== 255;
}

function isFramingNameVariant(name: string): boolean {
  if (name.indexOf('_') === -1) return false;
  const n = name.replace(/_/g, '-');
  return n === 'transfer-encoding' || n === 'content-length';
}
