/**
 * node:http2 clients for the HTTP/2 end-to-end tests: a session that resolves once connected (or
 * rejects with why it never was), one request with its whole answer, and what a session heard from
 * the server (GOAWAY codes, PINGs, its close), recorded as it happens so a test can wait for it.
 */
import { connect, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type IncomingHttpStatusHeader, type OutgoingHttpHeaders, type SecureClientSessionOptions } from 'node:http2';

export interface H2Reply {
  status: number;
  headers: IncomingHttpHeaders & IncomingHttpStatusHeader;
  body: Buffer;
}

/** What a session went through, filled in by its events. */
export interface SessionLog {
  /** Error codes of the GOAWAY frames received, in order. */
  goaways: number[];
  /** The last stream id each GOAWAY said the server processed (streams above it never will be). */
  goawayLastStreams: number[];
  /** PING frames received from the server (Node answers them itself). */
  pings: number;
  /** The session emitted 'close'. */
  closed: boolean;
  /** The session's error, if any (a GOAWAY with an error code ends it with one). */
  error: (Error & { code?: string }) | null;
}

export interface H2Session {
  session: ClientHttp2Session;
  log: SessionLog;
  /** Resolves when the session has closed. */
  closed: Promise<void>;
}

/** Opens a session and waits for its SETTINGS exchange; rejects when the connection fails or closes first. */
export function h2Connect(authority: string, options: SecureClientSessionOptions = {}): Promise<H2Session> {
  return new Promise((resolve, reject) => {
    const session = connect(authority, options);
    const log: SessionLog = { goaways: [], goawayLastStreams: [], pings: 0, closed: false, error: null };
    const closed = new Promise<void>((r) => session.once('close', () => r()));
    session.on('goaway', (code: number, lastStreamId: number) => {
      log.goaways.push(code);
      log.goawayLastStreams.push(lastStreamId);
    });
    session.on('ping', () => log.pings++);
    session.on('error', (e: Error) => {
      log.error = e;
      reject(e);
    });
    session.once('close', () => {
      log.closed = true;
      reject(new Error(`session to ${authority} closed before it connected`));
    });
    session.once('remoteSettings', () => resolve({ session, log, closed }));
  });
}

/** Sends one request (with `body`, if any) and collects the answer; rejects when the stream is reset or fails. */
export function h2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer | string): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: body === undefined });
    } catch (e) {
      reject(e);
      return;
    }
    collect(stream).then(resolve, reject);
    if (body !== undefined) stream.end(body);
  });
}

/** The answer on a stream already sent: its head and whole body; rejects (with the stream's `rstCode`) on a reset or an error. */
export function collect(stream: ClientHttp2Stream): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    let head: (IncomingHttpHeaders & IncomingHttpStatusHeader) | null = null;
    let error: Error | null = null;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (head = h));
    stream.on('data', (d: Buffer) => chunks.push(d));
    // A reset is reported as an error and then a close; the close has the code.
    stream.on('error', (e: Error) => (error = e));
    stream.on('close', () => {
      if (head === null || error !== null || stream.rstCode !== 0) {
        const what = error?.message ?? `stream closed with code ${stream.rstCode}${head === null ? ' before a response' : ''}`;
        reject(Object.assign(new Error(what), { rstCode: stream.rstCode, status: head === null ? 0 : Number(head[':status']) }));
        return;
      }
      resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks) });
    });
  });
}

/** Writes `body` in `chunk`-byte pieces, waiting for 'drain' whenever the stream says so, then ends it. Resolves with how often it had to wait. */
export async function writeAll(stream: ClientHttp2Stream, body: Buffer, chunk = 64 * 1024): Promise<number> {
  let waits = 0;
  for (let at = 0; at < body.length; at += chunk) {
    if (!stream.write(body.subarray(at, at + chunk))) {
      waits++;
      await new Promise<void>((resolve, reject) => {
        const done = (e?: Error) => {
          stream.off('drain', done);
          stream.off('close', closed);
          if (e) reject(e);
          else resolve();
        };
        const closed = () => done(new Error(`stream closed (code ${stream.rstCode}) while writing its body`));
        stream.on('drain', done);
        stream.on('close', closed);
      });
    }
  }
  stream.end();
  return waits;
}
