/**
 * Writes the head of a request forwarded upstream. The proxy never passes on the client's framing
 * bytes: it re-serialises every request with CRLF line ends and exactly one framing field, chosen
 * from the checked request, so the upstream cannot read the message boundaries differently.
 */
import type { HeaderList } from './header-list.js';

export const CRLF = '\r\n';
/** The last chunk and the empty trailer section that end a chunked body. */
export const LAST_CHUNK = '0\r\n\r\n';

export interface BodyFraming {
  kind: 'none' | 'length' | 'chunked';
  /** The body length when kind is 'length'; ignored otherwise. */
  length: number;
}

/**
 * `METHOD SP target SP HTTP/1.1 CRLF`, the fields, the framing field, CRLF. Any content-length or
 * transfer-encoding in `headers` is skipped: framing comes from `framing` alone. Fields are
 * written as given; they must already be valid (checked on the way in, hop-by-hop removed).
 *
 * Strings from uWS are UTF-8 decoded, so write the result with 'utf8'; 'latin1' would cut chars
 * above 0xff down to one byte.
 */
export function serializeRequestHead(
  method: string,
  target: string,
  headers: HeaderList,
  framing: BodyFraming,
): string {
  let out = method + ' ' + target + ' HTTP/1.1\r\n';
  const raw = headers.raw;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name === 'content-length' || name === 'transfer-encoding') continue;
    out += name + ': ' + raw[i + 1]! + '\r\n';
  }
  if (framing.kind === 'length') {
    const n = framing.length;
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`invalid body length ${n}`);
    out += 'content-length: ' + n + '\r\n';
  } else if (framing.kind === 'chunked') {
    out += 'transfer-encoding: chunked\r\n';
  }
  return out + '\r\n';
}

/**
 * The size line before `len` bytes of chunk data. A zero length would end the body, so it throws:
 * an empty read must be skipped, and the end written as LAST_CHUNK.
 */
export function chunkHeader(len: number): string {
  if (!Number.isSafeInteger(len) || len <= 0) throw new RangeError(`invalid chunk length ${len}`);
  return len.toString(16) + '\r\n';
}
