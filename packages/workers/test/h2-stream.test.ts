/**
 * One request on an HTTP/2 session (H2Stream) against real node:http2 servers: the request's fields
 * as HTTP/2 has them, the response's body kind, interim responses, trailers before completion, request
 * bodies under flow control, response backpressure, and abandoning or giving back a stream.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HeaderList } from '@pillion/core';
import { waitFor } from '../../../test/helpers/wait-for.js';
import {
  CHUNKED,
  NGHTTP2_CANCEL,
  NO_BODY,
  closePools,
  closeServers,
  eventRuns,
  get,
  h2Pool,
  h2Upstream,
  hold,
  request,
  type Send,
} from './h2-fixtures.js';

afterEach(async () => {
  closePools();
  await closeServers();
});

describe('request fields', () => {
  it('sends :method, :path, :scheme and :authority from Host, and leaves out connection-specific fields', async () => {
    const u = await h2Upstream();
    const { pool } = h2Pool(u.port);
    const fields = ['host', 'api.example:8443', 'connection', 'keep-alive', 'keep-alive', 'timeout=5', 'proxy-connection', 'x', 'upgrade', 'websocket', 'te', 'gzip', 'x-multi', 'a', 'x-multi', 'b', 'accept', '*/*'];
    const r = request(pool, get('/p?q=1', fields));
    await waitFor(() => r.complete);
    const h = u.streams[0]!.headers;
    expect([h[':method'], h[':path'], h[':scheme'], h[':authority']]).toEqual(['GET', '/p?q=1', 'http', 'api.example:8443']);
    for (const name of ['host', 'connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te']) expect(h[name]).toBeUndefined();
    expect(h['x-multi']).toBe('a, b');
    expect(h['accept']).toBe('*/*');
  });

  it('uses the endpoint\'s address and port as :authority when the request has no Host', async () => {
    const u = await h2Upstream();
    const { pool } = h2Pool(u.port);
    const r = request(pool, get('/', ['accept', '*/*']));
    await waitFor(() => r.complete);
    expect(u.streams[0]!.headers[':authority']).toBe(`127.0.0.1:${u.port}`);
  });

  it('adds te: trailers to a gRPC request and delivers the trailers after the body, before completion', async () => {
    const u = await h2Upstream({
      handler: (stream) => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'fine' }));
        stream.write(Buffer.from([0, 0, 0, 0, 2, 8, 1]));
        stream.end(Buffer.from([0, 0, 0, 0, 2, 8, 2]));
      },
    });
    const { pool } = h2Pool(u.port);
    const send: Send = (s) => s.sendRequest('POST', '/pkg.Svc/Call', new HeaderList(['host', 'svc', 'content-type', 'application/grpc+proto']), CHUNKED, [Buffer.from([0, 0, 0, 0, 0])], true, null);
    const r = request(pool, send);
    await waitFor(() => r.complete);
    expect(u.streams[0]!.headers['te']).toBe('trailers');
    expect(eventRuns(r).filter((e) => e !== 'read-done')).toEqual(['connection', 'head', 'body', 'trailers', 'complete']);
    expect(r.bodyKind).toBe('chunked');
    expect(Buffer.concat(r.body).length).toBe(14);
    expect(r.trailers?.raw).toEqual(['grpc-status', '0', 'grpc-message', 'fine']);
  });

  it('holds trailers that arrive while the body is held back until the body before them is delivered', async () => {
    const chunk = Buffer.alloc(4096, 3);
    const u = await h2Upstream({
      handler: (stream) => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        // Within the stream's window: everything, trailers included, reaches the client while it is paused.
        for (let i = 0; i < 7; i++) stream.write(chunk);
        stream.end(chunk);
      },
    });
    const { pool } = h2Pool(u.port);
    const r = request(pool, get('/pkg.Svc/Stream', ['host', 'svc', 'content-type', 'application/grpc']));
    r.on = (event) => {
      if (event === 'body' && r.body.length === 1) r.stream!.pause();
    };
    await waitFor(() => u.closed.length === 1, { message: 'the upstream to have sent everything' });
    const held = r.stream as unknown as { trailers: unknown };
    await waitFor(() => held.trailers !== null, { message: 'the trailers to arrive' });
    expect(r.events).not.toContain('trailers');
    expect(r.complete).toBe(false);
    r.stream!.resume();
    await waitFor(() => r.complete);
    expect(eventRuns(r).filter((e) => e !== 'read-done')).toEqual(['connection', 'head', 'body', 'trailers', 'complete']);
    expect(Buffer.concat(r.body).length).toBe(8 * chunk.length);
  });

  it('fails a request whose fields HTTP/2 cannot carry as invalid, on a later turn, and keeps the session', async () => {
    const u = await h2Upstream({ handler: hold });
    const { pool } = h2Pool(u.port);
    const busy = request(pool, get('/busy'));
    await waitFor(() => u.held.length === 1);
    for (const fields of [['host', 'x', 'bad name', 'v'], ['host', 'x', 'x', 'a\r\nb'], ['host', 'x', ':path', '/evil']]) {
      const r = request(pool, get('/', fields));
      expect(r.events).toEqual(['connection']);
      await waitFor(() => r.settled);
      expect(r.error?.kind).toBe('invalid');
    }
    // Node destroys a session over a bad field name: the other stream on it must not notice.
    expect(pool.sessionViews()).toEqual([expect.objectContaining({ state: 'open', streams: 1 })]);
    u.answerHeld();
    await waitFor(() => busy.complete);
    expect(busy.text).toBe('ok /busy');
  });
});

describe('response body kind', () => {
  const cases: { name: string; method: string; respond: (s: import('node:http2').ServerHttp2Stream) => void; kind: string; length: number }[] = [
    { name: 'content-length', method: 'GET', respond: (s) => (s.respond({ ':status': 200, 'content-length': '5' }), s.end('hello')), kind: 'length', length: 5 },
    { name: 'no content-length', method: 'GET', respond: (s) => (s.respond({ ':status': 200 }), s.end('hello')), kind: 'chunked', length: -1 },
    { name: 'END_STREAM on the head', method: 'GET', respond: (s) => s.respond({ ':status': 200, 'grpc-status': '14' }, { endStream: true }), kind: 'none', length: -1 },
    { name: '204', method: 'GET', respond: (s) => s.respond({ ':status': 204 }, { endStream: true }), kind: 'none', length: -1 },
    { name: 'HEAD', method: 'HEAD', respond: (s) => s.respond({ ':status': 200, 'content-length': '42' }, { endStream: true }), kind: 'none', length: 42 },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.kind}`, async () => {
      const u = await h2Upstream({ handler: (s) => c.respond(s) });
      const { pool } = h2Pool(u.port);
      const r = request(pool, (s) => s.sendRequest(c.method, '/', new HeaderList(['host', 'x']), NO_BODY, null, true, null), c.method === 'HEAD');
      await waitFor(() => r.complete);
      expect([r.bodyKind, r.contentLength]).toEqual([c.kind, c.length]);
    });
  }

  it('says when the head holds bytes >= 0x80, which Node gives as latin1 characters', async () => {
    const u = await h2Upstream({
      handler: (s, headers) => {
        s.respond({ ':status': 200, 'x-name': headers[':path'] === '/latin1' ? 'caf\u00e9' : 'cafe' });
        s.end();
      },
    });
    const { pool } = h2Pool(u.port);
    const plain = request(pool, get('/ascii'));
    const latin1 = request(pool, get('/latin1'));
    await waitFor(() => plain.complete && latin1.complete);
    expect(plain.stream!.headHasNonAscii).toBe(false);
    expect(latin1.stream!.headHasNonAscii).toBe(true);
    expect(Buffer.from(latin1.headers!.get('x-name')!, 'latin1')).toEqual(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
  });

  it('relays interim (1xx) responses before the head', async () => {
    const u = await h2Upstream({
      handler: (s) => {
        s.additionalHeaders({ ':status': 103, link: '</a.css>; rel=preload' });
        s.respond({ ':status': 200 });
        s.end('ok');
      },
    });
    const { pool } = h2Pool(u.port);
    const r = request(pool, get('/'));
    await waitFor(() => r.complete);
    expect(r.informational).toEqual([103]);
    expect(r.events.indexOf('informational')).toBeLessThan(r.events.indexOf('head'));
  });

  it('tells the exchange a head with no body bytes behind it yet is ready to go on its own', async () => {
    const u = await h2Upstream({ handler: hold });
    const { pool } = h2Pool(u.port);
    const r = request(pool, get('/'));
    await waitFor(() => u.held.length === 1);
    u.held[0]!.respond({ ':status': 200 });
    await waitFor(() => r.events.includes('read-done'));
    expect(eventRuns(r)).toEqual(['connection', 'head', 'read-done']);
    u.held[0]!.end('late');
    await waitFor(() => r.complete);
    expect(r.text).toBe('late');
  });
});

describe('flow control', () => {
  it('streams a request body under backpressure: sendBody reports it, drain follows, every chunk is handed back written', async () => {
    let received = 0;
    let serverStream: import('node:http2').ServerHttp2Stream | null = null;
    const u = await h2Upstream({
      handler: (s) => {
        serverStream = s;
        s.pause(); // reads nothing until the test says: the stream's window fills
        s.on('data', (d: Buffer) => (received += d.length));
        s.on('end', () => {
          s.respond({ ':status': 200 });
          s.end(String(received));
        });
      },
    });
    const { pool } = h2Pool(u.port);
    const chunk = Buffer.alloc(16 * 1024, 7);
    const written: Buffer[] = [];
    const onWritten = (b: Buffer) => written.push(b);
    const r = request(pool, (s) => s.sendRequest('POST', '/upload', new HeaderList(['host', 'x']), CHUNKED, [], false, onWritten));
    const stream = await waitFor(() => r.stream);
    let sent = 0;
    let last = true;
    // Far more than the stream's window (64 KiB), which the upstream does not open while it reads nothing.
    for (let i = 0; i < 20; i++) {
      last = stream.sendBody(chunk, onWritten);
      sent += chunk.length;
    }
    expect(last).toBe(false);
    await waitFor(() => serverStream !== null && serverStream.state.localWindowSize === 0, { message: 'the upstream stream\'s window to fill' });
    // Held by flow control: the rest stays here, and no drain comes while the upstream does not read.
    expect(stream.writable).toBe(false);
    expect(r.drains).toBe(0);
    expect(received).toBe(0);
    serverStream!.resume();
    await waitFor(() => r.drains > 0, { message: 'drain once the upstream reads' });
    for (let i = 0; i < 8; i++) {
      stream.sendBody(chunk, onWritten);
      sent += chunk.length;
    }
    stream.endBody();
    await waitFor(() => r.complete);
    expect(Number(r.text)).toBe(sent);
    expect(received).toBe(sent);
    await waitFor(() => written.length === sent / chunk.length, { message: 'every chunk handed back' });
  });

  it('holds the response back while paused (the endpoint\'s window fills), and delivers all of it after resume', async () => {
    const total = 4 * 1024 * 1024;
    let serverStream: import('node:http2').ServerHttp2Stream | null = null;
    const u = await h2Upstream({
      handler: (s) => {
        serverStream = s;
        s.respond({ ':status': 200 });
        s.end(Buffer.alloc(total, 1));
      },
    });
    const { pool } = h2Pool(u.port);
    const r = request(pool, get('/big'));
    let got = 0;
    r.on = (event) => {
      if (event !== 'body') return;
      got += r.body[r.body.length - 1]!.length;
      if (r.body.length === 1) r.stream!.pause();
    };
    await waitFor(() => r.body.length > 0 && serverStream !== null);
    // The upstream cannot send past the window while nothing is read here.
    await waitFor(() => serverStream!.writableLength > 0, { message: 'the upstream to be held back' });
    expect(got).toBeLessThan(total);
    expect(r.complete).toBe(false);
    r.stream!.resume();
    await waitFor(() => r.complete);
    expect(got).toBe(total);
  });
});

describe('abandoning and giving back', () => {
  it('destroy() resets the stream with CANCEL; the endpoint sees it aborted and the place frees', async () => {
    const u = await h2Upstream({ handler: hold });
    const { pool } = h2Pool(u.port);
    const r = request(pool, get('/gone'));
    await waitFor(() => u.held.length === 1);
    let aborted = false;
    u.held[0]!.on('aborted', () => (aborted = true));
    r.stream!.destroy();
    await waitFor(() => u.closed.length === 1, { message: 'the server stream to close' });
    expect(u.closed[0]).toEqual({ path: '/gone', rstCode: NGHTTP2_CANCEL });
    expect(aborted).toBe(true);
    await waitFor(() => pool.sessionViews()[0]?.streams === 0);
    expect(r.settled).toBe(false); // an abandoned stream tells its exchange nothing more
  });

  it('release() gives an unused stream\'s place to the next waiter', async () => {
    const u = await h2Upstream({ settings: { maxConcurrentStreams: 1 } });
    const { pool } = h2Pool(u.port);
    const warm = request(pool, get('/warm'));
    await waitFor(() => warm.complete && pool.sessionViews()[0]?.limit === 1);
    const unused = request(pool, null);
    expect(unused.stream).not.toBeNull();
    const next = request(pool, get('/next'));
    expect(pool.pending).toBe(1);
    unused.stream!.release();
    expect(pool.pending).toBe(0);
    await waitFor(() => next.complete);
    expect(next.text).toBe('ok /next');
    expect(u.streams.map((s) => s.headers[':path'])).toEqual(['/warm', '/next']);
  });

  it('cancels the rest of a request the endpoint answered before it was all sent', async () => {
    const u = await h2Upstream({
      handler: (s) => {
        s.respond({ ':status': 413 });
        s.end('too big');
      },
    });
    const { pool } = h2Pool(u.port);
    const r = request(pool, (s) => s.sendRequest('POST', '/upload', new HeaderList(['host', 'x']), CHUNKED, [Buffer.alloc(100)], false, null));
    await waitFor(() => r.complete);
    expect([r.status, r.text]).toEqual([413, 'too big']);
    await waitFor(() => pool.sessionViews()[0]?.streams === 0, { message: 'the stream to close' });
  });
});
