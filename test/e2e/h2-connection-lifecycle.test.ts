/**
 * The life of an HTTP/2 connection on an h2c listener, end to end (the real CLI, node:http2 clients,
 * raw sockets where a client must misbehave):
 * - `http2.idle_timeout`: a connection with no stream open gets GOAWAY (NO_ERROR) and closes; one
 *   whose stream outlasts the timeout is left alone until the stream is done;
 * - `http2.keepalive_interval`: the client receives PINGs; a client that never answers them is
 *   closed, and counted;
 * - drain (POST /drain on the admin API): every connection gets GOAWAY, the stream in flight still
 *   completes with its whole response, a new stream on that connection is refused, and the
 *   process exits 0.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freePorts } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait-for.js';
import { collect, h2Connect, h2Request, type H2Session } from './h2-clients.js';

let upstream: Server;
let upstreamPort: number;
const sessions: H2Session[] = [];
const cleanup: (() => Promise<unknown>)[] = [];
/** /hold requests waiting for the test to answer them. */
const held: ServerResponse[] = [];

function handle(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  req.on('end', () => {
    const url = new URL(req.url ?? '/', 'http://upstream');
    if (url.pathname === '/hold') {
      held.push(res);
      return;
    }
    const delay = Number(url.searchParams.get('ms') ?? 0);
    setTimeout(() => res.end(`ok ${req.url}`), delay);
  });
}

beforeAll(async () => {
  const [up] = await freePorts(1);
  upstreamPort = up!;
  upstream = createServer(handle);
  upstream.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => upstream.listen(upstreamPort, '127.0.0.1', () => r()));
});

afterAll(async () => {
  for (const s of sessions) s.session.destroy();
  for (const c of cleanup.reverse()) await c();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
});

async function session(port: number): Promise<H2Session> {
  const s = await h2Connect(`http://127.0.0.1:${port}`);
  sessions.push(s);
  return s;
}

async function pillionWith(listeners: Record<string, unknown>[], top: Record<string, unknown> = {}): Promise<PillionProcess> {
  const [admin] = await freePorts(1);
  const p = await startPillion({
    workers: 1,
    admin: { port: admin! },
    access_log: { enabled: false },
    ...top,
    listeners: listeners.map((l) => ({ protocol: 'http', codec: 'h2c', routes: [{ match: { prefix: '/' }, cluster: 'up' }], ...l })),
    clusters: [{ name: 'up', endpoints: [{ address: '127.0.0.1', port: upstreamPort }] }],
  });
  cleanup.push(() => p.stop('SIGKILL'));
  return p;
}

describe('idle timeout and keep-alive pings', () => {
  let pillion: PillionProcess;
  let ports: { idle: number; ping: number };

  beforeAll(async () => {
    const [idle, ping] = await freePorts(2);
    ports = { idle: idle!, ping: ping! };
    pillion = await pillionWith([
      { name: 'idle', port: ports.idle, http2: { idle_timeout: '300ms' } },
      { name: 'ping', port: ports.ping, http2: { keepalive_interval: '200ms', idle_timeout: '1h' } },
    ]);
  });

  const count = async (name: string, listener: string) => metric(await pillion.metrics(), name, { listener }) ?? 0;

  it('a connection with no stream open gets GOAWAY (NO_ERROR) after idle_timeout and closes; counted', async () => {
    const before = await count('pillion_h2_goaways_sent_total', 'idle');
    const { session: s, log, closed } = await session(ports.idle);
    expect((await h2Request(s, { ':path': '/before-idle' })).status).toBe(200);
    await closed;
    expect(codes(log.goaways)).toEqual([0]);
    expect(log.error).toBeNull();
    await waitFor(async () => (await count('pillion_h2_goaways_sent_total', 'idle')) === before + 1, { message: 'the GOAWAY to be counted' });
  });

  it('a stream open longer than idle_timeout keeps its connection; the GOAWAY comes after it', async () => {
    const { session: s, log, closed } = await session(ports.idle);
    const r = await h2Request(s, { ':path': '/slow?ms=900' });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('ok /slow?ms=900');
    expect(log.goaways).toEqual([]);
    await closed;
    expect(codes(log.goaways)).toEqual([0]);
  });

  it('keepalive_interval: the client receives PINGs, and the connection stays up', async () => {
    const { session: s, log } = await session(ports.ping);
    await waitFor(() => log.pings >= 3, { message: 'three PINGs from the server' });
    expect(log.closed).toBe(false);
    expect((await h2Request(s, { ':path': '/after-pings' })).status).toBe(200);
  });

  it('a client that never answers a PING is closed, counted as a ping timeout', async () => {
    const before = await count('pillion_h2_ping_timeouts_total', 'ping');
    // A raw client: the connection preface and an empty SETTINGS frame, an ACK of the server's, and
    // then nothing, PINGs included.
    const received = await new Promise<Buffer>((resolve) => {
      const socket = tcpConnect(ports.ping, '127.0.0.1', () => {
        socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0), frame(4, 1)]));
      });
      const chunks: Buffer[] = [];
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(Buffer.concat(chunks)));
    });
    expect(frameTypes(received)).toContain(6); // it did send PINGs
    await waitFor(async () => (await count('pillion_h2_ping_timeouts_total', 'ping')) === before + 1, { message: 'the ping timeout to be counted' });
  });
});

/**
 * The distinct GOAWAY codes a client saw. A graceful close may reach it as two GOAWAY frames (Node's
 * session.close() sends one, and nghttp2 another as the session ends), depending on timing.
 */
function codes(goaways: number[]): number[] {
  return [...new Set(goaways)];
}

/** An empty HTTP/2 frame on stream 0: 24-bit length 0, type, flags, stream id 0. */
function frame(type: number, flags: number): Buffer {
  return Buffer.from([0, 0, 0, type, flags, 0, 0, 0, 0]);
}

/** The types of the frames in `data`, in order. */
function frameTypes(data: Buffer): number[] {
  const types: number[] = [];
  for (let at = 0; at + 9 <= data.length; at += 9 + data.readUIntBE(at, 3)) types.push(data[at + 3]!);
  return types;
}

describe('drain', () => {
  it('POST /drain: GOAWAY to the client, its stream in flight completes, new streams on it are refused, exit 0', async () => {
    const [port] = await freePorts(1);
    const pillion = await pillionWith([{ name: 'h2c', port }], { drain_timeout: '10s' });
    const { session: s, log } = await session(port!);
    expect((await h2Request(s, { ':path': '/warm' })).status).toBe(200);
    const waiting = held.length;
    const holding = s.request({ ':path': '/hold' });
    const inFlight = collect(holding);
    await waitFor(() => held.length === waiting + 1, { message: 'the request to reach the upstream' });

    expect((await fetch(`${pillion.adminUrl}/drain`, { method: 'POST' })).status).toBe(202);
    await waitFor(() => log.goaways.length > 0, { message: 'GOAWAY to reach the client' });
    expect(codes(log.goaways)).toEqual([0]);
    // The server will process no stream above the one in flight.
    expect(codes(log.goawayLastStreams)).toEqual([holding.id]);
    expect(metric(await pillion.metrics(), 'pillion_h2_goaways_sent_total', { listener: 'h2c' })).toBe(1);
    // This connection takes no new stream.
    await expect(h2Request(s, { ':path': '/after-goaway' })).rejects.toMatchObject({ code: 'ERR_HTTP2_GOAWAY_SESSION' });

    held[waiting]!.end('the held answer, in full');
    const r = await inFlight;
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('the held answer, in full');
    expect(await pillion.exited).toBe(0);
    expect(pillion.output()).toContain('"msg":"drained"');
  });
});
