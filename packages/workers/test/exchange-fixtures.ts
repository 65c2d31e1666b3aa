/**
 * Fixtures for ProxyExchange tests: a worker in miniature (a real SharedState laid out from a
 * validated config, a real StatsWriter, real ClusterRuntimes whose EndpointPools connect to real
 * sockets), a recording Downstream with uWS's semantics, and upstream servers scripted byte by byte.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { vi } from 'vitest';
import type { Logger } from '../src/logger.js';
import { HeaderList, SharedState, validateConfig, type Config, type HttpListenerConfig, type StatsWriter } from '@pillion/core';
import { SlotRegistry } from '../src/supervisor/slot-registry.js';
import type { RuntimeSnapshot } from '../src/messages.js';
import { ClusterRuntime } from '../src/worker/cluster-runtime.js';
import type { Downstream } from '../src/worker/downstream.js';
import { HttpListener, type HttpHost } from '../src/worker/http-listener.js';
import { ProxyExchange } from '../src/worker/proxy-exchange.js';

// ---------------------------------------------------------------------------------------------------
// Downstream

export type ChunkKind = 'arraybuffer' | 'buffer';

/**
 * A Downstream that records everything the exchange does to it, with uWS's semantics: an ArrayBuffer
 * chunk is neutered when onData returns; tryEnd takes what the client window allows (advancing the
 * write offset) and reports [false, false] past it; write takes every byte but reports backpressure;
 * close runs the onAborted handler at once. Misuse of the contract is collected in `violations`.
 */
export class FakeDownstream implements Downstream {
  status: string | null = null;
  readonly headers: [string, string][] = [];
  private readonly parts: Buffer[] = [];
  /** How the response ended: 'end', 'endWithoutBody' or 'tryEnd' (null while it has not). */
  endedBy: string | null = null;
  /** The closeConnection argument of end / endWithoutBody. */
  endClose = false;
  closeCalls = 0;
  aborted = false;
  paused = false;
  pauseCalls = 0;
  resumeCalls = 0;
  /** Every call in order, by name. */
  readonly calls: string[] = [];
  readonly violations: string[] = [];
  /** Bytes the client takes before a write reports backpressure (Infinity: never). */
  window = Infinity;
  /** A write or tryEnd hit the window and the client has not drained since. */
  blocked = false;
  private offset = 0;
  private total = -1;
  private abortHandler: (() => void) | null = null;
  private dataHandler: ((chunk: ArrayBuffer | Buffer, isLast: boolean) => void) | null = null;
  private writableHandler: ((offset: number) => boolean) | null = null;

  get statusCode(): number {
    return this.status === null ? 0 : Number(this.status.split(' ')[0]);
  }
  get body(): Buffer {
    return Buffer.concat(this.parts);
  }
  get text(): string {
    return this.body.toString('latin1');
  }
  get ended(): boolean {
    return this.endedBy !== null;
  }
  /** The response is over one way or another: ended, closed or aborted. */
  get settled(): boolean {
    return this.ended || this.aborted;
  }
  header(name: string): string | undefined {
    return this.headers.find(([n]) => n === name)?.[1];
  }
  get wantsWritable(): boolean {
    return this.blocked && this.writableHandler !== null;
  }

  private use(what: string): boolean {
    this.calls.push(what);
    if (this.endedBy !== null || this.aborted) {
      this.violations.push(`${what} after the response ${this.aborted ? 'was aborted' : `ended (${this.endedBy})`}`);
      return false;
    }
    return true;
  }
  private take(chunk: Buffer | string | undefined): Buffer {
    if (chunk === undefined) return Buffer.alloc(0);
    return typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : Buffer.from(chunk); // a copy: callers reuse their memory
  }

  // Downstream

  onAborted(handler: () => void): void {
    this.abortHandler = handler;
  }
  onData(handler: (chunk: ArrayBuffer | Buffer, isLast: boolean) => void): void {
    this.dataHandler = handler;
  }
  pause(): void {
    this.calls.push('pause');
    this.pauseCalls++;
    this.paused = true;
  }
  resume(): void {
    this.calls.push('resume');
    this.resumeCalls++;
    this.paused = false;
  }
  cork(cb: () => void): void {
    cb();
  }
  writeStatus(status: string): void {
    if (!this.use('writeStatus')) return;
    if (this.status !== null) this.violations.push(`writeStatus twice (${this.status}, ${status})`);
    this.status = status;
  }
  writeHeader(name: string, value: string | Buffer): void {
    if (!this.use('writeHeader')) return;
    if (this.status === null) this.violations.push(`writeHeader ${name} before writeStatus`);
    this.headers.push([name, typeof value === 'string' ? value : value.toString('latin1')]);
  }
  write(chunk: Buffer | string): boolean {
    if (!this.use('write')) return false;
    if (this.total !== -1) this.violations.push('write after tryEnd');
    const buf = this.take(chunk);
    this.parts.push(buf);
    this.offset += buf.length;
    if (buf.length > this.window) {
      this.window = 0;
      this.blocked = true;
      return false;
    }
    this.window -= buf.length;
    return true;
  }
  end(body?: Buffer | string, closeConnection?: boolean): void {
    if (!this.use('end')) return;
    const buf = this.take(body);
    this.parts.push(buf);
    this.offset += buf.length;
    this.endedBy = 'end';
    this.endClose = closeConnection === true;
  }
  endWithoutBody(_reportedContentLength?: number, closeConnection?: boolean): void {
    if (!this.use('endWithoutBody')) return;
    this.endedBy = 'endWithoutBody';
    this.endClose = closeConnection === true;
  }
  tryEnd(chunk: Buffer | string, totalSize: number): [boolean, boolean] {
    if (!this.use('tryEnd')) return [false, false];
    if (this.total !== -1 && this.total !== totalSize) this.violations.push(`tryEnd total changed ${this.total} -> ${totalSize}`);
    this.total = totalSize;
    const buf = this.take(chunk);
    if (this.offset + buf.length > totalSize) this.violations.push(`tryEnd past the declared ${totalSize} bytes`);
    const n = Math.min(buf.length, this.window);
    this.parts.push(buf.subarray(0, n));
    this.offset += n;
    this.window -= n;
    if (this.offset === totalSize) {
      this.endedBy = 'tryEnd';
      return [true, true];
    }
    if (n < buf.length) {
      this.blocked = true;
      return [false, false];
    }
    return [true, false];
  }
  getWriteOffset(): number {
    return this.offset;
  }
  onWritable(handler: (offset: number) => boolean): void {
    this.writableHandler = handler;
  }
  close(): void {
    this.calls.push('close');
    this.closeCalls++;
    if (this.endedBy !== null || this.aborted) return;
    // uWS: "Immediately force closes the connection. Any onAborted callback will run."
    this.aborted = true;
    this.abortHandler?.();
  }

  // What the client does

  /** The client sends a body chunk: an ArrayBuffer neutered after the call (uWS), or a Buffer (strict codec). */
  send(chunk: string | Buffer, isLast: boolean, kind: ChunkKind = 'arraybuffer'): void {
    if (this.dataHandler === null) throw new Error('no onData handler: the exchange does not read a body');
    if (this.aborted) throw new Error('the connection is gone');
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    if (kind === 'buffer') {
      this.dataHandler(Buffer.from(bytes), isLast);
      return;
    }
    const ab = new ArrayBuffer(bytes.length);
    new Uint8Array(ab).set(bytes);
    this.dataHandler(ab, isLast);
    structuredClone(ab, { transfer: [ab] }); // neutered, as uWS does on return
  }

  /** The client goes away. */
  abort(): void {
    if (this.aborted || this.endedBy !== null) return;
    this.aborted = true;
    this.abortHandler?.();
  }

  /** The client took what was buffered: `bytes` more fit before backpressure; onWritable runs with the offset. */
  drain(bytes = Infinity): void {
    this.window = bytes;
    this.blocked = false;
    const h = this.writableHandler;
    if (h !== null && !this.settled) h(this.offset);
  }
}

// ---------------------------------------------------------------------------------------------------
// Upstreams

/** One request as an upstream read it. */
export interface SeenRequest {
  readonly conn: UpstreamConn;
  method: string;
  target: string;
  /** Field names lower-cased, in order. */
  headers: [string, string][];
  /** Body bytes so far (de-chunked). */
  body: Buffer;
  complete: boolean;
  header(name: string): string | undefined;
  headerAll(name: string): string[];
}

export type UpstreamEvent = 'head' | 'body' | 'complete';

/** What an upstream does as a request arrives: called on its head, on each body read, and once complete. */
export type Script = (req: SeenRequest, event: UpstreamEvent) => void;

export class UpstreamConn {
  /** Every byte the upstream read on this connection. */
  raw = Buffer.alloc(0);
  readonly requests: SeenRequest[] = [];
  /** The connection is gone (either side closed it). */
  closed = false;
  /** The upstream closed it itself (reset or end). */
  closedHere = false;
  constructor(readonly socket: Socket) {}
  write(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }
  /** Answers with a complete response (content-length framing). */
  respond(status: number, body: string | Buffer = '', headers: Record<string, string> = {}): void {
    this.write(responseBytes(status, body, headers));
  }
  /** Drops the connection with a TCP reset. */
  reset(): void {
    this.closedHere = true;
    this.socket.resetAndDestroy();
  }
}

/** An HTTP/1.1 response with a content-length. */
export function responseBytes(status: number, body: string | Buffer = '', headers: Record<string, string> = {}): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  let head = `HTTP/1.1 ${status} X\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  head += `content-length: ${b.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), b]);
}

export class ScriptedUpstream {
  readonly connections: UpstreamConn[] = [];
  constructor(
    readonly server: Server,
    readonly port: number,
    public script: Script,
  ) {}
  get requests(): SeenRequest[] {
    return this.connections.flatMap((c) => c.requests);
  }
  get completeRequests(): SeenRequest[] {
    return this.requests.filter((r) => r.complete);
  }
  /** Bytes read over every connection. */
  get bytesRead(): number {
    return this.connections.reduce((n, c) => n + c.raw.length, 0);
  }
  async close(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Answers every complete request with `status` and `body`. */
export function answer(status: number, body: string | Buffer = '', headers: Record<string, string> = {}): Script {
  return (req, event) => {
    if (event === 'complete') req.conn.respond(status, body, headers);
  };
}

/** Reads requests and never answers. */
export const silent: Script = () => {};

/** Resets the connection once a request is complete (the whole body read). */
export const resetWhenComplete: Script = (req, event) => {
  if (event === 'complete') req.conn.reset();
};

/** A real TCP server on 127.0.0.1 that parses requests (content-length or chunked) and runs `script`. */
export async function scriptedUpstream(script: Script): Promise<ScriptedUpstream> {
  let u: ScriptedUpstream;
  const server = createServer((socket) => {
    const conn = new UpstreamConn(socket);
    u.connections.push(conn);
    socket.on('error', () => {});
    socket.on('close', () => (conn.closed = true));
    const parser = new RequestReader(conn, (req, event) => u.script(req, event));
    socket.on('data', (d: Buffer) => {
      conn.raw = Buffer.concat([conn.raw, d]);
      parser.feed(d);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  u = new ScriptedUpstream(server, (server.address() as AddressInfo).port, script);
  return u;
}

/** Incremental HTTP/1.1 request reader: enough framing for the tests (content-length, chunked). */
class RequestReader {
  private buf = Buffer.alloc(0);
  private current: SeenRequest | null = null;
  private remaining = 0;
  private chunked = false;
  constructor(
    private readonly conn: UpstreamConn,
    private readonly emit: (req: SeenRequest, event: UpstreamEvent) => void,
  ) {}

  feed(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      if (this.current === null) {
        const end = this.buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const lines = this.buf.subarray(0, end).toString('latin1').split('\r\n');
        this.buf = this.buf.subarray(end + 4);
        const [method = '', target = ''] = lines[0]!.split(' ');
        const headers = lines.slice(1).map((l) => {
          const i = l.indexOf(':');
          return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()] as [string, string];
        });
        const req: SeenRequest = {
          conn: this.conn,
          method,
          target,
          headers,
          body: Buffer.alloc(0),
          complete: false,
          header: (n) => headers.find(([k]) => k === n)?.[1],
          headerAll: (n) => headers.filter(([k]) => k === n).map(([, v]) => v),
        };
        this.current = req;
        this.conn.requests.push(req);
        this.chunked = /chunked/i.test(req.header('transfer-encoding') ?? '');
        this.remaining = this.chunked ? 0 : Number(req.header('content-length') ?? 0);
        this.emit(req, 'head');
        if (!this.chunked && this.remaining === 0) this.done();
        continue;
      }
      const req = this.current;
      if (!this.chunked) {
        if (this.buf.length === 0) return;
        const n = Math.min(this.remaining, this.buf.length);
        req.body = Buffer.concat([req.body, this.buf.subarray(0, n)]);
        this.buf = this.buf.subarray(n);
        this.remaining -= n;
        if (this.remaining === 0) this.done();
        else {
          this.emit(req, 'body');
          return;
        }
        continue;
      }
      // chunked: size line, data, CRLF; 0-size chunk then CRLF ends it (no trailers in these tests)
      const eol = this.buf.indexOf('\r\n');
      if (eol === -1) return;
      const size = parseInt(this.buf.subarray(0, eol).toString('latin1'), 16);
      if (size === 0) {
        if (this.buf.length < eol + 4) return;
        this.buf = this.buf.subarray(eol + 4);
        this.done();
        continue;
      }
      if (this.buf.length < eol + 2 + size + 2) return;
      req.body = Buffer.concat([req.body, this.buf.subarray(eol + 2, eol + 2 + size)]);
      this.buf = this.buf.subarray(eol + 2 + size + 2);
      this.emit(req, 'body');
    }
  }

  private done(): void {
    const req = this.current!;
    this.current = null;
    req.complete = true;
    this.emit(req, 'complete');
  }
}

// ---------------------------------------------------------------------------------------------------
// The worker in miniature

class TestListener extends HttpListener {
  listen(): Promise<void> {
    return Promise.resolve();
  }
  clientAddress(): string {
    return '10.0.0.7';
  }
  stopAccepting(): void {
    this.draining = true;
  }
  close(): void {}
}

export interface HarnessOptions {
  /** Upstream ports of cluster "c", in order. */
  upstreams: number[];
  /** Fields merged into the route (retry, timeout, ...). */
  route?: Record<string, unknown>;
  /** Fields merged into cluster "c". */
  cluster?: Record<string, unknown>;
  /** Fields merged into the listener. */
  listener?: Record<string, unknown>;
}

export class Harness implements HttpHost {
  readonly state = SharedState.create({ maxClusters: 2, maxEndpoints: 8, maxListeners: 1, maxThreads: 2 });
  readonly stats: StatsWriter = this.state.statsWriter(1);
  readonly config: Config;
  readonly snapshot: RuntimeSnapshot;
  readonly listener: TestListener;
  /** Access log lines the exchanges wrote. */
  readonly log: Record<string, unknown>[] = [];
  readonly accessLog: Logger;
  private readonly clusters = new Map<string, ClusterRuntime>();
  private readonly exchanges: { x: ProxyExchange; res: FakeDownstream }[] = [];

  constructor(o: HarnessOptions) {
    const r = validateConfig({
      workers: 1,
      listeners: [{ name: 'web', protocol: 'http', port: 1, routes: [{ match: { prefix: '/' }, cluster: 'c', ...o.route }], ...o.listener }],
      clusters: [{ name: 'c', endpoints: o.upstreams.map((port) => ({ address: '127.0.0.1', port })), ...o.cluster }],
    });
    if (!r.ok) throw new Error(`invalid test config: ${JSON.stringify(r.problems)}`);
    this.config = r.config;
    this.snapshot = new SlotRegistry(this.state).snapshot(this.config);
    for (const c of this.snapshot.clusters) this.clusters.set(c.name, new ClusterRuntime(c, this.state, this.stats, 65536));
    this.accessLog = { info: (line: Record<string, unknown>) => this.log.push(line) } as unknown as Logger;
    const lc = this.config.listeners[0] as HttpListenerConfig;
    this.listener = new TestListener(lc, this.snapshot.listenerSlots[lc.name]!, this);
  }

  cluster(name: string): ClusterRuntime | undefined {
    return this.clusters.get(name);
  }

  get c(): ClusterRuntime {
    return this.clusters.get('c')!;
  }

  /** Cluster c's endpoint on `port`. */
  endpoint(port: number) {
    const e = this.c.endpoints.find((x) => x.port === port);
    if (!e) throw new Error(`no endpoint on port ${port}`);
    return e;
  }

  clusterStat(stat: Parameters<SharedState['clusterStat']>[1]): number {
    return this.state.clusterStat(this.c.slot, stat);
  }
  listenerStat(stat: Parameters<SharedState['listenerStat']>[1]): number {
    return this.state.listenerStat(this.listener.slot, stat);
  }
  /** Requests counted on the listener for cluster c, by code class (none, 1xx .. 5xx). */
  requestsCounted(): number[] {
    return [0, 1, 2, 3, 4, 5].map((k) => this.state.requests(this.listener.slot, this.c.slot, k));
  }
  /** Requests sent to the endpoint on `port` (attempts picked for it). */
  attemptsTo(port: number): number {
    return this.state.endpointStat(this.endpoint(port).slot, 'requests');
  }

  /** The shared counters a finished exchange must have given back, as one object for one assertion. */
  held(): Record<string, number> {
    const s = this.state;
    const out: Record<string, number> = {
      cluster_rq_active: s.cluster(this.c.slot, 'rq_active'),
      cluster_rq_pending: s.cluster(this.c.slot, 'rq_pending'),
      cluster_rq_retry_active: s.cluster(this.c.slot, 'rq_retry_active'),
      listener_active: this.listener.active,
      downstream_cx_active: this.listenerStat('downstream_cx_active'),
    };
    for (const e of this.c.endpoints) {
      out[`endpoint_${e.port}_rq_active`] = s.endpoint(e.slot, 'rq_active');
      out[`endpoint_${e.port}_rq_pending`] = s.endpoint(e.slot, 'rq_pending');
    }
    return out;
  }

  /** What held() must be once nothing is in flight. */
  idle(): Record<string, number> {
    return Object.fromEntries(Object.keys(this.held()).map((k) => [k, 0]));
  }

  /**
   * A request head handed over by a codec: `headers` are added after host (lower-case names).
   * `versionMinor`: 1 or 0 for HTTP/1.x, or intake's H2_BODY / H2_NO_BODY for an HTTP/2 stream.
   * Returns the exchange and its downstream; body chunks go through `res.send`.
   */
  request(method: string, target: string, headers: Record<string, string> = {}, versionMinor = 1): { x: ProxyExchange; res: FakeDownstream } {
    const raw = ['host', 'example.test'];
    for (const [k, v] of Object.entries(headers)) raw.push(k, v);
    const res = new FakeDownstream();
    const x = new ProxyExchange(this.listener, res, method, target, new HeaderList(raw), versionMinor);
    const pair = { x, res };
    this.exchanges.push(pair);
    return pair;
  }

  /** Aborts what is still in flight and closes every pool. */
  close(): void {
    for (const { x, res } of this.exchanges) if (!x.finished) res.abort();
    for (const c of this.clusters.values()) for (const e of c.endpoints) e.pool.close();
  }
}

/** A body of `n` bytes whose every position is distinguishable (a repeating 251-byte pattern). */
export function patterned(n: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) % 251;
  return b;
}

/**
 * What a test file shares: the harness and upstreams a test makes, all closed by `cleanup` (call it
 * from afterEach), and real timers put back.
 */
export function exchangeTestBed() {
  let harness: Harness | null = null;
  const upstreams: ScriptedUpstream[] = [];
  return {
    async upstream(script: Script): Promise<ScriptedUpstream> {
      const u = await scriptedUpstream(script);
      upstreams.push(u);
      return u;
    },
    start(o: HarnessOptions): Harness {
      harness = new Harness(o);
      return harness;
    },
    async cleanup(): Promise<void> {
      vi.useRealTimers();
      vi.restoreAllMocks();
      harness?.close();
      harness = null;
      await Promise.all(upstreams.splice(0).map((u) => u.close()));
    },
  };
}
