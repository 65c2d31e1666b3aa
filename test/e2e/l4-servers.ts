/**
 * Real TCP and UDP upstreams and clients for the layer-4 end-to-end suites.
 *
 *  - echo: writes back what it reads and ends when the client ends
 *  - whoami: writes its name and a newline on connect, then echoes
 *  - framed: a request/response protocol; each request is [u32 length][payload], each response
 *    [u32 length]["NAME:" + payload reversed], answered in order on one connection
 *  - udpTagged: answers every datagram with "NAME:" + the datagram
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpServer {
  server: Server;
  close(): Promise<void>;
}

function serve(port: number, onSocket: (s: Socket) => void): Promise<TcpServer> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onSocket(s);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () =>
      resolve({
        server,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            for (const s of sockets) s.destroy();
          }),
      }),
    );
  });
}

export const echo = (port: number) => serve(port, (s) => s.pipe(s));

export const whoami = (name: string, port: number) =>
  serve(port, (s) => {
    s.write(`${name}\n`);
    s.pipe(s);
  });

/** The upstream reads until the client's FIN, then answers with everything it got, reversed. */
export const reverseAfterEnd = (port: number) =>
  serve(port, (s) => {
    const got: Buffer[] = [];
    s.on('data', (d) => got.push(d));
    s.on('end', () => s.end(Buffer.from(Buffer.concat(got)).reverse()));
  });

export function frame(payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(payload.length);
  return Buffer.concat([head, payload]);
}

/** Splits a byte stream into frames; calls `onFrame` for each complete one. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onFrame: (payload: Buffer) => void) {}
  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 4) {
      const n = this.buf.readUInt32BE(0);
      if (this.buf.length < 4 + n) break;
      this.onFrame(this.buf.subarray(4, 4 + n));
      this.buf = this.buf.subarray(4 + n);
    }
  }
}

export const framed = (name: string, port: number) =>
  serve(port, (s) => {
    const reader = new FrameReader((p) => s.write(frame(Buffer.concat([Buffer.from(`${name}:`), Buffer.from(p).reverse()]))));
    s.on('data', (d) => reader.push(d));
    s.on('end', () => s.end());
  });

/** Sends `data`, half-closes, and resolves with everything received until the connection closes. */
export function roundTrip(port: number, data: Buffer | string, localAddress?: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    s.on('data', (d) => chunks.push(d));
    s.on('error', reject);
    s.on('end', () => {
      s.end();
      resolve(Buffer.concat(chunks));
    });
    s.end(data);
  });
}

/** Connects and resolves with the first line the upstream sends (its name) and the open socket. */
export function hello(port: number, localAddress?: string): Promise<{ name: string; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress });
    let got = '';
    s.setEncoding('utf8');
    const onData = (d: string) => {
      got += d;
      const nl = got.indexOf('\n');
      if (nl === -1) return;
      s.off('data', onData);
      resolve({ name: got.slice(0, nl), socket: s });
    };
    s.on('data', onData);
    s.on('error', reject);
    s.on('close', () => reject(new Error(`closed before a name arrived (got ${JSON.stringify(got)})`)));
  });
}

export async function udpTagged(name: string, port: number): Promise<UdpSocket> {
  const socket = createSocket('udp4');
  socket.on('message', (m, r) => socket.send(Buffer.concat([Buffer.from(`${name}:`), m]), r.port, r.address));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, '127.0.0.1', () => resolve());
  });
  return socket;
}

/** A UDP client bound to `address` (any 127.x address works on Linux loopback). */
export async function udpClient(address = '127.0.0.1') {
  const socket = createSocket('udp4');
  const replies: { text: string; from: number }[] = [];
  socket.on('message', (m, r) => replies.push({ text: String(m), from: r.port }));
  await new Promise<void>((resolve) => socket.bind(0, address, () => resolve()));
  return {
    socket,
    replies,
    send: (port: number, data: string | Buffer) => socket.send(data, port, '127.0.0.1'),
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

/** The access-log lines (JSON) the process printed for one listener. */
export function accessLines(output: string, listener: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{') || !line.includes(`"listener":"${listener}"`)) continue;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed.protocol !== undefined) out.push(parsed);
    } catch {
      // a line cut by the reader; the next read has it whole
    }
  }
  return out;
}
