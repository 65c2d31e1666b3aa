/**
 * MurmurHash3 (x86, 32-bit) over UTF-8 bytes: the one hash the consistent-hash policies use for
 * ring points, Maglev permutations and request keys. Fixed and seedable, so every worker and every
 * process maps a key to the same host. Strings are encoded into a reusable scratch buffer, so
 * hashing a header value per request allocates nothing.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

let scratch = new Uint8Array(256);

/** MurmurHash3 x86_32 of `bytes[0, length)`; an unsigned 32-bit integer. */
export function murmur3(bytes: Uint8Array, length: number = bytes.length, seed = 0): number {
  let h = seed | 0;
  const blocks = length & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = length & 3;
  if (rest !== 0) {
    let k = 0;
    if (rest === 3) k ^= bytes[blocks + 2] << 16;
    if (rest >= 2) k ^= bytes[blocks + 1] << 8;
    k ^= bytes[blocks];
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hash of a string's UTF-8 bytes. Callers hash header, cookie and source-ip values with this. */
export function hashKey(str: string, seed = 0): number {
  const length = encodeUtf8(str, 0);
  return murmur3(scratch, length, seed);
}

/** Same as `hashKey(`${key}_${index}`, seed)` without building the string: ring points per host. */
export function hashIndexedKey(key: string, index: number, seed = 0): number {
  let length = encodeUtf8(key, 12);
  scratch[length++] = 0x5f; // '_'
  length = writeDecimal(Math.floor(index), length);
  return murmur3(scratch, length, seed);
}

/**
 * Fills `out[0, count)` with `hashIndexedKey(key, 0 .. count-1, seed)`, encoding the key once:
 * the ring's points for one host.
 */
export function hashIndexedKeys(key: string, count: number, out: Uint32Array, seed = 0): void {
  const base = encodeUtf8(key, 12);
  scratch[base] = 0x5f; // '_'
  for (let i = 0; i < count; i++) out[i] = murmur3(scratch, writeDecimal(i, base + 1), seed);
}

/** Encodes `str` into `scratch` (grown when needed, with `extra` bytes to spare); returns the byte length. */
function encodeUtf8(str: string, extra: number): number {
  const need = str.length * 3 + extra;
  if (scratch.length < need) scratch = new Uint8Array(Math.max(need, scratch.length * 2));
  const out = scratch;
  let n = 0;
  for (let i = 0; i < str.length; i++) {
    let c = str.charCodeAt(i);
    if (c < 0x80) {
      out[n++] = c;
    } else if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6);
      out[n++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < str.length ? str.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        out[n++] = 0xf0 | (cp >> 18);
        out[n++] = 0x80 | ((cp >> 12) & 0x3f);
        out[n++] = 0x80 | ((cp >> 6) & 0x3f);
        out[n++] = 0x80 | (cp & 0x3f);
        i++;
      } else {
        // A lone surrogate encodes as U+FFFD, as Buffer and TextEncoder do.
        c = 0xfffd;
        out[n++] = 0xe0 | (c >> 12);
        out[n++] = 0x80 | ((c >> 6) & 0x3f);
        out[n++] = 0x80 | (c & 0x3f);
      }
    } else {
      out[n++] = 0xe0 | (c >> 12);
      out[n++] = 0x80 | ((c >> 6) & 0x3f);
      out[n++] = 0x80 | (c & 0x3f);
    }
  }
  return n;
}

function writeDecimal(value: number, at: number): number {
  if (value === 0) {
    scratch[at] = 0x30;
    return at + 1;
  }
  let digits = 0;
  for (let v = value; v > 0; v = Math.floor(v / 10)) digits++;
  let pos = at + digits;
  for (let v = value; v > 0; v = Math.floor(v / 10)) scratch[--pos] = 0x30 + (v % 10);
  return at + digits;
}
