/**
 * A cleartext HTTP/2 listener (`codec: h2c`) end to end: the real CLI, node:http2 clients with prior
 * knowledge, HTTP/1.1 upstreams in this process. Requests with and without bodies (up to 5 MiB each
 * way, streamed), 200 streams at once on one connection each answered with its own response, the
 * request fields an HTTP/1.1 upstream gets (Host from :authority, cookie crumbs joined into one
 * Cookie line, x-forwarded-*), response fields without the connection-specific ones, HEAD, 204 and 304
 * without a body, an HTTP/1.1 client on the h2c port answered with no HTTP/1.1 success; the SETTINGS
 * a client sees, max_concurrent_streams holding the upstream's concurrency down, and header blocks
 * over max_header_list_size or over max_request_headers_count refused without harm to the worker.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { constants } from 'node:http2';
import { connect, createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freePorts } from '../helpers/ports.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { collect, h2Connect, h2Request, writeAll, type H2Session } from './h2-clients.js';

const MiB = 1024 * 1024;
/** The bytes /bytes serves (a prefix of them). */
const DATA = randomBytes(5 * MiB);
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Echo {
  method: string;
  url: string;
  /** Raw header lines as received (name, value alternating). */
  headers: string[];
  length: number;
  sha256: string;
}

let pillion: PillionProcess;
let upstream: Server;
let recording: RecordingUpstream;
let oneWrite: TcpServer;
/** Requests oneWrite answered, per connection it accepted. */
const oneWriteRequests: number[] = [];
let ports: { h2c: number; tuned: number; recorded: number; oneWrite: number };
/** Requests the upstream is answering right now, and the most it ever had at once. */
let inFlight = 0;
let maxInFlight = 0;
/** Every request target the upstream was sent, in order. */
const seen: string[] = [];
const sessions: H2Session[] = [];

/**
 * The HTTP/1.1 upstream:
 * - `/echo` (any method): the request as received, as JSON (with the body's length and hash), after
 *   `?delay=MS`; the answer carries Node's own `connection`/`keep-alive` fields and two `set-cookie`;
 * - `/mirror`: the request body streamed back, chunked;
 * - `/bytes?n=N`: the first N bytes of DATA, streamed (chunked, or with `&length=1` a Content-Length);
 * - `/status/CODE`: that status with no body (304 with an ETag);
 * - `/head`: Content-Length 1234 and, for HEAD, no body.
 */
function handle(req: IncomingMessage, res: ServerResponse): void {
  seen.push(req.url ?? '');
  const url = new URL(req.url ?? '/', 'http://upstream');
  const chunks: Buffer[] = [];
  if (url.pathname === '/mirror') {
    res.setHeader('content-type', 'application/octet-stream');
    req.pipe(res);
    return;
  }
  req.on('data', (d: Buffer) => chunks.push(d));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    if (url.pathname === '/bytes') {
      const n = Number(url.searchParams.get('n'));
      if (url.searchParams.get('length') === '1') res.setHeader('content-length', n);
      const write = (at: number): void => {
        while (at < n) {
          const next = Math.min(n, at + 64 * 1024);
          const ok = res.write(DATA.subarray(at, next));
          at = next;
          if (!ok) {
            res.once('drain', () => write(at));
            return;
          }
        }
        res.end();
      };
      write(0);
      return;
    }
    if (url.pathname.startsWith('/status/')) {
      res.statusCode = Number(url.pathname.slice(8));
      if (res.statusCode === 304) res.setHeader('etag', '"v1"');
      res.setHeader('x-status', String(res.statusCode));
      res.end();
      return;
    }
    if (url.pathname === '/head') {
      res.setHeader('content-type', 'text/plain');
      res.setHeader('content-length', 1234);
      if (req.method === 'HEAD') res.end();
      else res.end('x'.repeat(1234));
      return;
    }
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const reply = () => {
      inFlight--;
      const echo: Echo = { method: req.method ?? '', url: req.url ?? '', headers: req.rawHeaders, length: body.length, sha256: sha256(body) };
      res.setHeader('content-type', 'application/json');
      res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/']);
      res.setHeader('x-upstream', 'echo');
      res.end(JSON.stringify(echo));
    };
    const delay = Number(url.searchParams.get('delay') ?? 0);
    if (delay > 0) setTimeout(reply, delay);
    else reply();
  });
}

/** The chunked response oneWrite sends: a 32 KiB chunk and the last chunk, in one write. */
const ONE_WRITE_BODY = Buffer.alloc(32 * 1024, 'z');
const ONE_WRITE_RESPONSE = Buffer.concat([
  Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n${ONE_WRITE_BODY.length.toString(16)}\r\n`),
  ONE_WRITE_BODY,
  Buffer.from('\r\n0\r\n\r\n'),
]);

/**
 * An upstream that answers every GET with ONE_WRITE_RESPONSE in a single write, so that one read of
 * the proxy holds both a body chunk (more than the HTTP/2 stream takes without backpressure) and the
 * end of the response.
 */
function startOneWrite(): Promise<TcpServer> {
  const server = createTcpServer((socket: Socket) => {
    const id = oneWriteRequests.push(0) - 1;
    let pending = '';
    socket.on('error', () => undefined);
    socket.on('data', (d: Buffer) => {
      pending += d.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end !== -1; end = pending.indexOf('\r\n\r\n')) {
        pending = pending.slice(end + 4);
        oneWriteRequests[id]!++;
        socket.write(ONE_WRITE_RESPONSE);
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

beforeAll(async () => {
  const [up, admin, h2c, tuned, recorded, oneWritePort] = await freePorts(6);
  ports = { h2c: h2c!, tuned: tuned!, recorded: recorded!, oneWrite: oneWritePort! };
  oneWrite = await startOneWrite();
  upstream = createServer(handle);
  upstream.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => upstream.listen(up, '127.0.0.1', () => r()));
  recording = await startRecordingUpstream();
  const to = (cluster: string) => [{ match: { prefix: '/' }, cluster }];
  pillion = await startPillion({
    workers: 1,
    admin: { port: admin! },
    access_log: { enabled: false },
    listeners: [
      { name: 'h2c', protocol: 'http', codec: 'h2c', port: ports.h2c, routes: to('echo') },
      {
        name: 'tuned',
        protocol: 'http',
        codec: 'h2c',
        port: ports.tuned,
        routes: to('echo'),
        limits: { max_request_headers_count: 20 },
        http2: { max_concurrent_streams: 7, initial_window_size: 100_000, max_header_list_size: 4096 },
      },
      { name: 'recorded', protocol: 'http', codec: 'h2c', port: ports.recorded, routes: to('recording') },
      {
        name: 'one-write',
        protocol: 'http',
        codec: 'h2c',
        port: ports.oneWrite,
        routes: [{ match: { prefix: '/' }, cluster: 'one-write', timeout: '3s', retry: { attempts: 0 } }],
      },
    ],
    clusters: [
      { name: 'one-write', endpoints: [{ address: '127.0.0.1', port: (oneWrite.address() as import('node:net').AddressInfo).port }] },
      { name: 'echo', endpoints: [{ address: '127.0.0.1', port: up }] },
      { name: 'recording', endpoints: [{ address: '127.0.0.1', port: recording.port }] },
    ],
  });
});

afterAll(async () => {
  for (const s of sessions) s.session.destroy();
  await pillion?.stop();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
  await recording?.close();
  await new Promise((r) => oneWrite?.close(r));
});

async function session(port: number): Promise<H2Session> {
  const s = await h2Connect(`http://127.0.0.1:${port}`);
  sessions.push(s);
  return s;
}

const echoOf = (body: Buffer) => JSON.parse(body.toString()) as Echo;
/** A raw header's values, case-insensitive. */
const valuesOf = (raw: string[], name: string) => {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
  return out;
};

describe('requests and responses over h2c', () => {
  it('GET: 200 with the upstream answer, counted as an HTTP/2 connection and stream', async () => {
    const m0 = await pillion.metrics();
    const { session: s } = await session(ports.h2c);
    const r = await h2Request(s, { ':path': '/echo?x=1' });
    expect(r.status).toBe(200);
    expect(echoOf(r.body)).toMatchObject({ method: 'GET', url: '/echo?x=1', length: 0 });
    const m1 = await pillion.metrics();
    const delta = (name: string) => (metric(m1, name, { listener: 'h2c' }) ?? 0) - (metric(m0, name, { listener: 'h2c' }) ?? 0);
    expect(delta('pillion_h2_connections_total')).toBe(1);
    expect(delta('pillion_h2_streams_total')).toBe(1);
  });

  it('POST with a small body: the upstream gets it whole, with its length', async () => {
    const { session: s } = await session(ports.h2c);
    const body = Buffer.from('hello over h2');
    const r = await h2Request(s, { ':method': 'POST', ':path': '/echo', 'content-type': 'text/plain', 'content-length': body.length }, body);
    expect(r.status).toBe(200);
    const echo = echoOf(r.body);
    expect(echo).toMatchObject({ method: 'POST', length: body.length, sha256: sha256(body) });
    expect(valuesOf(echo.headers, 'content-length')).toEqual([String(body.length)]);
  });

  it('POST of 5 MiB streamed without a content-length, mirrored back streamed: intact both ways', async () => {
    const { session: s } = await session(ports.h2c);
    const body = randomBytes(5 * MiB);
    const stream = s.request({ ':method': 'POST', ':path': '/mirror', 'content-type': 'application/octet-stream' });
    const reply = collect(stream);
    await writeAll(stream, body);
    const r = await reply;
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(body.length);
    expect(sha256(r.body)).toBe(sha256(body));
  });

  it.each([
    ['chunked', ''],
    ['with a content-length', '&length=1'],
  ])('GET of a 5 MiB response streamed %s: intact', async (_what, query) => {
    const { session: s } = await session(ports.h2c);
    const r = await h2Request(s, { ':path': `/bytes?n=${5 * MiB}${query}` });
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(5 * MiB);
    expect(sha256(r.body)).toBe(sha256(DATA));
    if (query) expect(r.headers['content-length']).toBe(String(5 * MiB));
  });

  it('200 streams at once on one connection: every response answers its own request', async () => {
    const { session: s } = await session(ports.h2c);
    const n = 200;
    const replies = await Promise.all(
      Array.from({ length: n }, (_, i) => {
        const body = `request ${i} `.repeat(i % 7);
        return h2Request(s, { ':method': 'POST', ':path': `/echo?i=${i}&delay=${i % 13}` }, body).then((r) => ({ i, body, r }));
      }),
    );
    for (const { i, body, r } of replies) {
      expect(r.status).toBe(200);
      const echo = echoOf(r.body);
      expect(echo.url).toBe(`/echo?i=${i}&delay=${i % 13}`);
      expect(echo.sha256).toBe(sha256(Buffer.from(body)));
    }
  });

  it('HEAD: the head with the content-length, and no body', async () => {
    const { session: s } = await session(ports.h2c);
    const r = await h2Request(s, { ':method': 'HEAD', ':path': '/head' });
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe('1234');
    expect(r.body.length).toBe(0);
  });

  it.each([204, 304])('%i: the head only, no body', async (code) => {
    const { session: s } = await session(ports.h2c);
    const r = await h2Request(s, { ':path': `/status/${code}` });
    expect(r.status).toBe(code);
    expect(r.headers['x-status']).toBe(String(code));
    if (code === 304) expect(r.headers.etag).toBe('"v1"');
    expect(r.body.length).toBe(0);
    // The connection goes on serving.
    expect((await h2Request(s, { ':path': '/echo' })).status).toBe(200);
  });
});

describe('upstream connections after a response relayed under backpressure', () => {
  it('a body chunk the stream holds back and the end of the response in one read: the pooled connection serves the next request', async () => {
    const { session: s } = await session(ports.oneWrite);
    const first = await h2Request(s, { ':path': '/first' });
    expect(first.status).toBe(200);
    expect(first.body.equals(ONE_WRITE_BODY)).toBe(true);
    // The same upstream connection, back from the pool: its reads must have been let go again.
    const second = await h2Request(s, { ':path': '/second' });
    expect(second.status).toBe(200);
    expect(second.body.equals(ONE_WRITE_BODY)).toBe(true);
    expect(oneWriteRequests).toEqual([2]);
  });
});

describe('fields between HTTP/2 and an HTTP/1.1 upstream', () => {
  it('Host from :authority, cookie crumbs joined into one Cookie line, x-forwarded-* added, no pseudo-headers', async () => {
    const { session: s } = await session(ports.recorded);
    const before = recording.requests.length;
    const r = await h2Request(s, {
      ':path': '/fields?q=1',
      ':authority': 'api.example.test:8443',
      cookie: ['a=1', 'b=2', 'c=3'],
      'x-custom': 'kept',
    });
    expect(r.status).toBe(200);
    expect(recording.requests.length).toBe(before + 1);
    const req = recording.requests[before]!;
    expect(req.problems).toEqual([]);
    expect(req.method).toBe('GET');
    expect(req.target).toBe('/fields?q=1');
    expect(req.version).toBe('HTTP/1.1');
    const all = (name: string) => req.headers.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);
    expect(all('host')).toEqual(['api.example.test:8443']);
    expect(all('cookie')).toEqual(['a=1; b=2; c=3']);
    expect(all('x-custom')).toEqual(['kept']);
    expect(all('x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(all('x-forwarded-proto')).toEqual(['http']);
    expect(all('x-forwarded-host')).toEqual(['api.example.test:8443']);
    expect(req.headers.filter(([k]) => k.startsWith(':'))).toEqual([]);
  });

  it('a request body of known length goes upstream with that Content-Length; one of unknown length is chunked', async () => {
    const { session: s } = await session(ports.recorded);
    const before = recording.requests.length;
    await h2Request(s, { ':method': 'POST', ':path': '/len', 'content-length': 5 }, 'abcde');
    const stream = s.request({ ':method': 'POST', ':path': '/chunked' });
    const reply = collect(stream);
    stream.write('abc');
    stream.end('de');
    await reply;
    const [known, unknown] = [recording.requests[before]!, recording.requests[before + 1]!];
    expect(known).toMatchObject({ target: '/len', framing: 'length' });
    expect(known.body.toString()).toBe('abcde');
    expect(unknown).toMatchObject({ target: '/chunked', framing: 'chunked' });
    expect(unknown.body.toString()).toBe('abcde');
  });

  it('response fields come back without connection-specific ones; repeated set-cookie stays two fields', async () => {
    const { session: s } = await session(ports.h2c);
    const r = await h2Request(s, { ':path': '/echo' });
    expect(r.status).toBe(200);
    for (const name of ['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']) expect(r.headers[name]).toBeUndefined();
    expect(r.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; Path=/']);
    expect(r.headers['x-upstream']).toBe('echo');
    expect(r.headers['content-type']).toBe('application/json');
  });

  it('an HTTP/1.1 request on the h2c port gets no HTTP/1.1 success', async () => {
    const reply = await new Promise<string>((resolve) => {
      const socket = connect(ports.h2c, '127.0.0.1', () => socket.write('GET /echo HTTP/1.1\r\nhost: x\r\n\r\n'));
      let data = '';
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => (data += d));
      socket.on('close', () => resolve(data));
      socket.on('error', () => undefined);
    });
    expect(reply).not.toMatch(/^HTTP\/1\.[01] [23]\d\d/);
  });
});

describe('settings and limits', () => {
  it('the client sees the configured SETTINGS (max_concurrent_streams, initial_window_size, max_header_list_size)', async () => {
    const { session: s } = await session(ports.tuned);
    expect(s.remoteSettings).toMatchObject({ maxConcurrentStreams: 7, initialWindowSize: 100_000, maxHeaderListSize: 4096, enablePush: false });
    const { session: d } = await session(ports.h2c);
    // Defaults: 100 streams, a 256 KiB window, and the listener's header limits (16 KiB of fields + 8 KiB of URI).
    expect(d.remoteSettings).toMatchObject({ maxConcurrentStreams: 100, initialWindowSize: 256 * 1024, maxHeaderListSize: 24 * 1024 });
  });

  it('max_concurrent_streams: 30 requests on one connection all answered, never more than 7 at the upstream at once', async () => {
    const { session: s } = await session(ports.tuned);
    maxInFlight = 0;
    const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => h2Request(s, { ':path': `/echo?i=${i}&delay=20` })));
    expect(replies.map((r) => r.status)).toEqual(Array<number>(30).fill(200));
    expect(replies.map((r) => echoOf(r.body).url)).toEqual(Array.from({ length: 30 }, (_, i) => `/echo?i=${i}&delay=20`));
    expect(maxInFlight).toBeGreaterThan(1);
    expect(maxInFlight).toBeLessThanOrEqual(7);
  });

  it('a header block over max_header_list_size: that stream is refused (ENHANCE_YOUR_CALM), never forwarded; the connection goes on', async () => {
    const { session: s } = await session(ports.tuned);
    const refused = await h2Request(s, { ':path': '/echo?big', 'x-big': 'b'.repeat(6000) }).then(
      (r) => `answered ${r.status}`,
      (e: Error & { rstCode?: number }) => e.rstCode,
    );
    expect(refused).toBe(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    expect((await h2Request(s, { ':path': '/echo?after-big', 'x-small': 'b'.repeat(1000) })).status).toBe(200);
    expect(seen).toContain('/echo?after-big');
    expect(seen).not.toContain('/echo?big');
  });

  it('more fields than limits.max_request_headers_count: 431, the connection goes on', async () => {
    const { session: s } = await session(ports.tuned);
    const many: Record<string, string> = { ':path': '/echo?many' };
    for (let i = 0; i < 30; i++) many[`x-field-${i}`] = String(i);
    const r = await h2Request(s, many);
    expect(r.status).toBe(431);
    const ok = await h2Request(s, { ':path': '/echo?few', 'x-field': '1' });
    expect(ok.status).toBe(200);
  });
});

