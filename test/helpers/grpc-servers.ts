/**
 * gRPC for the end-to-end tests: the `pillion.test.Echo` service of test/fixtures/echo.proto served by
 * @grpc/grpc-js on 127.0.0.1 (cleartext HTTP/2, what a `protocol: h2c` cluster speaks), a typed grpc-js
 * client for it, promise wrappers that collect everything a call ends with (messages, initial and
 * trailing metadata, status), and a raw node:http2 client for what grpc-js hides from its caller (the
 * HTTP status, whether grpc-status came in the head or in trailers, which server answered).
 *
 * The server does what each request asks (see echo.proto): how many replies, how slowly, which status
 * to end with. It records every call it took (method, metadata, deadline, whether it was cancelled),
 * so a test can tell which endpoint a proxy sent a call to and whether a reset travelled upstream.
 * Request metadata `x-echo` (and the binary `x-echo-bin`) is sent back in the response's initial
 * metadata as `x-echo-initial` and in its trailers as `x-echo-trailer`.
 */
import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const ECHO_PROTO = fileURLToPath(new URL('../fixtures/echo.proto', import.meta.url));

const definition = protoLoader.loadSync(ECHO_PROTO, { keepCase: true, longs: Number, enums: String, defaults: true });
const echoService = definition['pillion.test.Echo'] as protoLoader.ServiceDefinition;
const EchoClientCtor = grpc.makeGenericClientConstructor(echoService as unknown as grpc.ServiceDefinition, 'Echo') as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => EchoClient;

export interface EchoRequest {
  text?: string;
  payload?: Buffer;
  count?: number;
  delay_ms?: number;
  fail_code?: number;
}

export interface EchoReply {
  text: string;
  payload: Buffer;
  index: number;
  server: string;
}

export type EchoMethod = 'Unary' | 'ServerStream' | 'ClientStream' | 'Bidi';

/** What an Echo server saw of one call. */
export interface CallRecord {
  method: EchoMethod;
  metadata: grpc.Metadata;
  /** The call's deadline (from the grpc-timeout it arrived with) in ms since the epoch; Infinity without one. */
  deadline: number;
  /** The call ended without the server finishing it: the client (or a proxy) reset it, or its deadline passed. */
  cancelled: boolean;
  /** The server sent its status (success or error). */
  finished: boolean;
}

export interface EchoServerOptions {
  /** Shows in every reply's `server` field. */
  name: string;
  /** Default: any free port. */
  port?: number;
  /** Answer every call with this status at once, before reading anything (a trailers-only response). */
  failAll?: { code: grpc.status; details: string };
}

export interface EchoServer {
  name: string;
  port: number;
  address: string;
  calls: CallRecord[];
  close(): Promise<void>;
}

/** What every kind of server call has (grpc-js does not export its ServerSurfaceCall type). */
interface SurfaceCall {
  metadata: grpc.Metadata;
  getDeadline(): grpc.Deadline;
  on(event: 'cancelled', listener: () => void): unknown;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Initial and trailing metadata echoing the request's `x-echo` and `x-echo-bin` entries. */
function echoed(request: grpc.Metadata, suffix: 'initial' | 'trailer'): grpc.Metadata | null {
  const text = request.get('x-echo');
  const bin = request.get('x-echo-bin');
  if (text.length === 0 && bin.length === 0) return null;
  const m = new grpc.Metadata();
  for (const v of text) m.add(`x-echo-${suffix}`, v);
  for (const v of bin) m.add(`x-echo-${suffix}-bin`, v);
  return m;
}

function failure(code: number, details: string, trailers: grpc.Metadata | null): Partial<grpc.StatusObject> {
  return { code, details, ...(trailers ? { metadata: trailers } : {}) };
}

export async function startEchoServer(opts: EchoServerOptions): Promise<EchoServer> {
  const calls: CallRecord[] = [];
  const name = opts.name;
  const track = (method: EchoMethod, call: SurfaceCall): CallRecord => {
    const record: CallRecord = { method, metadata: call.metadata.clone(), deadline: Number(call.getDeadline()), cancelled: false, finished: false };
    calls.push(record);
    call.on('cancelled', () => {
      if (!record.finished) record.cancelled = true;
    });
    return record;
  };
  const fail = opts.failAll;

  const handlers: grpc.UntypedServiceImplementation = {
    Unary(call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) {
      const record = track('Unary', call);
      const done: grpc.sendUnaryData<EchoReply> = (err, value, trailer) => {
        if (record.cancelled) return;
        record.finished = true;
        callback(err, value, trailer);
      };
      if (fail) return done(failure(fail.code, fail.details, null));
      const req = call.request;
      const initial = echoed(call.metadata, 'initial');
      if (initial) call.sendMetadata(initial);
      const answer = () => {
        const trailer = echoed(call.metadata, 'trailer') ?? undefined;
        if (req.fail_code) done(failure(req.fail_code, req.text ?? '', trailer ?? null));
        else done(null, { text: req.text ?? '', payload: req.payload ?? Buffer.alloc(0), index: 0, server: name }, trailer);
      };
      if (!req.delay_ms) return answer();
      const timer = setTimeout(answer, req.delay_ms);
      call.on('cancelled', () => clearTimeout(timer));
    },

    ServerStream(call: grpc.ServerWritableStream<EchoRequest, EchoReply>) {
      const record = track('ServerStream', call);
      if (fail) return call.emit('error', failure(fail.code, fail.details, null));
      const req = call.request;
      const initial = echoed(call.metadata, 'initial');
      if (initial) call.sendMetadata(initial);
      void (async () => {
        for (let i = 0; i < (req.count ?? 0); i++) {
          if (record.cancelled) return;
          call.write({ text: req.text ?? '', payload: req.payload ?? Buffer.alloc(0), index: i, server: name });
          if (req.delay_ms) await sleep(req.delay_ms);
        }
        if (record.cancelled) return;
        record.finished = true;
        const trailer = echoed(call.metadata, 'trailer');
        if (req.fail_code) call.emit('error', failure(req.fail_code, req.text ?? '', trailer));
        else call.end(trailer ?? undefined);
      })();
    },

    ClientStream(call: grpc.ServerReadableStream<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) {
      const record = track('ClientStream', call);
      if (fail) {
        record.finished = true;
        return callback(failure(fail.code, fail.details, null));
      }
      const texts: string[] = [];
      const payloads: Buffer[] = [];
      let failCode = 0;
      call.on('data', (req: EchoRequest) => {
        texts.push(req.text ?? '');
        if (req.payload?.length) payloads.push(req.payload);
        if (req.fail_code) failCode = req.fail_code;
      });
      call.on('end', () => {
        if (record.cancelled) return;
        record.finished = true;
        const trailer = echoed(call.metadata, 'trailer') ?? undefined;
        if (failCode) callback(failure(failCode, texts.join(','), trailer ?? null));
        else callback(null, { text: texts.join(','), payload: Buffer.concat(payloads), index: texts.length, server: name }, trailer);
      });
    },

    Bidi(call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) {
      const record = track('Bidi', call);
      if (fail) return call.emit('error', failure(fail.code, fail.details, null));
      let n = 0;
      call.on('data', (req: EchoRequest) => {
        if (record.finished || record.cancelled) return;
        if (req.fail_code) {
          record.finished = true;
          call.emit('error', failure(req.fail_code, req.text ?? '', null));
          return;
        }
        call.write({ text: req.text ?? '', payload: req.payload ?? Buffer.alloc(0), index: n++, server: name });
      });
      call.on('end', () => {
        if (record.finished || record.cancelled) return;
        record.finished = true;
        call.end();
      });
    },
  };

  const server = new grpc.Server();
  server.addService(echoService as unknown as grpc.ServiceDefinition, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${opts.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    name,
    port,
    address: `127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}

// ------------------------------------------------------------------ the grpc-js client

/** The generated client of the Echo service (grpc-js builds it from the proto at run time). */
export interface EchoClient extends grpc.Client {
  Unary(req: EchoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<EchoReply>): grpc.ClientUnaryCall;
  ServerStream(req: EchoRequest, metadata?: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<EchoReply>;
  ClientStream(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<EchoReply>): grpc.ClientWritableStream<EchoRequest>;
  Bidi(metadata?: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<EchoRequest, EchoReply>;
}

/** A client for `address` (host:port); cleartext unless `credentials` say otherwise (grpc.credentials.createSsl). */
export function echoClient(address: string, credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(), options: grpc.ClientOptions = {}): EchoClient {
  return new EchoClientCtor(address, credentials, options);
}

export interface EchoCallOptions {
  metadata?: grpc.Metadata;
  /** Milliseconds from now. */
  deadlineMs?: number;
}

/** Everything a finished call gave its client; `error` is set when the status is not OK. */
export interface CallOutcome<T> {
  result: T | undefined;
  error: grpc.ServiceError | undefined;
  /** Response initial metadata (undefined when the response was trailers-only). */
  initial: grpc.Metadata | undefined;
  status: grpc.StatusObject;
}

function callOptions(o: EchoCallOptions): grpc.CallOptions {
  return o.deadlineMs === undefined ? {} : { deadline: Date.now() + o.deadlineMs };
}

/** A unary call that resolves (never rejects) with its outcome once the status arrived. */
export function unary(client: EchoClient, req: EchoRequest, o: EchoCallOptions = {}): Promise<CallOutcome<EchoReply>> {
  return new Promise((resolve) => {
    let result: EchoReply | undefined;
    let error: grpc.ServiceError | undefined;
    let initial: grpc.Metadata | undefined;
    const call = client.Unary(req, o.metadata ?? new grpc.Metadata(), callOptions(o), (err, value) => {
      error = err ?? undefined;
      result = value;
    });
    call.on('metadata', (m: grpc.Metadata) => (initial = m));
    call.on('status', (status: grpc.StatusObject) => resolve({ result, error, initial, status }));
  });
}

/** Reads a response stream to its end: its messages, metadata and status (never rejects). */
export function collect<T>(call: grpc.ClientReadableStream<T> | grpc.ClientDuplexStream<unknown, T>): Promise<CallOutcome<T[]>> {
  return new Promise((resolve) => {
    const messages: T[] = [];
    let error: grpc.ServiceError | undefined;
    let initial: grpc.Metadata | undefined;
    call.on('data', (m: T) => messages.push(m));
    call.on('metadata', (m: grpc.Metadata) => (initial = m));
    call.on('error', (e: grpc.ServiceError) => (error = e));
    call.on('status', (status: grpc.StatusObject) => {
      // 'status' can come before the last 'data' and 'error' events: let them run first.
      setImmediate(() => resolve({ result: messages, error, initial, status }));
    });
  });
}

/** A client-streaming call that writes `requests` and resolves with the outcome (never rejects). */
export function clientStream(client: EchoClient, requests: EchoRequest[], o: EchoCallOptions = {}): Promise<CallOutcome<EchoReply>> {
  return new Promise((resolve) => {
    let result: EchoReply | undefined;
    let error: grpc.ServiceError | undefined;
    let initial: grpc.Metadata | undefined;
    const call = client.ClientStream(o.metadata ?? new grpc.Metadata(), callOptions(o), (err, value) => {
      error = err ?? undefined;
      result = value;
    });
    call.on('metadata', (m: grpc.Metadata) => (initial = m));
    call.on('status', (status: grpc.StatusObject) => resolve({ result, error, initial, status }));
    for (const r of requests) call.write(r);
    call.end();
  });
}

// ------------------------------------------------------------------ raw HTTP/2

const requestSerialize = echoService.Unary!.requestSerialize as (value: EchoRequest) => Buffer;
const responseDeserialize = echoService.Unary!.responseDeserialize as (bytes: Buffer) => EchoReply;

/** A gRPC length-prefixed message (uncompressed) carrying `req`. */
export function grpcFrame(req: EchoRequest): Buffer {
  const body = requestSerialize(req);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** The EchoReply messages in a gRPC response body. */
export function grpcReplies(body: Buffer): EchoReply[] {
  const out: EchoReply[] = [];
  for (let at = 0; at + 5 <= body.length; ) {
    const n = body.readUInt32BE(at + 1);
    out.push(responseDeserialize(body.subarray(at + 5, at + 5 + n)));
    at += 5 + n;
  }
  return out;
}

export interface RawResponse {
  /** The response head (`:status` included). */
  headers: IncomingHttpHeaders;
  /** The head's HEADERS frame ended the stream: a trailers-only gRPC response is exactly one such frame. */
  headEndedStream: boolean;
  /** The trailer block, or null when the response had none (trailers-only, or a plain HTTP answer). */
  trailers: IncomingHttpHeaders | null;
  body: Buffer;
  /** RST_STREAM code the stream closed with (0: a clean end). */
  rstCode: number;
}

export interface RawOptions {
  /** Extra request fields (grpc-timeout, metadata...). */
  headers?: OutgoingHttpHeaders;
  /** The request body; default one framed empty EchoRequest. */
  body?: Buffer;
  /** Connect over TLS (ALPN h2) trusting this CA. */
  ca?: string;
}

/** Opens an HTTP/2 session to 127.0.0.1:port (cleartext, or TLS with `ca`). */
export function rawSession(port: number, ca?: string): ClientHttp2Session {
  const session = ca === undefined ? connect(`http://127.0.0.1:${port}`) : connect(`https://127.0.0.1:${port}`, { ca, ALPNProtocols: ['h2'] });
  session.on('error', () => {});
  return session;
}

/** One gRPC request over a raw HTTP/2 stream, resolved when the stream closes. */
export function rawGrpc(port: number, path: string, o: RawOptions = {}): Promise<RawResponse> {
  const session = rawSession(port, o.ca);
  return new Promise<RawResponse>((resolve, reject) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...o.headers,
    });
    let headers: IncomingHttpHeaders | undefined;
    let headEndedStream = false;
    let trailers: IncomingHttpHeaders | null = null;
    const chunks: Buffer[] = [];
    stream.on('response', (h, flags) => {
      headers = h;
      headEndedStream = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => {});
    stream.on('close', () => {
      if (headers === undefined) reject(new Error(`stream closed without a response (rst code ${stream.rstCode})`));
      else resolve({ headers, headEndedStream, trailers, body: Buffer.concat(chunks), rstCode: stream.rstCode ?? constants.NGHTTP2_NO_ERROR });
    });
    stream.end(o.body ?? grpcFrame({}));
  }).finally(() => session.close());
}
