/**
 * TLS peers for the TCP listener tests (unit tests in packages/workers/test import them too): TLS
 * clients that report what they saw (certificate, resumption, ALPN, reply, error), TLS upstreams that
 * answer with their name, and a socket that trickles its writes a few bytes at a time.
 */
import { X509Certificate } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { connect as tlsConnect, createServer as createTlsServer, type ConnectionOptions, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Pem } from '../helpers/certs.js';

export interface TlsResult {
  /** The handshake completed from the client's side. */
  secure: boolean;
  /** CN of the certificate the server presented. */
  cn: string;
  resumed: boolean;
  reply: Buffer;
  /** The error code the connection ended with, if any. */
  error?: string;
  session?: Buffer;
  alpn: string | false;
}

/**
 * Connects with TLS, sends `data` and half-closes, and collects the reply until the connection closes.
 * Resolves with what the client saw; never rejects.
 */
export function tlsExchange(port: number, opts: ConnectionOptions, data: Buffer | string): Promise<TlsResult> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ...opts });
    const chunks: Buffer[] = [];
    const r: TlsResult = { secure: false, cn: '', resumed: false, reply: Buffer.alloc(0), alpn: false };
    s.on('secureConnect', () => {
      r.secure = true;
      r.cn = cnOf(s);
      r.resumed = s.isSessionReused();
      r.alpn = s.alpnProtocol ?? false;
      s.end(data);
    });
    s.on('session', (session: Buffer) => (r.session = session));
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => s.end());
    s.on('error', (e: NodeJS.ErrnoException) => (r.error ??= e.code ?? e.message));
    s.on('close', () => {
      r.reply = Buffer.concat(chunks);
      resolve(r);
    });
  });
}

/** Opens a TLS connection and resolves once it is secure (rejects on an error before that). */
export function tlsOpen(port: number, opts: ConnectionOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ...opts }, () => resolve(s));
    s.once('error', reject);
  });
}

export function cnOf(s: TLSSocket): string {
  const raw = s.getPeerX509Certificate();
  return raw === undefined ? '' : (/CN=([^\n]+)/.exec(raw.subject)?.[1] ?? '');
}

export function fingerprintOf(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

/** A TLS upstream with `pem` that writes "<name>:" then echoes, ending when the client ends. */
export function tlsTagged(name: string, pem: Pem): Promise<{ server: TlsServer; port: number; accepted: () => number; close: () => Promise<void> }> {
  let accepted = 0;
  // Every TCP connection, also those whose handshake never completed, so `close` ends them all.
  const sockets = new Set<Socket>();
  const server = createTlsServer({ cert: pem.cert, key: pem.key, allowHalfOpen: true }, (s) => {
    accepted++;
    s.on('error', () => {});
    s.write(`${name}:`);
    s.pipe(s);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => {});
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        server,
        port: (server.address() as { port: number }).port,
        accepted: () => accepted,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      }),
    ),
  );
}

/**
 * A TCP connection that sends what is written to it `step` bytes per write, with a pause between
 * writes, so the far end reads the first bytes (a ClientHello) in many small pieces. Give it to
 * tls.connect as `socket`. `writes` counts the pieces sent.
 */
export class Trickle extends Duplex {
  writes = 0;
  private readonly socket: Socket;

  constructor(port: number, private readonly step: number) {
    super();
    this.socket = netConnect({ port, host: '127.0.0.1', noDelay: true });
    this.socket.on('data', (d) => this.push(d));
    this.socket.on('end', () => this.push(null));
    this.socket.on('error', (e) => this.destroy(e));
  }

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    void this.trickle(chunk).then(() => cb(), cb);
  }

  private async trickle(chunk: Buffer): Promise<void> {
    for (let at = 0; at < chunk.length; at += this.step) {
      this.socket.write(chunk.subarray(at, at + this.step));
      this.writes++;
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  override _final(cb: () => void): void {
    this.socket.end();
    cb();
  }

  override _destroy(e: Error | null, cb: (e: Error | null) => void): void {
    this.socket.destroy();
    cb(e);
  }
}
