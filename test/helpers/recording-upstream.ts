/**
 * A strict HTTP/1.1 upstream on a raw `net` server, for framing tests: it keeps the exact bytes it
 * receives on every connection, parses them itself by the letter of RFC 9112 (request line, field
 * lines, Content-Length or chunked body, trailers), and answers each request with a small 200 whose
 * `x-recorded-request` header names the request's number in `requests` (0-based, over all
 * connections).
 *
 * It is deliberately stricter than a real server: whatever the proxy sends it must be one clean,
 * unambiguous serialisation. Bytes it cannot parse strictly end the connection (a 400 and close) and
 * are recorded in `errors` (the 400 carries `x-recorded-error`); things that parse but should never leave a proxy (two Host fields, a
 * repeated Content-Length) are listed in the request's `problems`.
 */
import { createServer, type Server, type Socket } from 'node:net';

export type RecordedFraming = 'none' | 'length' | 'chunked';

export interface RecordedRequest {
  /** Position in RecordingUpstream.requests; also sent back in `x-recorded-request`. */
  index: number;
  /** RecordedConnection.id of the connection it came on. */
  connection: number;
  method: string;
  target: string;
  version: string;
  /** Field lines in order, names as sent. */
  headers: [string, string][];
  /** The body as the framing delivers it (chunked decoded). */
  body: Buffer;
  framing: RecordedFraming;
  /** Trailer fields of a chunked body. */
  trailers: [string, string][];
  /** The exact bytes of this request on the wire. */
  raw: Buffer;
  /** Legal-but-suspect things a proxy should never emit (two Host fields, repeated Content-Length, ...). */
  problems: string[];
}

export interface RecordedConnection {
  id: number;
  /** Every byte received, in order. */
  chunks: Buffer[];
  readonly raw: Buffer;
  requests: RecordedRequest[];
  /** Set when the bytes could not be parsed strictly; the connection was then answered 400 and closed. */
  error: string | null;
  /** Bytes of an unfinished request when the connection closed (the peer gave up mid-request). */
  leftover: number;
  closed: boolean;
}

export interface RecordedError {
  connection: number;
  error: string;
  /** The unparsable bytes from where the failed request began, latin1. */
  text: string;
}

export interface RecordingUpstream {
  port: number;
  requests: RecordedRequest[];
  connections: RecordedConnection[];
  errors: RecordedError[];
  /** Header of a request, case-insensitive; the first when repeated. */
  header(r: RecordedRequest, name: string): string | undefined;
  close(): Promise<void>;
}

const MAX_HEAD = 64 * 1024;
const MAX_CHUNK_HEX_DIGITS = 12;

// RFC 9110 5.6.2 tchar.
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (TCHAR[s.charCodeAt(i)] !== 1) return false;
  return true;
}

/** field-value: VCHAR, obs-text, SP and HTAB inside, no leading or trailing whitespace left. */
function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x09 || c === 0x20) continue;
    if (c < 0x21 || c === 0x7f) return false;
  }
  return true;
}

/** request-target: visible ASCII only (RFC 9112 3.2 forms are all made of VCHAR). */
function isTarget(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/** Why bytes are not a strict HTTP/1.1 request. Errors inside a chunked body start with "chunked body: ". */
export class StrictError extends Error {}

/** Finds the next CRLF from `from`; a bare CR or bare LF before it is an error. -1 when incomplete. */
function lineEnd(buf: Buffer, from: number, limit: number): number {
  for (let i = from; i < buf.length; i++) {
    const c = buf[i]!;
    if (c === 0x0a) throw new StrictError('bare LF');
    if (c === 0x0d) {
      if (i + 1 >= buf.length) return -1;
      if (buf[i + 1] !== 0x0a) throw new StrictError('bare CR');
      return i;
    }
    if (i - from > limit) throw new StrictError('line too long');
  }
  return -1;
}

/** Parses field lines from `pos` up to and including the empty line. null when incomplete. */
function parseFields(buf: Buffer, pos: number): { fields: [string, string][]; end: number } | null {
  const fields: [string, string][] = [];
  for (;;) {
    const e = lineEnd(buf, pos, MAX_HEAD);
    if (e === -1) return null;
    if (e === pos) return { fields, end: e + 2 };
    const line = buf.toString('latin1', pos, e);
    if (line.charCodeAt(0) === 0x20 || line.charCodeAt(0) === 0x09) throw new StrictError('obs-fold (line starting with whitespace)');
    const colon = line.indexOf(':');
    if (colon <= 0) throw new StrictError(`field line without a name: ${JSON.stringify(line)}`);
    const name = line.slice(0, colon);
    if (!isToken(name)) throw new StrictError(`invalid field name ${JSON.stringify(name)}`);
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (!isFieldValue(value)) throw new StrictError(`invalid field value for ${name}: ${JSON.stringify(value)}`);
    fields.push([name, value]);
    pos = e + 2;
  }
}

interface Parsed {
  request: Omit<RecordedRequest, 'index' | 'connection'>;
  consumed: number;
}

/** Parses one complete request at the start of `buf`; null when more bytes are needed. */
export function parseStrictRequest(buf: Buffer): Parsed | null {
  const le = lineEnd(buf, 0, 16 * 1024);
  if (le === -1) {
    if (buf.length > MAX_HEAD) throw new StrictError('request line too long');
    return null;
  }
  const line = buf.toString('latin1', 0, le);
  const m = /^([^ ]+) ([^ ]+) (HTTP\/1\.[01])$/.exec(line);
  if (!m) throw new StrictError(`bad request line ${JSON.stringify(line)}`);
  const [, method, target, version] = m as unknown as [string, string, string, string];
  if (!isToken(method)) throw new StrictError(`bad method ${JSON.stringify(method)}`);
  if (!isTarget(target)) throw new StrictError(`bad target ${JSON.stringify(target)}`);
  const f = parseFields(buf, le + 2);
  if (!f) {
    if (buf.length > MAX_HEAD) throw new StrictError('head too large');
    return null;
  }
  const headers = f.fields;
  const problems: string[] = [];
  const all = (n: string) => headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
  const hosts = all('host');
  if (hosts.length !== 1) problems.push(`${hosts.length} host fields`);
  const cls = all('content-length');
  const tes = all('transfer-encoding');
  if (cls.length > 0 && tes.length > 0) throw new StrictError('content-length with transfer-encoding');
  if (tes.length > 1) throw new StrictError('more than one transfer-encoding field');
  if (cls.length > 1) {
    if (new Set(cls).size > 1) throw new StrictError(`differing content-length ${JSON.stringify(cls)}`);
    problems.push('repeated content-length');
  }
  let pos = f.end;
  let framing: RecordedFraming = 'none';
  let body: Buffer = Buffer.alloc(0);
  const trailers: [string, string][] = [];
  if (tes.length === 1) {
    if (tes[0] !== 'chunked') throw new StrictError(`transfer-encoding ${JSON.stringify(tes[0])} (only "chunked" is clean)`);
    if (version !== 'HTTP/1.1') throw new StrictError('transfer-encoding in HTTP/1.0');
    framing = 'chunked';
    const parts: Buffer[] = [];
    try {
      for (;;) {
        const e = lineEnd(buf, pos, 1024);
        if (e === -1) return null;
        const sizeLine = buf.toString('latin1', pos, e);
        const sm = /^([0-9A-Fa-f]+)((?:[ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*=[ \t]*(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[^"\\\r\n]|\\.)*"))?)*)$/.exec(sizeLine);
        if (!sm) throw new StrictError(`bad chunk-size line ${JSON.stringify(sizeLine)}`);
        if (sm[1]!.length > MAX_CHUNK_HEX_DIGITS) throw new StrictError(`chunk size too long ${sm[1]}`);
        const size = parseInt(sm[1]!, 16);
        pos = e + 2;
        if (size === 0) {
          const t = parseFields(buf, pos);
          if (!t) return null;
          trailers.push(...t.fields);
          pos = t.end;
          break;
        }
        if (buf.length < pos + size + 2) return null;
        parts.push(buf.subarray(pos, pos + size));
        if (buf[pos + size] !== 0x0d || buf[pos + size + 1] !== 0x0a) throw new StrictError('chunk data not followed by CRLF');
        pos += size + 2;
      }
    } catch (e) {
      if (e instanceof StrictError) throw new StrictError(`chunked body: ${e.message}`);
      throw e;
    }
    body = Buffer.concat(parts);
  } else if (cls.length > 0) {
    if (!/^[0-9]{1,15}$/.test(cls[0]!)) throw new StrictError(`bad content-length ${JSON.stringify(cls[0])}`);
    const n = Number(cls[0]);
    framing = 'length';
    if (buf.length < pos + n) return null;
    body = Buffer.from(buf.subarray(pos, pos + n));
    pos += n;
  }
  return {
    request: { method, target, version, headers, body, framing, trailers, raw: Buffer.from(buf.subarray(0, pos)), problems },
    consumed: pos,
  };
}

export function startRecordingUpstream(port = 0): Promise<RecordingUpstream> {
  const sockets = new Set<Socket>();
  let server: Server;
  const up: RecordingUpstream = {
    port: 0,
    requests: [],
    connections: [],
    errors: [],
    header(r, name) {
      const n = name.toLowerCase();
      return r.headers.find(([k]) => k.toLowerCase() === n)?.[1];
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  server = createServer((socket) => {
    sockets.add(socket);
    const conn: RecordedConnection = {
      id: up.connections.length,
      chunks: [],
      get raw() {
        return Buffer.concat(this.chunks);
      },
      requests: [],
      error: null,
      leftover: 0,
      closed: false,
    };
    up.connections.push(conn);
    let pending: Buffer = Buffer.alloc(0);
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      conn.closed = true;
      conn.leftover = pending.length;
    });
    socket.on('data', (d: Buffer) => {
      if (conn.error !== null) return;
      conn.chunks.push(d);
      pending = pending.length === 0 ? d : Buffer.concat([pending, d]);
      let out = '';
      let close = false;
      try {
        for (;;) {
          if (pending.length === 0) break;
          const p = parseStrictRequest(pending);
          if (!p) break;
          pending = pending.subarray(p.consumed);
          const r: RecordedRequest = { index: up.requests.length, connection: conn.id, ...p.request };
          up.requests.push(r);
          conn.requests.push(r);
          const wantsClose = r.headers.some(([k, v]) => k.toLowerCase() === 'connection' && /(^|,)\s*close\s*(,|$)/i.test(v));
          out += `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nx-recorded-request: ${r.index}\r\n${wantsClose ? 'connection: close\r\n' : ''}\r\nok`;
          if (wantsClose) {
            close = true;
            break;
          }
        }
      } catch (e) {
        if (!(e instanceof StrictError)) throw e;
        conn.error = e.message;
        up.errors.push({ connection: conn.id, error: e.message, text: pending.toString('latin1') });
        out += 'HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nx-recorded-error: 1\r\nconnection: close\r\n\r\n';
        close = true;
      }
      if (out) socket.write(out);
      if (close) socket.end();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      up.port = (server.address() as import('node:net').AddressInfo).port;
      resolve(up);
    });
  });
}
