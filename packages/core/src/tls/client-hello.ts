/**
 * Reads the server name (SNI) a TLS client asks for from the first bytes of its connection, without
 * decrypting anything: what a TCP listener that passes TLS through needs to choose a cluster. The
 * ClientHello may span several TLS records; it is read once whole (it is at most a few KiB; a limit
 * bounds what is buffered).
 */

/** The ClientHello is not complete yet: read more bytes and call again. */
export const NEED_MORE = 0;
/** The bytes are not a TLS ClientHello (or break its framing). */
export const NOT_TLS = 1;
/** A ClientHello: `serverName` is its SNI host name, or '' when it sent none. */
export const CLIENT_HELLO = 2;

export type ClientHelloResult = { kind: typeof NEED_MORE } | { kind: typeof NOT_TLS; reason: string } | { kind: typeof CLIENT_HELLO; serverName: string };

const RECORD_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const NAME_TYPE_HOST = 0;
/** Largest ClientHello read (TLS allows 16 MiB; real ones are a few KiB, post-quantum ones under 8). */
export const MAX_CLIENT_HELLO_BYTES = 64 * 1024;

const needMore: ClientHelloResult = Object.freeze({ kind: NEED_MORE });
const notTls = (reason: string): ClientHelloResult => ({ kind: NOT_TLS, reason });

/** Parses `data`, the bytes received so far from the client. */
export function readClientHello(data: Uint8Array): ClientHelloResult {
  // Gather the handshake message from the records that carry it.
  const parts: Uint8Array[] = [];
  let have = 0;
  let need = -1; // the handshake message's length once its header is in
  let at = 0;
  while (need === -1 || have < need) {
    if (data.length < at + 5) return data.length >= MAX_CLIENT_HELLO_BYTES ? notTls('client hello too large') : needMore;
    if (data[at] !== RECORD_HANDSHAKE) return notTls('not a TLS handshake record');
    if (data[at + 1] !== 3) return notTls('not a TLS record version');
    const len = (data[at + 3]! << 8) | data[at + 4]!;
    if (len === 0) return notTls('empty handshake record');
    if (data.length < at + 5 + len) return at + 5 + len > MAX_CLIENT_HELLO_BYTES ? notTls('client hello too large') : needMore;
    parts.push(data.subarray(at + 5, at + 5 + len));
    have += len;
    at += 5 + len;
    if (need === -1 && have >= 4) {
      const first = parts.length === 1 ? parts[0]! : concat(parts, have);
      if (first[0] !== HANDSHAKE_CLIENT_HELLO) return notTls('first handshake message is not a ClientHello');
      need = 4 + ((first[1]! << 16) | (first[2]! << 8) | first[3]!);
      if (need > MAX_CLIENT_HELLO_BYTES) return notTls('client hello too large');
    }
  }
  const msg = parts.length === 1 ? parts[0]! : concat(parts, have);
  return parseClientHello(msg.subarray(4, need));
}

function parseClientHello(b: Uint8Array): ClientHelloResult {
  let p = 2 + 32; // client_version, random
  if (b.length < p + 1) return notTls('truncated client hello');
  p += 1 + b[p]!; // session id
  if (b.length < p + 2) return notTls('truncated client hello');
  p += 2 + ((b[p]! << 8) | b[p + 1]!); // cipher suites
  if (b.length < p + 1) return notTls('truncated client hello');
  p += 1 + b[p]!; // compression methods
  if (p === b.length) return { kind: CLIENT_HELLO, serverName: '' }; // no extensions
  if (b.length < p + 2) return notTls('truncated client hello');
  const end = p + 2 + ((b[p]! << 8) | b[p + 1]!);
  if (end > b.length) return notTls('truncated extensions');
  p += 2;
  while (p + 4 <= end) {
    const type = (b[p]! << 8) | b[p + 1]!;
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    p += 4;
    if (p + len > end) return notTls('truncated extension');
    if (type === EXT_SERVER_NAME) return serverName(b.subarray(p, p + len));
    p += len;
  }
  return { kind: CLIENT_HELLO, serverName: '' };
}

function serverName(e: Uint8Array): ClientHelloResult {
  if (e.length < 2) return notTls('truncated server_name');
  const end = Math.min(e.length, 2 + ((e[0]! << 8) | e[1]!));
  let p = 2;
  while (p + 3 <= end) {
    const type = e[p]!;
    const len = (e[p + 1]! << 8) | e[p + 2]!;
    p += 3;
    if (p + len > end) return notTls('truncated server name');
    if (type === NAME_TYPE_HOST) {
      let name = '';
      for (let i = p; i < p + len; i++) {
        const c = e[i]!;
        // A host name is ASCII letters, digits, '-', '.' (and '_' seen in the wild); anything else is refused.
        if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f)) {
          return notTls('server name is not a host name');
        }
        name += String.fromCharCode(c);
      }
      return { kind: CLIENT_HELLO, serverName: name.toLowerCase() };
    }
    p += len;
  }
  return { kind: CLIENT_HELLO, serverName: '' };
}

function concat(parts: Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Whether a `server_names` entry matches `name`: exact, or `*.suffix` for any name ending in
 * `.suffix` (one or more labels before it). Names compare case-insensitively.
 */
export function serverNameMatches(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  if (p.startsWith('*.')) return name.length > p.length - 1 && name.endsWith(p.slice(1));
  return name === p;
}
