/**
 * The proxy-wasm map serialization (header maps, local reply headers, map properties): a u32 count,
 * then a u32 key size and a u32 value size per pair, then each key and each value followed by a NUL.
 * Little-endian. An empty map is either no bytes or a single 0.
 */

const utf8 = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

/** Pairs as they come from a HeaderList's raw array: name, value, name, value, ... */
export function serializePairs(raw: readonly string[]): Uint8Array {
  const count = raw.length >>> 1;
  const encoded: Uint8Array[] = new Array<Uint8Array>(raw.length);
  let size = 4 + count * 8;
  for (let i = 0; i < raw.length; i++) {
    const bytes = utf8.encode(raw[i]!);
    encoded[i] = bytes;
    size += bytes.length + 1;
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, count, true);
  let at = 4 + count * 8;
  for (let i = 0; i < raw.length; i++) {
    const bytes = encoded[i]!;
    view.setUint32(4 + i * 4, bytes.length, true);
    out.set(bytes, at);
    at += bytes.length + 1;
  }
  return out;
}

/** name, value, name, value, ...; throws RangeError on bytes that are not a well-formed map. */
export function deserializePairs(bytes: Uint8Array): string[] {
  if (bytes.length === 0 || (bytes.length === 1 && bytes[0] === 0)) return [];
  if (bytes.length < 4) throw new RangeError('a serialized map needs at least 4 bytes');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(0, true);
  let at = 4 + count * 8;
  if (count > (bytes.length - 4) / 10 || at > bytes.length) throw new RangeError(`a serialized map of ${bytes.length} bytes cannot hold ${count} pairs`);
  const out: string[] = new Array<string>(count * 2);
  for (let i = 0; i < count * 2; i++) {
    const len = view.getUint32(4 + i * 4, true);
    if (at + len + 1 > bytes.length) throw new RangeError('a serialized map entry runs past its end');
    if (bytes[at + len] !== 0) throw new RangeError('a serialized map entry is not NUL-terminated');
    out[i] = decoder.decode(bytes.subarray(at, at + len));
    at += len + 1;
  }
  return out;
}
