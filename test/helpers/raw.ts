/**
 * Raw TCP peers for tests that need exact bytes: a client that sends a request verbatim and collects
 * what comes back until the connection closes, and an upstream that answers with scripted bytes.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface RawReply {
  /** Everything received, decoded as latin1. */
  text: string;
  /** The connection was closed by the peer (rather than by our timeout). */
  closedByPeer: boolean;
  status: number | undefined;
}

/** Sends `data` and reads until the peer closes or `waitMs` passes. */
export function rawRequest(port: number, data: string | Buffer | (string | Buffer)[], waitMs = 1500): Promise<RawReply> {
  return new Promise((resolve) => {
    const s = createConnection(port, '127.0.0.1');
    const parts = Array.isArray(data) ? data : [data];
    let text = '';
    let closedByPeer = false;
    s.on('connect', async () => {
      for (const p of parts) {
        s.write(p);
        if (parts.length > 1) await new Promise((r) => setTimeout(r, 30));
      }
    });
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', () => {});
    s.on('end', () => (closedByPeer = true));
    const timer = setTimeout(() => s.destroy(), waitMs);
    s.on('close', () => {
      clearTimeout(timer);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ text, closedByPeer, status: m ? Number(m[1]) : undefined });
    });
  });
}

export interface RawUpstream {
  server: Server;
  /** Requests (heads) received, in order. */
  requests: string[];
  /** Connections accepted. */
  connections: number;
  close(): Promise<void>;
}

/**
 * An upstream whose every answer is decided by `respond(requestHead, socket)`; it reads one request
 * head at a time (bodies are ignored unless the handler reads them).
 */
export function startRawUpstream(port: number, respond: (head: string, socket: Socket, index: number) => void): Promise<RawUpstream> {
  const up: RawUpstream = {
    server: undefined as unknown as Server,
    requests: [],
    connections: 0,
    close: () => new Promise((r) => {
      up.server.close(() => r());
      for (const s of sockets) s.destroy();
    }),
  };
  const sockets = new Set<Socket>();
  up.server = createServer((socket) => {
    up.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf = '';
    let bodyLeft = 0; // bytes of a content-length body still to skip
    let chunked = false; // skipping a chunked body up to its last chunk
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      for (;;) {
        if (bodyLeft > 0) {
          const n = Math.min(bodyLeft, buf.length);
          buf = buf.slice(n);
          bodyLeft -= n;
          if (bodyLeft > 0) return;
        }
        if (chunked) {
          const end = buf.indexOf('0\r\n\r\n');
          if (end === -1) return;
          buf = buf.slice(end + 5);
          chunked = false;
        }
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buf.slice(0, end + 4);
        buf = buf.slice(end + 4);
        const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
        bodyLeft = cl ? Number(cl[1]) : 0;
        chunked = /\r\ntransfer-encoding: *chunked/i.test(head);
        up.requests.push(head);
        respond(head, socket, up.requests.length - 1);
      }
    });
  });
  return new Promise((resolve, reject) => {
    up.server.once('error', reject);
    up.server.listen(port, '127.0.0.1', () => resolve(up));
  });
}
