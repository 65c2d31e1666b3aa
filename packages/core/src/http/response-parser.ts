/**
 * A strict, incremental HTTP/1.1 (and 1.0) response parser for the upstream client.
 *
 * Strict because a proxy that guesses where an upstream message ends can desynchronise a pooled
 * connection and hand one client's response to another: anything ambiguous is an error, the proxy
 * answers 502 and drops that connection. The rules follow RFC 9112 (message syntax and framing)
 * and RFC 9110 (fields); each error has a code in response-errors.ts.
 *
 * Shape of use, one parser per upstream connection:
 *
 *   parser.reset(method === 'HEAD');      // before each request's response
 *   const rc = parser.execute(chunk);     // per socket 'data'; 0 or a negative ResponseError
 *   const rc = parser.finish();           // on socket 'end'
 *
 * Events go to a handler object (normally the connection itself) so nothing is allocated per
 * request for callbacks. Body chunks are `subarray` views of the input (the input itself when a
 * whole chunk is body): copy them before the next read if they must outlive it.
 *
 * Bytes after the end of a message are never parsed as part of it. `execute()` stops at the end
 * of the message and reports in `consumed` how many input bytes it used; anything left over was
 * sent before the next request, so a client that does not pipeline must not reuse the connection
 * when `consumed < data.length`. Data arriving while no response is expected (after completion
 * and before `reset()`, or before the first `reset()`) is the error UNEXPECTED_DATA.
 *
 * A 101 Switching Protocols response completes the message with no body and keep-alive false;
 * the bytes after its head are left unconsumed, as they belong to the new protocol.
 *
 * Header names are lower-cased, values have surrounding whitespace removed and are decoded as
 * latin1, one char per byte, so `Buffer.from(value, 'latin1')` gives back the upstream's bytes.
 * `headHasNonAscii` says when a value holds bytes >= 0x80, so a writer that encodes as UTF-8 knows
 * when to take that care.
 *
 * Callbacks must not call `reset()` or `execute()` on the same parser; they run to completion and
 * the parser keeps its own state consistent across them.
 */
import {
  COLON,
  CR,
  HEX,
  HTAB,
  LF,
  SEMICOLON,
  SP,
  TCHAR,
} from './char-tables.js';
import {
  CONNECTION_CLOSE,
  CONNECTION_KEEP_ALIVE,
  CONTENT_LENGTH_DIFFERING,
  CONTENT_LENGTH_INVALID,
  TE_CHUNKED_COUNT_SHIFT,
  TE_INVALID,
  TE_LAST_CHUNKED,
  connectionOptions,
  parseContentLength,
  parseTransferEncoding,
} from './framing-values.js';
import { HeaderList } from './header-list.js';
import { internHeaderName } from './header-names.js';
import { DEFAULT_RESPONSE_LIMITS, MAX_CHUNK_EXTENSION_BYTES, MAX_CHUNK_SIZE_DIGITS } from './limits.js';
import type { ResponseLimits } from './limits.js';
import { ResponseError, responseErrorReason } from './response-errors.js';

/** How the body of a response is delimited. */
export type ResponseBodyKind = 'none' | 'length' | 'chunked' | 'close';

/** Receives a response parser's events. Implement it on the connection class. */
export interface ResponseHandler {
  /**
   * The final response head. `contentLength` is the Content-Length value when one was sent (also
   * for bodyless responses, so a HEAD answer can forward it), otherwise -1. `keepAlive` says
   * whether the connection may carry another request once this message completes.
   */
  onResponseHead(
    status: number,
    reason: string,
    versionMinor: number,
    headers: HeaderList,
    bodyKind: ResponseBodyKind,
    contentLength: number,
    keepAlive: boolean,
  ): void;
  /** A 1xx interim response other than 101; the final response follows on the same parse. */
  onInformational(status: number, headers: HeaderList): void;
  /** A piece of the decoded body (chunk framing removed): a view into the input buffer. */
  onBody(chunk: Buffer): void;
  /** Trailer fields of a chunked body, only when there are any; never merged into the head. */
  onTrailers(trailers: HeaderList): void;
  /** The message ended. Always the last event of a response. */
  onMessageComplete(keepAlive: boolean): void;
}

export interface ResponseParserOptions {
  maxHeadBytes?: number;
  maxHeaders?: number;
}

// Parser states. Plain numbers (not an enum) so the compiled switch stays a jump table.
const S_IDLE = 0;
const S_STATUS_LINE = 1;
const S_HEADERS = 2;
const S_BODY_LENGTH = 3;
const S_BODY_CLOSE = 4;
const S_CHUNK_SIZE = 5;
const S_CHUNK_BWS = 6;
const S_CHUNK_EXT = 7;
const S_CHUNK_SIZE_LF = 8;
const S_CHUNK_DATA = 9;
const S_CHUNK_DATA_CR = 10;
const S_CHUNK_DATA_LF = 11;
const S_TRAILERS = 12;
const S_ERROR = 13;

const MIN_PENDING_BUFFER = 512;

const HTTP_PREFIX = Buffer.from('HTTP/', 'latin1');

export class ResponseParser {
  /** The last error code (0 when none). */
  errorCode = 0;
  /** A short text for `errorCode`. */
  errorReason = '';
  /** Input bytes the last successful `execute()` used; fewer than given means the message ended. */
  consumed = 0;
  /** True when a field value of the latest head (interim or final) held a byte >= 0x80. */
  headHasNonAscii = false;

  private readonly handler: ResponseHandler;
  private readonly maxHeadBytes: number;
  private readonly maxHeaders: number;

  private state = S_IDLE;
  private requestIsHead = false;
  /** Any byte of the current response seen (tells an early close from no response at all). */
  private started = false;
  /** Bumped per completed message so `execute()` can stop right after one. */
  private completedCount = 0;

  // A head or trailer section split over reads is gathered here; one that arrives whole is parsed
  // straight from the input.
  private pending: Buffer | null = null;
  private pendingLength = 0;
  /** Where the last, unfinished line of `pending` starts. */
  private pendingLineStart = 0;
  private fieldCount = 0;

  private status = 0;
  private reason = '';
  private versionMinor = 1;
  private headers: HeaderList | null = null;
  private trailers: HeaderList | null = null;
  private contentLength = -1;
  private transferEncodingSeen = false;
  private chunkedCount = 0;
  private lastCodingChunked = false;
  private connection = 0;
  private keepAlive = false;

  /** Body bytes left of a Content-Length body or of the current chunk. */
  private remaining = 0;
  private chunkSize = 0;
  private chunkDigits = 0;
  private chunkExtensionBytes = 0;

  constructor(handler: ResponseHandler, options: ResponseParserOptions = {}) {
    this.handler = handler;
    this.maxHeadBytes = options.maxHeadBytes ?? DEFAULT_RESPONSE_LIMITS.maxHeadBytes;
    this.maxHeaders = options.maxHeaders ?? DEFAULT_RESPONSE_LIMITS.maxHeaders;
  }

  /** Prepares for the response to the next request. HEAD responses never have a body. */
  reset(requestMethodIsHead: boolean): void {
    this.state = S_STATUS_LINE;
    this.requestIsHead = requestMethodIsHead;
    this.started = false;
    this.errorCode = 0;
    this.errorReason = '';
    this.consumed = 0;
    this.pendingLength = 0;
    this.startHead();
  }

  /**
   * Parses the next bytes of the response. Returns 0, or a negative ResponseError code (also left
   * in `errorCode`; the parser then stays failed until `reset()`). Stops after a complete message:
   * see `consumed`.
   */
  execute(data: Buffer): number {
    this.consumed = 0;
    if (this.state === S_ERROR) return this.errorCode;
    const len = data.length;
    if (len === 0) return 0;
    if (this.state === S_IDLE) return this.fail(ResponseError.UNEXPECTED_DATA);
    this.started = true;
    const completedBefore = this.completedCount;
    let pos = 0;
    while (pos < len) {
      switch (this.state) {
        case S_STATUS_LINE:
        case S_HEADERS:
        case S_TRAILERS:
          pos = this.readSection(data, pos);
          break;
        case S_BODY_LENGTH:
        case S_CHUNK_DATA: {
          const end = len - pos > this.remaining ? pos + this.remaining : len;
          this.remaining -= end - pos;
          this.handler.onBody(pos === 0 && end === len ? data : data.subarray(pos, end));
          pos = end;
          if (this.remaining === 0) {
            if (this.state === S_CHUNK_DATA) this.state = S_CHUNK_DATA_CR;
            else this.complete();
          }
          break;
        }
        case S_BODY_CLOSE:
          this.handler.onBody(pos === 0 ? data : data.subarray(pos));
          pos = len;
          break;
        default:
          pos = this.readChunkFraming(data, pos);
          break;
      }
      if (pos < 0) return this.errorCode;
      if (this.completedCount !== completedBefore) break;
    }
    this.consumed = pos;
    return 0;
  }

  /**
   * The upstream closed its side. Completes a close-delimited body and returns 0; returns 0 when
   * no response was pending or the last one had completed. Otherwise the response was cut short:
   * CLOSED_BEFORE_RESPONSE when not one byte of it came, EARLY_CLOSE when some did.
   */
  finish(): number {
    switch (this.state) {
      case S_ERROR:
        return this.errorCode;
      case S_IDLE:
        return 0;
      case S_BODY_CLOSE:
        this.complete();
        return 0;
      default:
        return this.fail(this.started ? ResponseError.EARLY_CLOSE : ResponseError.CLOSED_BEFORE_RESPONSE);
    }
  }

  private fail(code: number): number {
    this.state = S_ERROR;
    this.errorCode = code;
    this.errorReason = responseErrorReason(code);
    return code;
  }

  private startHead(): void {
    this.fieldCount = 0;
    this.headers = null;
    this.trailers = null;
    this.contentLength = -1;
    this.transferEncodingSeen = false;
    this.chunkedCount = 0;
    this.lastCodingChunked = false;
    this.connection = 0;
  }

  private complete(): void {
    this.state = S_IDLE;
    this.completedCount++;
    this.handler.onMessageComplete(this.keepAlive);
  }

  /**
   * Consumes a head or trailer section once its empty line has arrived; until then the bytes are
   * gathered. A section is parsed in one go so its text is decoded with one call and every name
   * and value is a slice of that string. Returns the position after the section, or an error.
   */
  private readSection(data: Buffer, pos: number): number {
    const len = data.length;
    const max = this.maxHeadBytes;
    // A peer that is not speaking HTTP at all may never send an empty line: refuse it from its first
    // bytes instead of waiting for a head that will not come.
    if (this.state === S_STATUS_LINE && this.pendingLength < HTTP_PREFIX.length && !this.hasHttpPrefix(data, pos)) {
      return this.fail(ResponseError.INVALID_STATUS_LINE);
    }
    if (this.pendingLength === 0) {
      // Common case: the whole section is in this read; parse it in place.
      let lineStart = pos;
      for (;;) {
        const lf = data.indexOf(LF, lineStart);
        if (lf === -1) break;
        if (lf === lineStart || data[lf - 1] !== CR) return this.fail(ResponseError.BARE_LF);
        if (lf === lineStart + 1) {
          const end = lf + 1;
          if (end - pos > max) return this.fail(ResponseError.HEAD_TOO_LARGE);
          const rc = this.parseSection(data, pos, end);
          return rc < 0 ? rc : end;
        }
        lineStart = lf + 1;
        if (lineStart - pos > max) return this.fail(ResponseError.HEAD_TOO_LARGE);
      }
      if (len - pos > max) return this.fail(ResponseError.HEAD_TOO_LARGE);
      this.keepPending(data, pos, len);
      this.pendingLineStart = lineStart - pos;
      return len;
    }
    // The section started in an earlier read: append line by line until the empty one.
    let p = pos;
    for (;;) {
      const lf = data.indexOf(LF, p);
      const end = lf === -1 ? len : lf + 1;
      if (this.pendingLength + (end - p) > max) return this.fail(ResponseError.HEAD_TOO_LARGE);
      this.keepPending(data, p, end);
      if (lf === -1) return len;
      const buf = this.pending!;
      const lineBytes = this.pendingLength - this.pendingLineStart;
      if (lineBytes === 1 || buf[this.pendingLength - 2] !== CR) return this.fail(ResponseError.BARE_LF);
      if (lineBytes === 2) {
        const total = this.pendingLength;
        this.pendingLength = 0;
        const rc = this.parseSection(buf, 0, total);
        return rc < 0 ? rc : end;
      }
      this.pendingLineStart = this.pendingLength;
      p = end;
    }
  }

  /** Whether the status line so far (pending bytes, then data from pos) agrees with "HTTP/". */
  private hasHttpPrefix(data: Buffer, pos: number): boolean {
    let i = 0;
    for (; i < this.pendingLength && i < HTTP_PREFIX.length; i++) if (this.pending![i] !== HTTP_PREFIX[i]) return false;
    for (let p = pos; i < HTTP_PREFIX.length && p < data.length; i++, p++) if (data[p] !== HTTP_PREFIX[i]) return false;
    return true;
  }

  private keepPending(data: Buffer, start: number, end: number): void {
    const need = this.pendingLength + (end - start);
    let buf = this.pending;
    if (buf === null || buf.length < need) {
      const grown = Buffer.allocUnsafe(Math.min(Math.max(MIN_PENDING_BUFFER, need * 2), this.maxHeadBytes));
      if (buf !== null) buf.copy(grown, 0, 0, this.pendingLength);
      this.pending = buf = grown;
    }
    data.copy(buf, this.pendingLength, start, end);
    this.pendingLength = need;
  }

  /** Parses b[start..end), a whole section ending with its empty line. */
  private parseSection(b: Buffer, start: number, end: number): number {
    const text = b.toString('latin1', start, end);
    let ls = start;
    let rc: number;
    // Every LF here follows a CR: readSection checked each line end.
    if (this.state === S_STATUS_LINE) {
      const lf = b.indexOf(LF, ls);
      rc = this.parseStatusLine(b, ls, lf - 1, text, start);
      if (rc < 0) return rc;
      ls = lf + 1;
    }
    const inHead = this.state === S_HEADERS;
    let list = inHead ? this.headers! : null;
    for (;;) {
      const lf = b.indexOf(LF, ls);
      const e = lf - 1;
      if (e === ls) break;
      rc = this.parseField(b, ls, e, text, start, (list ??= this.trailers = new HeaderList()), inHead);
      if (rc < 0) return rc;
      ls = lf + 1;
    }
    return inHead ? this.headComplete() : this.trailersComplete();
  }

  /** `HTTP/1.x SP 3DIGIT [SP reason]`; the SP before an empty reason may be missing. */
  private parseStatusLine(b: Buffer, s: number, e: number, text: string, base: number): number {
    if (
      e - s < 12 ||
      b[s] !== 0x48 || b[s + 1] !== 0x54 || b[s + 2] !== 0x54 || b[s + 3] !== 0x50 || b[s + 4] !== 0x2f ||
      b[s + 8] !== SP
    ) {
      return this.fail(ResponseError.INVALID_STATUS_LINE);
    }
    const minor = b[s + 7]! - 0x30;
    if (b[s + 5] !== 0x31 || b[s + 6] !== 0x2e || (minor !== 0 && minor !== 1)) {
      return this.fail(ResponseError.INVALID_VERSION);
    }
    const d1 = b[s + 9]! - 0x30;
    const d2 = b[s + 10]! - 0x30;
    const d3 = b[s + 11]! - 0x30;
    if (d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9 || d3 < 0 || d3 > 9) return this.fail(ResponseError.INVALID_STATUS_LINE);
    const status = d1 * 100 + d2 * 10 + d3;
    // RFC 9110 15: codes outside 100..599 are invalid.
    if (status < 100 || status > 599) return this.fail(ResponseError.INVALID_STATUS);
    let reason = '';
    if (e > s + 12) {
      if (b[s + 12] !== SP) return this.fail(ResponseError.INVALID_STATUS_LINE);
      const rs = s + 13;
      for (let i = rs; i < e; i++) {
        const c = b[i]!;
        // reason-phrase = *( HTAB / SP / VCHAR / obs-text )
        if ((c < 0x20 && c !== HTAB) || c === 0x7f) {
          return this.fail(c === CR ? ResponseError.BARE_CR : ResponseError.INVALID_STATUS_LINE);
        }
      }
      if (e - rs === 2 && b[rs] === 0x4f && b[rs + 1] === 0x4b) reason = 'OK';
      else if (e > rs) reason = text.slice(rs - base, e - base);
    }
    this.status = status;
    this.reason = reason;
    this.versionMinor = minor;
    this.headHasNonAscii = false;
    this.headers = new HeaderList();
    this.state = S_HEADERS;
    return 0;
  }

  private parseField(
    b: Buffer,
    s: number,
    e: number,
    text: string,
    base: number,
    list: HeaderList,
    inHead: boolean,
  ): number {
    if (++this.fieldCount > this.maxHeaders) return this.fail(ResponseError.TOO_MANY_HEADERS);
    let c = b[s]!;
    // A line starting with whitespace continues the previous one (obs-fold, RFC 9112 5.2).
    if (c === SP || c === HTAB) return this.fail(ResponseError.OBS_FOLD);
    let i = s;
    let upper = false;
    for (; i < e; i++) {
      c = b[i]!;
      if (c === COLON) break;
      if (TCHAR[c] !== 1) {
        if (c === SP || c === HTAB) return this.fail(ResponseError.WHITESPACE_BEFORE_COLON);
        if (c === CR) return this.fail(ResponseError.BARE_CR);
        return this.fail(ResponseError.INVALID_HEADER_NAME);
      }
      if (c <= 0x5a && c >= 0x41) upper = true;
    }
    if (i === e || i === s) return this.fail(ResponseError.INVALID_HEADER_NAME);
    let name = internHeaderName(b, s, i);
    if (name === undefined) {
      name = text.slice(s - base, i - base);
      if (upper) name = name.toLowerCase();
    }

    let vs = i + 1;
    let ve = e;
    while (vs < ve && ((c = b[vs]!) === SP || c === HTAB)) vs++;
    while (ve > vs && ((c = b[ve - 1]!) === SP || c === HTAB)) ve--;
    for (let j = vs; j < ve; j++) {
      c = b[j]!;
      if (c < 0x20) {
        if (c === 0) return this.fail(ResponseError.INVALID_HEADER_VALUE);
        if (c === CR) return this.fail(ResponseError.BARE_CR);
      } else if (c >= 0x80) {
        if (inHead) this.headHasNonAscii = true;
      }
    }
    const value = ve > vs ? text.slice(vs - base, ve - base) : '';

    if (inHead) {
      if (name === 'content-length') return this.contentLengthField(list, name, value);
      if (name === 'transfer-encoding') {
        const te = parseTransferEncoding(value);
        if (te === TE_INVALID) return this.fail(ResponseError.INVALID_TRANSFER_ENCODING);
        this.transferEncodingSeen = true;
        this.chunkedCount += te >> TE_CHUNKED_COUNT_SHIFT;
        // Several lines form one list, so the last line's last coding is the final one.
        this.lastCodingChunked = (te & TE_LAST_CHUNKED) !== 0;
      } else if (name === 'connection') {
        this.connection |= connectionOptions(value);
      }
    }
    list.add(name, value);
    return 0;
  }

  /** Repeated identical Content-Length lines or `5, 5` lists collapse to one line (RFC 9110 8.6). */
  private contentLengthField(list: HeaderList, name: string, value: string): number {
    const n = parseContentLength(value);
    if (n === CONTENT_LENGTH_INVALID) return this.fail(ResponseError.INVALID_CONTENT_LENGTH);
    if (n === CONTENT_LENGTH_DIFFERING) return this.fail(ResponseError.DIFFERING_CONTENT_LENGTH);
    if (this.contentLength !== -1) {
      return this.contentLength === n ? 0 : this.fail(ResponseError.DIFFERING_CONTENT_LENGTH);
    }
    this.contentLength = n;
    list.add(name, value.indexOf(',') === -1 ? value : String(n));
    return 0;
  }

  /** The empty line after the head: decide framing (RFC 9112 6.3) and start the body. */
  private headComplete(): number {
    const status = this.status;
    if (this.transferEncodingSeen) {
      if (this.contentLength !== -1) return this.fail(ResponseError.CONTENT_LENGTH_WITH_TRANSFER_ENCODING);
      // RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
      if (this.versionMinor === 0) return this.fail(ResponseError.TRANSFER_ENCODING_IN_HTTP10);
      // RFC 9112 6.1: chunked must not be applied more than once.
      if (this.chunkedCount > 1) return this.fail(ResponseError.INVALID_TRANSFER_ENCODING);
    }
    const headers = this.headers!;
    if (status < 200 && status !== 101) {
      this.state = S_STATUS_LINE;
      this.startHead();
      this.handler.onInformational(status, headers);
      return 0;
    }

    let keepAlive = this.versionMinor === 1
      ? (this.connection & CONNECTION_CLOSE) === 0
      : this.connection === CONNECTION_KEEP_ALIVE;
    let kind: ResponseBodyKind;
    let contentLength = this.contentLength;
    if (status === 101) {
      kind = 'none';
      keepAlive = false;
    } else if (this.requestIsHead || status === 204 || status === 304) {
      kind = 'none';
    } else if (this.transferEncodingSeen) {
      // A final coding other than chunked: the body runs to the close (RFC 9112 6.3 item 4).
      kind = this.lastCodingChunked ? 'chunked' : 'close';
    } else if (contentLength !== -1) {
      kind = 'length';
    } else {
      kind = 'close';
    }
    if (kind === 'close') {
      keepAlive = false;
      contentLength = -1;
    }
    this.keepAlive = keepAlive;

    switch (kind) {
      case 'length':
        this.remaining = contentLength;
        this.state = contentLength === 0 ? S_IDLE : S_BODY_LENGTH;
        break;
      case 'chunked':
        this.state = S_CHUNK_SIZE;
        this.chunkSize = 0;
        this.chunkDigits = 0;
        this.chunkExtensionBytes = 0;
        break;
      case 'close':
        this.state = S_BODY_CLOSE;
        break;
      default:
        this.state = S_IDLE;
    }
    this.handler.onResponseHead(status, this.reason, this.versionMinor, headers, kind, contentLength, keepAlive);
    if (this.state === S_IDLE) this.complete();
    return 0;
  }

  private trailersComplete(): number {
    const trailers = this.trailers;
    this.state = S_IDLE;
    if (trailers !== null) this.handler.onTrailers(trailers);
    this.complete();
    return 0;
  }

  /** Chunk-size lines and the CRLF after chunk data, a byte at a time (RFC 9112 7.1). */
  private readChunkFraming(data: Buffer, pos: number): number {
    const len = data.length;
    let state = this.state;
    while (pos < len) {
      const c = data[pos]!;
      switch (state) {
        case S_CHUNK_SIZE: {
          const h = HEX[c]!;
          if (h !== 255) {
            if (++this.chunkDigits > MAX_CHUNK_SIZE_DIGITS) return this.fail(ResponseError.INVALID_CHUNK_SIZE);
            const size = this.chunkSize * 16 + h;
            if (size > Number.MAX_SAFE_INTEGER) return this.fail(ResponseError.INVALID_CHUNK_SIZE);
            this.chunkSize = size;
            break;
          }
          if (this.chunkDigits === 0) return this.fail(ResponseError.INVALID_CHUNK_SIZE);
          if (c === CR) state = S_CHUNK_SIZE_LF;
          else if (c === SEMICOLON) state = S_CHUNK_EXT;
          else if (c === SP || c === HTAB) state = S_CHUNK_BWS;
          else if (c === LF) return this.fail(ResponseError.BARE_LF);
          else return this.fail(ResponseError.INVALID_CHUNK_SIZE);
          break;
        }
        case S_CHUNK_BWS:
          // chunk-ext = *( BWS ";" ... ): whitespace after the size may only lead to an extension.
          if (c === SEMICOLON) state = S_CHUNK_EXT;
          else if (c !== SP && c !== HTAB) return this.fail(ResponseError.INVALID_CHUNK_SIZE);
          break;
        case S_CHUNK_EXT:
          if (c === CR) state = S_CHUNK_SIZE_LF;
          else if (c === LF) return this.fail(ResponseError.BARE_LF);
          else if ((c < 0x20 && c !== HTAB) || c === 0x7f) return this.fail(ResponseError.INVALID_CHUNK_EXTENSION);
          else if (++this.chunkExtensionBytes > MAX_CHUNK_EXTENSION_BYTES) {
            return this.fail(ResponseError.CHUNK_EXTENSION_TOO_LARGE);
          }
          break;
        case S_CHUNK_SIZE_LF:
          if (c !== LF) return this.fail(ResponseError.BARE_CR);
          if (this.chunkSize === 0) {
            this.state = S_TRAILERS;
            this.fieldCount = 0;
            this.trailers = null;
          } else {
            this.state = S_CHUNK_DATA;
            this.remaining = this.chunkSize;
          }
          return pos + 1;
        case S_CHUNK_DATA_CR:
          if (c === CR) state = S_CHUNK_DATA_LF;
          else return this.fail(c === LF ? ResponseError.BARE_LF : ResponseError.MISSING_CHUNK_CRLF);
          break;
        case S_CHUNK_DATA_LF:
          if (c !== LF) return this.fail(ResponseError.MISSING_CHUNK_CRLF);
          state = S_CHUNK_SIZE;
          this.chunkSize = 0;
          this.chunkDigits = 0;
          this.chunkExtensionBytes = 0;
          break;
      }
      pos++;
    }
    this.state = state;
    return pos;
  }
}
