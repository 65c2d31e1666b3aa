/**
 * Fixtures for the HTTP/2 upstream pool's tests: real node:http2 servers on 127.0.0.1 (cleartext or
 * TLS) that record their sessions and streams and answer by a script, a raw TCP server that speaks
 * just enough HTTP/2 to connect and then ignores everything (for PINGs nobody answers), pools on a
 * FakeClock, and an exchange that records every event it hears.
 */
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import {
  constants,
  createSecureServer,
  createServer,
  type Http2Server,
  type Http2SecureServer,
  type IncomingHttpHeaders,
  type SecureServerOptions,
  type ServerHttp2Session,
  type ServerHttp2Stream,
  type Settings,
} from 'node:http2';
import { HeaderList, SharedState, type BodyFraming, type ResponseBodyKind } from '@pillion/core';
import type { PoolLimits } from '../src/upstream/endpoint-pool.js';
import { H2SessionPool, type H2Options, type H2SessionPoolOptions } from '../src/upstream/h2-session-pool.js';
import type { UpstreamExchange, UpstreamStream } from '../src/upstream/upstream-exchange.js';
import { FakeClock } from './fake-clock.js';
import { seeded } from './lb-fixtures.js';
import { poolOptions } from './pool-fixtures.js';

export const NO_BODY: BodyFraming = Object.freeze({ kind: 'none', length: 0 });
export const CHUNKED: BodyFraming = Object.freeze({ kind: 'chunked', length: 0 });

// ---------------------------------------------------------------------------------------------------
// Upstream servers

/** What a handler does with a stream: answer it now, later (held), or anything else. */
export type StreamHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, u: H2Upstream) => void;

export interface H2Upstream {
  server: Http2Server | Http2SecureServer;
  port: number;
  /** Sessions accepted, in order. */
  sessions: ServerHttp2Session[];
  /** Their TCP sockets (a test can reset one), in order. */
  sockets: Socket[];
  /** Every stream, in arrival order, with its request headers. */
  streams: { stream: ServerHttp2Stream; headers: IncomingHttpHeaders; session: ServerHttp2Session }[];
  /** Streams whose answer the test gives (handler `hold`). */
  held: ServerHttp2Stream[];
  /** PINGs received (all sessions). */
  pings: number;
  /** Streams closed, with their RST code. */
  closed: { path: string; rstCode: number }[];
  handler: StreamHandler;
  /** Answers every held stream 200 with its path as the body. */
  answerHeld(): void;
}

/** Answers 200 with `ok <path>`. */
export const echoPath: StreamHandler = (stream, headers) => {
  stream.respond({ ':status': 200, 'content-type': 'text/plain' });
  stream.end(`ok ${headers[':path']}`);
};

/** Holds every stream for the test to answer (answerHeld). */
export const hold: StreamHandler = (stream, _headers, u) => {
  u.held.push(stream);
};

export interface UpstreamOptions {
  handler?: StreamHandler;
  settings?: Settings;
  /** Serve TLS with this certificate (and these ALPN protocols); cleartext h2c otherwise. */
  tls?: { cert: string; key: string; alpn?: string[]; allowHTTP1?: boolean };
}

const closers: (() => Promise<void>)[] = [];

/** Closes every server the fixtures made (call from afterEach). */
export async function closeServers(): Promise<void> {
  await Promise.all(closers.splice(0).map((c) => c()));
}

export async function h2Upstream(o: UpstreamOptions = {}): Promise<H2Upstream> {
  const u: H2Upstream = {
    server: undefined as unknown as Http2Server,
    port: 0,
    sessions: [],
    sockets: [],
    streams: [],
    held: [],
    pings: 0,
    closed: [],
    handler: o.handler ?? echoPath,
    answerHeld: () => {
      for (const s of u.held.splice(0)) {
        if (s.destroyed || s.closed) continue;
        s.respond({ ':status': 200 });
        s.end(`ok ${u.streams.find((x) => x.stream === s)?.headers[':path']}`);
      }
    },
  };
  const options: SecureServerOptions = { settings: o.settings };
  if (o.tls) Object.assign(options, { cert: o.tls.cert, key: o.tls.key, ALPNProtocols: o.tls.alpn ?? ['h2'], allowHTTP1: o.tls.allowHTTP1 ?? false });
  const server = o.tls ? createSecureServer(options) : createServer(options);
  u.server = server;
  server.on('connection', (socket: Socket) => u.sockets.push(socket));
  server.on('session', (session: ServerHttp2Session) => {
    u.sessions.push(session);
    session.on('ping', () => u.pings++);
    session.on('error', () => {});
  });
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    stream.on('error', () => {});
    const path = String(headers[':path']);
    stream.on('close', () => u.closed.push({ path, rstCode: stream.rstCode }));
    u.streams.push({ stream, headers, session: stream.session as ServerHttp2Session });
    u.handler(stream, headers, u);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  u.port = (server.address() as AddressInfo).port;
  closers.push(async () => {
    for (const s of u.sessions) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return u;
}

/**
 * A TCP server that sends an empty SETTINGS frame to each connection (so a client's session sets up)
 * and then reads and ignores everything: PINGs go unanswered, requests get no response. `frameTypes`
 * lists the HTTP/2 frame types received after the client preface, all connections together.
 */
export async function mute(o: { sendSettings?: boolean } = {}): Promise<{ port: number; connections: number; frameTypes: number[] }> {
  const info = { port: 0, connections: 0, frameTypes: [] as number[] };
  const sockets = new Set<Socket>();
  const server: NetServer = createNetServer((socket) => {
    info.connections++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    if (o.sendSettings ?? true) socket.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
    let buf = Buffer.alloc(0);
    let prefaceSeen = false;
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!prefaceSeen) {
        if (buf.length < 24) return;
        buf = buf.subarray(24);
        prefaceSeen = true;
      }
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        info.frameTypes.push(buf[3]!);
        buf = buf.subarray(9 + len);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  info.port = (server.address() as AddressInfo).port;
  closers.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return info;
}

/** A port on 127.0.0.1 with nothing listening on it. */
export async function closedPort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_INTERNAL_ERROR } = constants;

// ---------------------------------------------------------------------------------------------------
// Pools

export const H2_DEFAULTS: H2Options = { maxConcurrentStreams: 100, sessionsPerEndpoint: 1, keepaliveIntervalMs: 0, keepaliveTimeoutMs: 20_000 };

export interface PoolUnderTest {
  pool: H2SessionPool;
  state: SharedState;
  clock: FakeClock;
  stat(name: Parameters<SharedState['clusterStat']>[1]): number;
}

const pools: H2SessionPool[] = [];

/** Closes every pool the fixtures made (call from afterEach, before closeServers). */
export function closePools(): void {
  for (const p of pools.splice(0)) p.close();
}

export function h2Pool(
  port: number,
  o: Partial<H2SessionPoolOptions & PoolLimits> = {},
  h2: Partial<H2Options> = {},
): PoolUnderTest {
  const state = SharedState.create({ maxClusters: 1, maxEndpoints: 1, maxListeners: 1, maxThreads: 1 });
  const clock = new FakeClock();
  const pool = new H2SessionPool(
    { ...poolOptions(port), protocol: 'h2c', ...o, http2: { ...H2_DEFAULTS, ...h2 } } as H2SessionPoolOptions & PoolLimits,
    state,
    state.statsWriter(0),
    { clock, random: seeded(7) },
  );
  pools.push(pool);
  return { pool, state, clock, stat: (name) => state.clusterStat(0, name) };
}

// ---------------------------------------------------------------------------------------------------
// A recording exchange

export type Send = (s: UpstreamStream, r: Recorder) => void;

/** Sends GET `path` with a Host field. */
export function get(path: string, fields: string[] = ['host', 'example.test']): Send {
  return (s) => s.sendRequest('GET', path, new HeaderList(fields), NO_BODY, null, true, null);
}

export class Recorder implements UpstreamExchange {
  /** Every event by name, in order. */
  readonly events: string[] = [];
  stream: UpstreamStream | null = null;
  status = 0;
  headers: HeaderList | null = null;
  bodyKind: ResponseBodyKind | null = null;
  contentLength = -2;
  readonly body: Buffer[] = [];
  trailers: HeaderList | null = null;
  readonly informational: number[] = [];
  complete = false;
  error: { kind: string; detail: string } | null = null;
  failure: string | null = null;
  drains = 0;
  /** Called for each event after it is recorded. */
  on: ((event: string) => void) | null = null;

  constructor(private readonly send: Send | null = get('/')) {}

  get text(): string {
    return Buffer.concat(this.body).toString();
  }

  /** The exchange heard how its request ended (completed, failed, or never connected). */
  get settled(): boolean {
    return this.complete || this.error !== null || this.failure !== null;
  }

  private note(event: string): void {
    this.events.push(event);
    this.on?.(event);
  }

  onConnection(stream: UpstreamStream): void {
    this.stream = stream;
    this.note('connection');
    this.send?.(stream, this);
  }
  onConnectFailure(reason: string): void {
    this.failure = reason;
    this.note('connect-failure');
  }
  onResponseHead(status: number, _reason: string, headers: HeaderList, bodyKind: ResponseBodyKind, contentLength: number): void {
    this.status = status;
    this.headers = headers;
    this.bodyKind = bodyKind;
    this.contentLength = contentLength;
    this.note('head');
  }
  onInformational(status: number): void {
    this.informational.push(status);
    this.note('informational');
  }
  onResponseBody(chunk: Buffer): void {
    this.body.push(Buffer.from(chunk));
    this.note('body');
  }
  onResponseTrailers(trailers: HeaderList): void {
    this.trailers = trailers;
    this.note('trailers');
  }
  onResponseComplete(): void {
    this.complete = true;
    this.note('complete');
  }
  onUpstreamError(kind: 'reset' | 'invalid' | 'refused', detail: string): void {
    this.error = { kind, detail };
    this.note('error');
  }
  onUpstreamDrain(): void {
    this.drains++;
    this.note('drain');
  }
  onReadDone(): void {
    this.note('read-done');
  }
}

/** Acquires a stream for a new Recorder; throws when a breaker refuses. */
export function request(pool: H2SessionPool, send: Send | null = get('/'), isHead = false): Recorder {
  const r = new Recorder(send);
  const refused = pool.acquire(r, isHead);
  if (refused !== null) throw new Error(`refused: ${refused}`);
  return r;
}

/** The events of a recorder without the repeats of 'body' (one 'body' for a run of chunks). */
export function eventRuns(r: Recorder): string[] {
  return r.events.filter((e, i) => e !== 'body' || r.events[i - 1] !== 'body');
}
