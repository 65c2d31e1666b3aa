/**
 * The answers Pillion makes itself to gRPC requests are gRPC answers (HTTP 200, content-type
 * application/grpc, grpc-status and grpc-message in one HEADERS frame), not plain-text HTTP errors:
 * no healthy endpoint is UNAVAILABLE, no route is UNIMPLEMENTED, a full max_requests circuit breaker
 * is UNAVAILABLE with `x-pillion-overloaded` in the metadata. A grpc-js client would turn an HTTP 503
 * into UNAVAILABLE by itself, so each case also checks the message, which only the proxy's answer has,
 * and the raw response.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoClient, grpcFrame, rawGrpc, startEchoServer, unary, type EchoClient, type EchoServer } from '../helpers/grpc-servers.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freePorts } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait-for.js';

let pillion: PillionProcess;
let server: EchoServer;
const port = { dead: 0, main: 0 };
let dead: EchoClient;
let main: EchoClient;

beforeAll(async () => {
  server = await startEchoServer({ name: 'echo' });
  const [closed, deadPort, mainPort, admin] = await freePorts(4);
  port.dead = deadPort!;
  port.main = mainPort!;
  pillion = await startPillion({
    workers: 1,
    admin: { port: admin! },
    access_log: { enabled: false },
    listeners: [
      { name: 'dead', protocol: 'http', codec: 'h2c', port: deadPort, routes: [{ match: { prefix: '/' }, cluster: 'dead' }] },
      { name: 'main', protocol: 'http', codec: 'h2c', port: mainPort, routes: [{ match: { prefix: '/pillion.test.Echo/' }, cluster: 'held' }] },
    ],
    clusters: [
      // Nothing listens on this port.
      { name: 'dead', protocol: 'h2c', endpoints: [{ address: '127.0.0.1', port: closed }] },
      { name: 'held', protocol: 'h2c', endpoints: [{ address: '127.0.0.1', port: server.port }], circuit_breaker: { max_requests: 1 } },
    ],
  });
  dead = echoClient(`127.0.0.1:${port.dead}`);
  main = echoClient(`127.0.0.1:${port.main}`);
});

afterAll(async () => {
  dead?.close();
  main?.close();
  await pillion?.stop();
  await server?.close();
});

describe('proxy-made answers to gRPC requests are gRPC statuses', () => {
  it('no endpoint to reach: UNAVAILABLE with the reason', async () => {
    const out = await unary(dead, { text: 'anyone?' });
    expect(out.error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(out.error?.details).toMatch(/upstream/);
    expect(out.error?.details).not.toMatch(/HTTP status/);

    const raw = await rawGrpc(port.dead, '/pillion.test.Echo/Unary', { body: grpcFrame({ text: 'anyone?' }) });
    expect(raw.headers[':status']).toBe(200);
    expect(raw.headers['content-type']).toBe('application/grpc');
    expect(raw.headers['grpc-status']).toBe(String(grpc.status.UNAVAILABLE));
    expect(raw.headers['grpc-message']).toBe(out.error?.details);
    expect(raw.headEndedStream).toBe(true);
    expect(raw.trailers).toBeNull();
    expect(raw.body.length).toBe(0);
  });

  it('no route: UNIMPLEMENTED', async () => {
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      main.makeUnaryRequest(
        '/pillion.test.Unrouted/Call',
        (x: Buffer) => x,
        (x: Buffer) => x,
        Buffer.alloc(0),
        (e) => resolve(e),
      ),
    );
    expect(err?.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(err?.details).toMatch(/no route/);

    const raw = await rawGrpc(port.main, '/pillion.test.Unrouted/Call');
    expect(raw.headers[':status']).toBe(200);
    expect(raw.headers['grpc-status']).toBe(String(grpc.status.UNIMPLEMENTED));
    expect(raw.headers.server).toBe('pillion');
    expect(raw.headEndedStream).toBe(true);
    expect(raw.body.length).toBe(0);
  });

  it('circuit breaker max_requests: UNAVAILABLE with x-pillion-overloaded in the metadata', async () => {
    const before = server.calls.length;
    // One call held at the server fills the cluster's max_requests: 1.
    const holding = main.Unary({ text: 'hold', delay_ms: 20_000 }, new grpc.Metadata(), {}, () => {});
    const holdStatus = new Promise<grpc.StatusObject>((resolve) => holding.on('status', resolve));
    await waitFor(() => server.calls.length > before, { message: 'the first call held at the server' });

    const out = await unary(main, { text: 'one too many' });
    expect(out.error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(out.error?.details).toMatch(/max_requests/);
    // Trailers-only: the head's fields are the status's metadata.
    expect(out.status.metadata.get('x-pillion-overloaded')).toEqual(['true']);
    expect(server.calls.length).toBe(before + 1);
    expect(metric(await pillion.metrics(), 'pillion_circuit_breaker_rejections_total', { cluster: 'held', limit: 'max_requests' })).toBe(1);

    holding.cancel();
    expect((await holdStatus).code).toBe(grpc.status.CANCELLED);
    // With the held call gone, the next one goes through.
    await waitFor(() => server.calls[before]!.cancelled, { message: 'the held call cancelled at the server' });
    const after = await unary(main, { text: 'room again' });
    expect(after.error).toBeUndefined();
    expect(after.result?.text).toBe('room again');
  });
});
