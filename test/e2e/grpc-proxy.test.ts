/**
 * gRPC through Pillion, end to end: a grpc-js client talks to a grpc-js server (cleartext HTTP/2, a
 * `protocol: h2c` cluster) through an HTTP listener with `codec: h2c` and through a TLS listener whose
 * client picks h2 by ALPN. Every call type works on both: unary, server streaming, client streaming
 * and bidirectional streaming that is not buffered (each reply arrives before the next request is
 * sent), 1 MiB messages both ways, metadata both ways (request metadata upstream, response initial
 * metadata and trailers down), and statuses with their messages, sent trailers-only before any message
 * or in trailers after some, and kept in that form by the proxy.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, writePem, type TestPki } from '../helpers/certs.js';
import {
  clientStream,
  collect,
  echoClient,
  grpcFrame,
  grpcReplies,
  rawGrpc,
  startEchoServer,
  unary,
  type EchoClient,
  type EchoReply,
  type EchoServer,
} from '../helpers/grpc-servers.js';
import { startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freePorts } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait-for.js';

let pillion: PillionProcess;
let server: EchoServer;
let pki: TestPki;
const ports = { h2c: 0, tls: 0 };
const clients: grpc.Client[] = [];

beforeAll(async () => {
  pki = await createPki();
  const dir = mkdtempSync(join(tmpdir(), 'pillion-grpc-'));
  const cert = writePem(dir, 'server', await pki.leaf({ cn: 'grpc.test', dns: ['localhost'], ips: ['127.0.0.1'], usage: 'server' }));
  server = await startEchoServer({ name: 'echo' });
  const [h2c, tls, admin] = await freePorts(3);
  ports.h2c = h2c!;
  ports.tls = tls!;
  const routes = [{ match: { prefix: '/' }, cluster: 'echo' }];
  pillion = await startPillion({
    workers: 2,
    admin: { port: admin! },
    access_log: { enabled: false },
    listeners: [
      { name: 'h2c', protocol: 'http', codec: 'h2c', port: h2c, routes },
      { name: 'tls', protocol: 'http', port: tls, routes, tls: { certificates: [cert] } },
    ],
    clusters: [{ name: 'echo', protocol: 'h2c', endpoints: [{ address: '127.0.0.1', port: server.port }] }],
  });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await pillion?.stop();
  await server?.close();
});

const MiB = 1024 * 1024;

/** A byte pattern that a truncated, shifted or reordered copy cannot match. */
function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

const listeners = [
  { via: 'an h2c listener', listener: 'h2c' as const },
  { via: 'a TLS listener (ALPN h2)', listener: 'tls' as const },
];

describe.each(listeners)('through $via', ({ listener }) => {
  let client: EchoClient;
  beforeAll(() => {
    const port = ports[listener];
    client =
      listener === 'h2c'
        ? echoClient(`127.0.0.1:${port}`)
        : echoClient(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(pki.ca.cert)));
    clients.push(client);
  });

  it('unary', async () => {
    const out = await unary(client, { text: `hello over ${listener}` });
    expect(out.error).toBeUndefined();
    expect(out.result).toMatchObject({ text: `hello over ${listener}`, server: 'echo' });
    expect(server.calls.at(-1)).toMatchObject({ method: 'Unary', cancelled: false, finished: true });
  });

  it('server streaming: 50 messages in order', async () => {
    const out = await collect(client.ServerStream({ text: 'tick', count: 50 }));
    expect(out.error).toBeUndefined();
    expect(out.status.code).toBe(grpc.status.OK);
    expect(out.result!.map((m) => m.index)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(out.result!.every((m) => m.text === 'tick')).toBe(true);
  });

  it('client streaming: 40 messages reach the server in order', async () => {
    const texts = Array.from({ length: 40 }, (_, i) => `m${i}`);
    const out = await clientStream(
      client,
      texts.map((text) => ({ text })),
    );
    expect(out.error).toBeUndefined();
    expect(out.result).toMatchObject({ index: 40, text: texts.join(','), server: 'echo' });
  });

  it('bidi streaming is interleaved: each reply arrives before the next request is sent', async () => {
    const call = client.Bidi();
    const replies: EchoReply[] = [];
    call.on('data', (m: EchoReply) => replies.push(m));
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('error', () => {});
    for (let i = 0; i < 20; i++) {
      call.write({ text: `ping ${i}` });
      // Only this request has been sent: a proxy that held the request body (or the response) until
      // the stream ended would never deliver this reply.
      const reply = await waitFor(() => replies[i], { timeoutMs: 5000, message: `the reply to ping ${i} while the call stays open` });
      expect(reply).toMatchObject({ text: `ping ${i}`, index: i });
    }
    call.end();
    expect((await status).code).toBe(grpc.status.OK);
    expect(replies.length).toBe(20);
  });

  it('1 MiB messages both ways (unary, and a server stream of 8 MiB)', async () => {
    const big = pattern(MiB, 7);
    const out = await unary(client, { text: 'big', payload: big });
    expect(out.error).toBeUndefined();
    expect(out.result!.payload.length).toBe(MiB);
    expect(out.result!.payload.equals(big)).toBe(true);

    const stream = await collect(client.ServerStream({ text: 'big', payload: big, count: 8 }));
    expect(stream.error).toBeUndefined();
    expect(stream.result!.length).toBe(8);
    expect(stream.result!.every((m) => m.payload.equals(big))).toBe(true);

    const up = await clientStream(client, [{ payload: pattern(MiB, 1) }, { payload: pattern(MiB, 2) }]);
    expect(up.error).toBeUndefined();
    expect(up.result!.payload.equals(Buffer.concat([pattern(MiB, 1), pattern(MiB, 2)]))).toBe(true);
  });

  it('metadata both ways: request metadata upstream, initial metadata and trailers back', async () => {
    const md = new grpc.Metadata();
    md.set('x-echo', 'marco');
    md.set('x-echo-bin', Buffer.from([0, 1, 2, 255]));
    md.set('x-custom', 'only-for-the-server');
    const out = await unary(client, { text: 'md' }, { metadata: md });
    expect(out.error).toBeUndefined();
    const seen = server.calls.at(-1)!.metadata;
    expect(seen.get('x-custom')).toEqual(['only-for-the-server']);
    expect(seen.get('x-echo')).toEqual(['marco']);
    expect(seen.get('x-echo-bin')).toEqual([Buffer.from([0, 1, 2, 255])]);
    expect(out.initial?.get('x-echo-initial')).toEqual(['marco']);
    expect(out.initial?.get('x-echo-initial-bin')).toEqual([Buffer.from([0, 1, 2, 255])]);
    expect(out.status.metadata.get('x-echo-trailer')).toEqual(['marco']);
    expect(out.status.metadata.get('x-echo-trailer-bin')).toEqual([Buffer.from([0, 1, 2, 255])]);

    // The same through a server stream, whose trailers follow the messages.
    const stream = await collect(client.ServerStream({ text: 's', count: 3 }, md));
    expect(stream.result!.length).toBe(3);
    expect(stream.initial?.get('x-echo-initial')).toEqual(['marco']);
    expect(stream.status.metadata.get('x-echo-trailer')).toEqual(['marco']);
  });

  describe('status codes with their messages', () => {
    it('NOT_FOUND before any message (trailers-only), unary', async () => {
      const out = await unary(client, { text: 'no such thing (ünïcödé, 100%)', fail_code: grpc.status.NOT_FOUND });
      expect(out.result).toBeUndefined();
      expect(out.error?.code).toBe(grpc.status.NOT_FOUND);
      expect(out.error?.details).toBe('no such thing (ünïcödé, 100%)');
    });

    it('INVALID_ARGUMENT before any message (trailers-only), server stream', async () => {
      const out = await collect(client.ServerStream({ text: 'bad argument', count: 0, fail_code: grpc.status.INVALID_ARGUMENT }));
      expect(out.result).toEqual([]);
      expect(out.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(out.error?.details).toBe('bad argument');
    });

    it('INVALID_ARGUMENT after three messages (trailers), server stream', async () => {
      const out = await collect(client.ServerStream({ text: 'gave up after three', count: 3, fail_code: grpc.status.INVALID_ARGUMENT }));
      expect(out.result!.map((m) => m.index)).toEqual([0, 1, 2]);
      expect(out.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(out.error?.details).toBe('gave up after three');
    });

    it('NOT_FOUND in trailers after a bidi exchange', async () => {
      const call = client.Bidi();
      const done = collect(call);
      call.write({ text: 'one' });
      call.write({ text: 'two' });
      call.write({ text: 'missing', fail_code: grpc.status.NOT_FOUND });
      call.end();
      const out = await done;
      expect(out.result!.map((m) => m.text)).toEqual(['one', 'two']);
      expect(out.error?.code).toBe(grpc.status.NOT_FOUND);
      expect(out.error?.details).toBe('missing');
    });

    it('the proxy keeps each form: grpc-status in the head when trailers-only, in trailers otherwise', async () => {
      const ca = listener === 'tls' ? pki.ca.cert : undefined;
      const port = ports[listener];
      const only = await rawGrpc(port, '/pillion.test.Echo/ServerStream', { ca, body: grpcFrame({ text: 'nope', fail_code: grpc.status.NOT_FOUND }) });
      expect(only.headers[':status']).toBe(200);
      expect(only.headers['grpc-status']).toBe('5');
      expect(only.headers['grpc-message']).toBe('nope');
      expect(only.headEndedStream).toBe(true);
      expect(only.trailers).toBeNull();
      expect(only.body.length).toBe(0);

      const normal = await rawGrpc(port, '/pillion.test.Echo/ServerStream', { ca, body: grpcFrame({ text: 'late', count: 2, fail_code: grpc.status.INVALID_ARGUMENT }) });
      expect(normal.headers[':status']).toBe(200);
      expect(normal.headEndedStream).toBe(false);
      expect(normal.headers['grpc-status']).toBeUndefined();
      expect(grpcReplies(normal.body).map((m) => m.index)).toEqual([0, 1]);
      expect(normal.trailers?.['grpc-status']).toBe('3');
      expect(normal.trailers?.['grpc-message']).toBe('late');

      const ok = await rawGrpc(port, '/pillion.test.Echo/Unary', { ca, body: grpcFrame({ text: 'fine' }) });
      expect(ok.headers['grpc-status']).toBeUndefined();
      expect(grpcReplies(ok.body)).toMatchObject([{ text: 'fine' }]);
      expect(ok.trailers?.['grpc-status']).toBe('0');
    });
  });
});
