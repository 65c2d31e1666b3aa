/**
 * The header values that decide message framing (Content-Length, Transfer-Encoding) and connection
 * reuse (Connection), parsed the same way for downstream requests and upstream responses so both
 * directions agree on where a message ends. Results are packed numbers, not objects: these run
 * once or twice per message on the hot path.
 */
import { COMMA, DQUOTE, BACKSLASH, HTAB, SEMICOLON, SP, TCHAR } from './char-tables.js';

/** Content-Length value is not a list of plain digits, or is larger than 2^53-1. */
export const CONTENT_LENGTH_INVALID = -1;
/** Content-Length is a list whose members differ (`5, 6`). */
export const CONTENT_LENGTH_DIFFERING = -2;

const MAX_LENGTH_DIGITS = 16;

/**
 * Parses `1*DIGIT` or a list of them (`5, 5`), which RFC 9110 8.6 lets a recipient collapse when
 * every member is the same. Returns the length, CONTENT_LENGTH_INVALID or CONTENT_LENGTH_DIFFERING.
 */
export function parseContentLength(v: string): number {
  const n = v.length;
  let value = -1;
  let differing = false;
  let i = 0;
  for (;;) {
    while (i < n && isOws(v.charCodeAt(i))) i++;
    const start = i;
    let num = 0;
    while (i < n) {
      const c = v.charCodeAt(i) - 0x30;
      if (c < 0 || c > 9) break;
      num = num * 10 + c;
      i++;
    }
    const digits = i - start;
    if (digits === 0 || digits > MAX_LENGTH_DIGITS || num > Number.MAX_SAFE_INTEGER) return CONTENT_LENGTH_INVALID;
    if (value !== -1 && num !== value) differing = true;
    value = num;
    while (i < n && isOws(v.charCodeAt(i))) i++;
    if (i === n) return differing ? CONTENT_LENGTH_DIFFERING : value;
    if (v.charCodeAt(i) !== COMMA) return CONTENT_LENGTH_INVALID;
    i++;
  }
}

/** Transfer-Encoding value is not a list of codings (empty, or a member is not a token). */
export const TE_INVALID = -1;
/** Bit set in parseTransferEncoding's result when the last coding of the value is `chunked`. */
export const TE_LAST_CHUNKED = 1;
/** Bit set when some coding other than `chunked` appears. */
export const TE_HAS_OTHER = 2;
/** parseTransferEncoding's result shifted right by this is how many times `chunked` appears. */
export const TE_CHUNKED_COUNT_SHIFT = 2;

/**
 * Parses one Transfer-Encoding field line. Returns TE_INVALID, or TE_LAST_CHUNKED | TE_HAS_OTHER
 * | (chunked count << TE_CHUNKED_COUNT_SHIFT). Several lines form one list: the caller adds the
 * counts, ORs TE_HAS_OTHER and keeps TE_LAST_CHUNKED of the last line.
 */
export function parseTransferEncoding(v: string): number {
  const n = v.length;
  let i = 0;
  let elements = 0;
  let chunked = 0;
  let other = 0;
  let last = 0;
  while (i < n) {
    while (i < n && isOws(v.charCodeAt(i))) i++;
    if (i === n) break;
    if (v.charCodeAt(i) === COMMA) {
      i++; // empty list members are allowed (RFC 9110 5.6.1)
      continue;
    }
    const start = i;
    while (i < n && TCHAR[v.charCodeAt(i)] === 1) i++;
    if (i === start) return TE_INVALID;
    elements++;
    if (i - start === 7 && equalsLowerAscii(v, start, 'chunked')) {
      chunked++;
      last = TE_LAST_CHUNKED;
    } else {
      other = TE_HAS_OTHER;
      last = 0;
    }
    while (i < n && isOws(v.charCodeAt(i))) i++;
    if (i < n && v.charCodeAt(i) === SEMICOLON) i = skipParameters(v, i + 1);
    if (i < n) {
      if (v.charCodeAt(i) !== COMMA) return TE_INVALID;
      i++;
    }
  }
  if (elements === 0) return TE_INVALID;
  return last | other | (chunked << TE_CHUNKED_COUNT_SHIFT);
}

/** Bit in connectionOptions' result: the `close` option. */
export const CONNECTION_CLOSE = 1;
/** Bit in connectionOptions' result: the `keep-alive` option. */
export const CONNECTION_KEEP_ALIVE = 2;

/** Which of `close` and `keep-alive` a Connection field line lists (case-insensitive). */
export function connectionOptions(v: string): number {
  const n = v.length;
  let flags = 0;
  let i = 0;
  while (i < n) {
    while (i < n && (isOws(v.charCodeAt(i)) || v.charCodeAt(i) === COMMA)) i++;
    const start = i;
    while (i < n && v.charCodeAt(i) !== COMMA) i++;
    let end = i;
    while (end > start && isOws(v.charCodeAt(end - 1))) end--;
    const len = end - start;
    if (len === 5 && equalsLowerAscii(v, start, 'close')) flags |= CONNECTION_CLOSE;
    else if (len === 10 && equalsLowerAscii(v, start, 'keep-alive')) flags |= CONNECTION_KEEP_ALIVE;
  }
  return flags;
}

function isOws(c: number): boolean {
  return c === SP || c === HTAB;
}

/** Compares v[start..] with a lower-case ASCII word, ignoring the case of letters in v. */
function equalsLowerAscii(v: string, start: number, word: string): boolean {
  for (let k = 0; k < word.length; k++) {
    const c = v.charCodeAt(start + k);
    const lower = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
    if (lower !== word.charCodeAt(k)) return false;
  }
  return true;
}

/** Skips `name=value` parameters up to the next list comma, honouring quoted strings. */
function skipParameters(v: string, i: number): number {
  const n = v.length;
  while (i < n) {
    const c = v.charCodeAt(i);
    if (c === COMMA) return i;
    if (c === DQUOTE) {
      i++;
      while (i < n) {
        const q = v.charCodeAt(i);
        if (q === BACKSLASH) i += 2;
        else if (q === DQUOTE) break;
        else i++;
      }
    }
    i++;
  }
  return n;
}
