/**
 * HTTP/2 flow control, resets and rapid reset through an h2c listener, end to end: the real CLI,
 * node:http2 clients, an HTTP/1.1 upstream in this process.
 *
 * - A client that stops reading a 20 MiB response holds the upstream back (its writes stall for good
 *   while the client reads nothing, far short of the whole body: the proxy does not buffer it), and
 *   once the client reads, the body arrives intact. The same the other way: an upstream that does not
 *   read a 20 MiB upload holds the client's writes back, and once it reads, it gets every byte.
 * - A stream the client resets cancels its upstream request, and is counted.
 * - A client that opens and resets streams in a loop (CVE-2023-44487) past `max_resets_per_10s` gets
 *   GOAWAY ENHANCE_YOUR_CALM and is cut off, counted; every upstream request it started is cancelled,
 *   and the worker goes on serving other clients.
 * - A header block continued in endless CONTINUATION frames (CVE-2024-27983) ends the connection with
 *   GOAWAY, counted as a protocol error; nothing reaches the upstream.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { constants, type ClientHttp2Stream } from 'node:http2';
import { connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freePorts } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait-for.js';
import { collect, h2Connect, h2Request, writeAll, type H2Session } from './h2-clients.js';

const MiB = 1024 * 1024;
const BIG = randomBytes(20 * MiB);
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let pillion: PillionProcess;
let upstream: Server;
let ports: { h2c: number; flood: number };
const sessions: H2Session[] = [];

/** How the upstream's write of /big is going. */
const download = { written: 0, blocked: false, finished: false };
/** /sink: uploads that arrived, bytes of the current one read, and how to start reading a held one. */
const sink = { arrived: 0, received: 0, release: null as (() => void) | null };
/** /hang: requests that arrived, and those whose client side went away before an answer. */
const hang = { arrived: 0, aborted: 0 };

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://upstream');
  switch (url.pathname) {
    case '/big': {
      download.written = 0;
      download.blocked = false;
      download.finished = false;
      req.resume();
      res.setHeader('content-length', BIG.length);
      const write = (at: number): void => {
        while (at < BIG.length) {
          const next = Math.min(BIG.length, at + 64 * 1024);
          const ok = res.write(BIG.subarray(at, next));
          download.written = next;
          at = next;
          if (!ok) {
            download.blocked = true;
            res.once('drain', () => {
              download.blocked = false;
              write(at);
            });
            return;
          }
        }
        res.end(() => (download.finished = true));
      };
      write(0);
      return;
    }
    case '/sink': {
      // ?hold: nothing is read until sink.release(); ?slow: read a chunk per millisecond or so.
      sink.arrived++;
      sink.received = 0;
      const hash = createHash('sha256');
      const slow = url.searchParams.has('slow');
      const read = (): void => {
        req.on('data', (d: Buffer) => {
          sink.received += d.length;
          hash.update(d);
          if (slow) {
            req.pause();
            setTimeout(() => req.resume(), 1);
          }
        });
        req.resume();
      };
      req.on('end', () => res.end(JSON.stringify({ length: sink.received, sha256: hash.digest('hex') })));
      if (url.searchParams.has('hold')) {
        req.pause();
        sink.release = read;
      } else read();
      return;
    }
    case '/hang':
      hang.arrived++;
      req.resume();
      res.on('close', () => {
        if (!res.writableFinished) hang.aborted++;
      });
      return;
    default:
      req.resume();
      req.on('end', () => res.end(`ok ${req.url}`));
  }
}

beforeAll(async () => {
  const [up, admin, h2c, flood] = await freePorts(4);
  ports = { h2c: h2c!, flood: flood! };
  upstream = createServer(handle);
  upstream.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => upstream.listen(up, '127.0.0.1', () => r()));
  const routes = [{ match: { prefix: '/' }, cluster: 'up' }];
  pillion = await startPillion({
    workers: 1,
    admin: { port: admin! },
    access_log: { enabled: false },
    listeners: [
      { name: 'h2c', protocol: 'http', codec: 'h2c', port: ports.h2c, routes },
      { name: 'flood', protocol: 'http', codec: 'h2c', port: ports.flood, routes, http2: { max_resets_per_10s: 50 } },
    ],
    clusters: [{ name: 'up', endpoints: [{ address: '127.0.0.1', port: up }] }],
  });
});

afterAll(async () => {
  for (const s of sessions) s.session.destroy();
  await pillion?.stop();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
});

async function session(port: number): Promise<H2Session> {
  const s = await h2Connect(`http://127.0.0.1:${port}`);
  sessions.push(s);
  return s;
}

/**
 * A waitFor condition: true once `value()` has stayed the same for `checks` calls in a row while
 * `holding()` says the writer is waiting; `failed()` ends the wait at once with its message.
 */
function steady(value: () => number, holding: () => boolean, failed: () => string | null, checks = 25): () => boolean {
  let last = -1;
  let same = 0;
  return () => {
    const why = failed();
    if (why !== null) throw new Error(why);
    const v = value();
    same = holding() && v === last ? same + 1 : 0;
    last = v;
    return same >= checks;
  };
}

describe('flow control', () => {
  it('a client that does not read a 20 MiB response holds the upstream back; once it reads, the body is intact', async () => {
    const { session: s } = await session(ports.h2c);
    const stream = s.request({ ':path': '/big' });
    const head = new Promise<number>((resolve) => stream.once('response', (h) => resolve(Number(h[':status']))));
    expect(await head).toBe(200);
    // Nothing reads the stream: the client grants no window beyond its first 64 KiB.
    await waitFor(
      steady(
        () => download.written,
        () => download.blocked,
        () => (download.finished ? `the upstream wrote all ${BIG.length} bytes while the client read nothing` : null),
      ),
      { intervalMs: 20, timeoutMs: 10_000, message: "the upstream's writes to stall while the client reads nothing" },
    );
    // What the upstream got rid of sits in socket buffers and the proxy's stream: a fraction of the body.
    expect(download.written).toBeLessThan(BIG.length / 2);
    expect(download.finished).toBe(false);

    const chunks: Buffer[] = [];
    stream.on('data', (d: Buffer) => chunks.push(d));
    await new Promise<void>((resolve) => stream.once('end', () => resolve()));
    const body = Buffer.concat(chunks);
    expect(body.length).toBe(BIG.length);
    expect(sha256(body)).toBe(sha256(BIG));
    await waitFor(() => download.finished, { message: 'the upstream to finish writing' });
  });

  it('an upstream that does not read a 20 MiB upload holds the client back; once it reads, it gets every byte', async () => {
    const { session: s } = await session(ports.h2c);
    const arrived = sink.arrived;
    const stream: ClientHttp2Stream = s.request({ ':method': 'POST', ':path': '/sink?hold', 'content-type': 'application/octet-stream' });
    const reply = collect(stream);
    // Bytes the client has handed to its stream so far (writeAll waits on 'drain' between chunks).
    let handed = 0;
    let waiting = false;
    const chunk = 64 * 1024;
    const writing = (async () => {
      for (let at = 0; at < BIG.length; at += chunk) {
        handed = Math.min(BIG.length, at + chunk);
        if (!stream.write(BIG.subarray(at, at + chunk))) {
          waiting = true;
          await new Promise<void>((resolve) => stream.once('drain', () => resolve()));
          waiting = false;
        }
      }
      stream.end();
    })();
    await waitFor(() => sink.arrived === arrived + 1, { message: 'the upload to reach the upstream' });
    await waitFor(
      steady(
        () => handed,
        () => waiting,
        () => (handed === BIG.length ? 'the client handed over the whole body while the upstream read nothing' : null),
      ),
      { intervalMs: 20, timeoutMs: 10_000, message: "the client's writes to stall while the upstream reads nothing" },
    );
    expect(handed).toBeLessThan(BIG.length / 2);
    expect(sink.received).toBe(0);

    sink.release!();
    await writing;
    const r = await reply;
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toEqual({ length: BIG.length, sha256: sha256(BIG) });
  });

  it('a 20 MiB upload written as fast as the client can, to an upstream that reads slowly: intact', async () => {
    const { session: s } = await session(ports.h2c);
    const stream = s.request({ ':method': 'POST', ':path': '/sink?slow' });
    const reply = collect(stream);
    await writeAll(stream, BIG, 256 * 1024);
    const r = await reply;
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toEqual({ length: BIG.length, sha256: sha256(BIG) });
  });
});

describe('resets and floods', () => {
  const resetsByClient = async (listener: string) => metric(await pillion.metrics(), 'pillion_h2_streams_reset_by_client_total', { listener }) ?? 0;

  it('a stream the client resets cancels its upstream request, and is counted', async () => {
    const { session: s } = await session(ports.h2c);
    const before = { ...hang };
    const counted = await resetsByClient('h2c');
    const stream = s.request({ ':path': '/hang' });
    stream.on('error', () => undefined);
    await waitFor(() => hang.arrived === before.arrived + 1, { message: 'the request to reach the upstream' });
    stream.close(constants.NGHTTP2_CANCEL);
    await waitFor(() => hang.aborted === before.aborted + 1, { message: 'the upstream request to be cancelled' });
    await waitFor(async () => (await resetsByClient('h2c')) === counted + 1, { message: 'the reset to be counted' });
    // The connection itself goes on.
    expect((await h2Request(s, { ':path': '/after-reset' })).body.toString()).toBe('ok /after-reset');
  });

  it('rapid reset: past max_resets_per_10s the connection gets GOAWAY ENHANCE_YOUR_CALM and closes; the worker goes on', async () => {
    const m0 = await pillion.metrics();
    const before = { ...hang };
    const { session: s, log, closed } = await session(ports.flood);
    let opened = 0;
    // Open and reset at once, as fast as the connection takes them, until the server cuts it off.
    while (!s.closed && !s.destroyed && opened < 10_000) {
      try {
        const stream = s.request({ ':path': '/hang' });
        stream.on('error', () => undefined);
        stream.close(constants.NGHTTP2_CANCEL);
        opened++;
      } catch {
        break; // the session has received GOAWAY
      }
      if (opened % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    await closed;
    expect(log.goaways).toContain(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    expect(opened).toBeGreaterThan(50);
    const m1 = await pillion.metrics();
    const delta = (name: string) => (metric(m1, name, { listener: 'flood' }) ?? 0) - (metric(m0, name, { listener: 'flood' }) ?? 0);
    expect(delta('pillion_h2_reset_flood_closed_total')).toBe(1);
    expect(delta('pillion_h2_streams_reset_by_client_total')).toBeGreaterThan(50);
    // Whatever reached the upstream was cancelled there.
    await waitFor(() => hang.arrived - before.arrived === hang.aborted - before.aborted, { message: 'every upstream request of the flood to be cancelled' });

    // Other clients, on this listener and the other, are served.
    const other = await session(ports.flood);
    expect((await h2Request(other.session, { ':path': '/after-flood' })).body.toString()).toBe('ok /after-flood');
    const elsewhere = await session(ports.h2c);
    expect((await h2Request(elsewhere.session, { ':path': '/elsewhere' })).status).toBe(200);
    expect(pillion.child.exitCode).toBeNull();
  });

  it('a header block in endless CONTINUATION frames: GOAWAY and the connection closed, counted; nothing forwarded', async () => {
    const m0 = await pillion.metrics();
    const before = hang.arrived;
    // HEADERS for stream 1 (GET /, END_STREAM but not END_HEADERS) and then CONTINUATION frames of one
    // small field each, never the last one.
    const authority = Buffer.from(`127.0.0.1:${ports.h2c}`);
    const headers = h2Frame(1, 0x1, 1, Buffer.concat([Buffer.from([0x82, 0x86, 0x84, 0x41, authority.length]), authority]));
    const field = Buffer.from([0x00, 3, ...Buffer.from('x-a'), 1, ...Buffer.from('y')]);
    const continuations = Array.from({ length: 1000 }, () => h2Frame(9, 0, 1, field));
    const received = await new Promise<Buffer>((resolve) => {
      const socket = tcpConnect(ports.h2c, '127.0.0.1', () => {
        socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), h2Frame(4, 0, 0), h2Frame(4, 1, 0), headers, ...continuations]));
      });
      const chunks: Buffer[] = [];
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(Buffer.concat(chunks)));
    });
    const goaway = framesOf(received).find((f) => f.type === 7);
    expect(goaway).toBeDefined();
    expect(goaway!.payload.readUInt32BE(4)).not.toBe(0); // an error code, not a graceful close
    const delta = async (name: string) => (metric(await pillion.metrics(), name, { listener: 'h2c' }) ?? 0) - (metric(m0, name, { listener: 'h2c' }) ?? 0);
    await waitFor(async () => (await delta('pillion_h2_protocol_errors_total')) === 1, { message: 'the protocol error to be counted' });
    expect(await delta('pillion_h2_streams_total')).toBe(0);
    expect(hang.arrived).toBe(before);
    const other = await session(ports.h2c);
    expect((await h2Request(other.session, { ':path': '/after-continuations' })).body.toString()).toBe('ok /after-continuations');
  });
});

/** One HTTP/2 frame: 24-bit payload length, type, flags, stream id, payload. */
function h2Frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

function framesOf(data: Buffer): { type: number; flags: number; payload: Buffer }[] {
  const frames: { type: number; flags: number; payload: Buffer }[] = [];
  for (let at = 0; at + 9 <= data.length; ) {
    const length = data.readUIntBE(at, 3);
    frames.push({ type: data[at + 3]!, flags: data[at + 4]!, payload: data.subarray(at + 9, at + 9 + length) });
    at += 9 + length;
  }
  return frames;
}
