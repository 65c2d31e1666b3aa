/**
 * An upstream that answers before it has read the whole request body (an early 401, 413, or a 200 that
 * needs no body): the client gets the answer, the rest of its body is read and dropped, and its
 * keep-alive connection serves its next request. The upstream connection, which still holds unread
 * request bytes, is never reused. On both HTTP/1.1 codecs, through a real client socket.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simpleConfig } from '../helpers/configs.js';
import { freePorts } from '../helpers/ports.js';
import { startPillion, type PillionProcess } from '../helpers/pillion.js';
import { waitFor } from '../helpers/wait-for.js';

let upstream: Server;
let upstreamPort: number;
/** Upstream connections accepted, and heads read on them (one per connection: it never reads a body). */
const accepted: Socket[] = [];
const heads: string[] = [];

beforeAll(async () => {
  [upstreamPort] = await freePorts(1);
  // Reads one request head per connection and answers at once: /early without reading the body (and
  // without reading anything more), anything else normally.
  upstream = createServer((socket) => {
    accepted.push(socket);
    socket.on('error', () => {});
    let buf = '';
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = buf.slice(0, end);
      buf = buf.slice(end + 4);
      heads.push(head);
      const path = head.split(' ')[1];
      if (path === '/early') {
        socket.pause();
        socket.write('HTTP/1.1 401 Unauthorized\r\ncontent-length: 6\r\n\r\ndenied');
      } else socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${path!.length}\r\n\r\n${path}`);
    });
  });
  await new Promise<void>((r) => upstream.listen(upstreamPort, '127.0.0.1', () => r()));
});

afterAll(async () => {
  for (const s of accepted) s.destroy();
  await new Promise((r) => upstream.close(r));
});

/** One client connection that reads responses as they come. */
function client(port: number) {
  const socket = createConnection(port, '127.0.0.1');
  let text = '';
  socket.on('data', (d) => (text += d.toString('latin1')));
  socket.on('error', () => {});
  return {
    socket,
    get text() {
      return text;
    },
    /** The responses received so far, split at each status line. */
    get responses(): string[] {
      return text.split(/(?=HTTP\/1\.1 \d{3} )/).filter(Boolean);
    },
  };
}

for (const codec of ['uws', 'http1-strict'] as const) {
  describe(`codec ${codec}`, () => {
    let pillion: PillionProcess;
    let port: number;

    beforeAll(async () => {
      const [listen, admin] = await freePorts(2);
      port = listen!;
      pillion = await startPillion(simpleConfig({ listen: listen!, admin: admin!, upstreams: [upstreamPort], listener: { codec } }));
    });

    afterAll(async () => {
      await pillion?.stop();
    });

    it('answers the client, drops the rest of its body, serves its next request, and never reuses the upstream connection', async () => {
      const c = client(port);
      const before = accepted.length;
      const size = 4 * 1024 * 1024;
      c.socket.write(`PUT /early HTTP/1.1\r\nhost: x\r\ncontent-length: ${size}\r\n\r\n`);
      c.socket.write(Buffer.alloc(64 * 1024, 0x61));
      await waitFor(() => c.responses.length === 1, { message: 'the early answer' });
      expect(c.responses[0]).toMatch(/^HTTP\/1\.1 401 Unauthorized\r\n/);
      expect(c.responses[0]).toMatch(/\r\n\r\ndenied$/);
      // The rest of the body, then the next request on the same connection.
      c.socket.write(Buffer.alloc(size - 64 * 1024, 0x61));
      c.socket.write('GET /next HTTP/1.1\r\nhost: x\r\n\r\n');
      await waitFor(() => c.responses.length === 2, { message: 'the answer to the next request' });
      expect(c.responses[1]).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n\/next$/);
      // /next went over a new upstream connection: the first still had the unread body in it.
      expect(accepted.length).toBe(before + 2);
      expect(heads.at(-1)).toMatch(/^GET \/next HTTP\/1\.1\r\n/);
      c.socket.destroy();
    });
  });
}
