/**
 * gRPC deadlines and cancellation through Pillion: a grpc-js client's deadline reaches the server (as
 * grpc-timeout) and a call past it is cancelled upstream too; a client that sends `grpc-timeout` and
 * then waits gets DEADLINE_EXCEEDED from the proxy when the deadline passes, long before the route's
 * own timeout, as a trailers-only gRPC answer, and the upstream request is cancelled; a client that
 * cancels a server stream midway cancels it at the server (the reset travels upstream).
 */
import { createServer, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoClient, rawGrpc, rawSession, startEchoServer, unary, type EchoClient, type EchoReply, type EchoServer } from '../helpers/grpc-servers.js';
import { startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freePorts } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait-for.js';

let pillion: PillionProcess;
let server: EchoServer;
let client: EchoClient;
/** An HTTP/2 server that takes requests and never answers them. */
let silent: Http2Server;
const held: ServerHttp2Stream[] = [];
let listen = 0;

beforeAll(async () => {
  server = await startEchoServer({ name: 'echo' });
  const [silentPort, l, admin] = await freePorts(3);
  listen = l!;
  silent = createServer();
  silent.on('stream', (stream) => {
    stream.on('error', () => {});
    held.push(stream);
  });
  await new Promise<void>((r) => silent.listen(silentPort, '127.0.0.1', () => r()));
  pillion = await startPillion({
    workers: 1,
    admin: { port: admin! },
    access_log: { enabled: false },
    listeners: [
      {
        name: 'grpc',
        protocol: 'http',
        codec: 'h2c',
        port: listen,
        routes: [
          { match: { prefix: '/pillion.test.Silent/' }, cluster: 'silent', timeout: '30s' },
          { match: { prefix: '/' }, cluster: 'echo', timeout: '30s' },
        ],
      },
    ],
    clusters: [
      { name: 'echo', protocol: 'h2c', endpoints: [{ address: '127.0.0.1', port: server.port }] },
      { name: 'silent', protocol: 'h2c', endpoints: [{ address: '127.0.0.1', port: silentPort }] },
    ],
  });
  client = echoClient(`127.0.0.1:${listen}`);
  // Open the proxy's sessions to both upstreams first, so that the short deadlines below are spent
  // waiting for an answer, not on connecting.
  expect((await unary(client, { text: 'warm-up' })).error).toBeUndefined();
  const session = rawSession(listen);
  const warm = session.request({ ':method': 'POST', ':path': '/pillion.test.Silent/Warm', 'content-type': 'application/grpc', te: 'trailers' });
  warm.on('error', () => {});
  await waitFor(() => held.length === 1, { message: 'the warm-up request to reach the silent upstream' });
  warm.close();
  session.close();
});

afterAll(async () => {
  client?.close();
  await pillion?.stop();
  await server?.close();
  for (const s of held) s.destroy();
  await new Promise((r) => silent?.close(r));
});

describe('deadlines', () => {
  it('a deadline shorter than the server takes: DEADLINE_EXCEEDED at the client, the call cancelled at the server', async () => {
    const before = server.calls.length;
    const out = await unary(client, { text: 'slow', delay_ms: 20_000 }, { deadlineMs: 1000 });
    expect(out.error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    const call = server.calls[before]!;
    expect(call.method).toBe('Unary');
    // The deadline went upstream as grpc-timeout...
    expect(Number.isFinite(call.deadline)).toBe(true);
    expect(call.deadline).toBeLessThan(Date.now() + 1000);
    // ...and the call did not go on running at the server.
    await waitFor(() => call.cancelled, { message: 'the server to see its call cancelled' });
    expect(call.finished).toBe(false);
  });

  it('grpc-timeout bounds the route timeout: the proxy answers DEADLINE_EXCEEDED, trailers-only, and cancels upstream', async () => {
    const before = held.length;
    const started = performance.now();
    // A raw client that does not enforce its own deadline: only the proxy can end this call.
    const r = await rawGrpc(listen, '/pillion.test.Silent/Wait', { headers: { 'grpc-timeout': '200m' } });
    const waited = performance.now() - started;
    expect(r.headers[':status']).toBe(200);
    expect(r.headers['content-type']).toBe('application/grpc');
    expect(r.headers['grpc-status']).toBe(String(grpc.status.DEADLINE_EXCEEDED));
    expect(r.headers['grpc-message']).toMatch(/timeout/);
    expect(r.headers.server).toBe('pillion');
    expect(r.headEndedStream).toBe(true);
    expect(r.trailers).toBeNull();
    expect(r.body.length).toBe(0);
    // Nowhere near the route's 30 s (a generous bound: the deadline is 200 ms).
    expect(waited).toBeLessThan(10_000);
    // The request did reach the upstream, and the proxy gave up on it there too.
    expect(held.length).toBe(before + 1);
    const upstream = held[before]!;
    expect(upstream.headersSent).toBe(false);
    await waitFor(() => upstream.closed, { message: 'the upstream stream to be cancelled' });
  });
});

describe('cancellation', () => {
  it('a client that cancels a server stream midway cancels it at the server', async () => {
    const before = server.calls.length;
    // A long stream, a message every 20 ms: the server is still sending when the client cancels.
    const call = client.ServerStream({ text: 'tick', count: 100_000, delay_ms: 20 });
    const got: EchoReply[] = [];
    call.on('data', (m: EchoReply) => got.push(m));
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('error', () => {});
    await waitFor(() => got.length >= 5, { message: 'five messages streamed before the end of the call' });
    call.cancel();
    expect((await status).code).toBe(grpc.status.CANCELLED);
    const record = server.calls[before]!;
    expect(record.method).toBe('ServerStream');
    await waitFor(() => record.cancelled, { message: 'the server to see the stream cancelled' });
    expect(record.finished).toBe(false);
  });
});
