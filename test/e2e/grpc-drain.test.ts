/**
 * A drain with gRPC calls in flight: the calls finish with their real status. An HTTP/2 stream
 * outlives its exchange (the trailers go out after the exchange has handed them over), so the worker
 * must wait for the streams, not only the exchanges, before it closes its connections; otherwise a
 * call that succeeded reaches the client as UNAVAILABLE ("Connection dropped").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, echoClient, startEchoServer, unary, type EchoClient, type EchoServer } from '../helpers/grpc-servers.js';
import { startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freePorts } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait-for.js';

let pillion: PillionProcess;
let server: EchoServer;
let client: EchoClient;

beforeAll(async () => {
  server = await startEchoServer({ name: 'echo' });
  const [listen, admin] = await freePorts(2);
  pillion = await startPillion({
    workers: 1,
    admin: { port: admin! },
    access_log: { enabled: false },
    drain_timeout: '20s',
    listeners: [{ name: 'grpc', protocol: 'http', codec: 'h2c', port: listen!, routes: [{ match: { prefix: '/' }, cluster: 'echo' }] }],
    clusters: [{ name: 'echo', protocol: 'h2c', endpoints: [{ address: '127.0.0.1', port: server.port }] }],
  });
  client = echoClient(`127.0.0.1:${listen}`);
});

afterAll(async () => {
  client?.close();
  await pillion?.stop();
  await server?.close();
});

describe('drain with gRPC calls in flight', () => {
  it('a server stream and a unary call in flight end with their own status and every message', async () => {
    const stream = collect(client.ServerStream({ text: 's', count: 8, delay_ms: 150 }));
    const call = unary(client, { text: 'u', delay_ms: 600 });
    await waitFor(() => server.calls.length === 2, { message: 'both calls at the server' });
    expect((await fetch(`${pillion.adminUrl}/drain`, { method: 'POST' })).status).toBe(202);
    const [s, u] = await Promise.all([stream, call]);
    expect(s.error).toBeUndefined();
    expect(s.result!.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(u.error).toBeUndefined();
    expect(u.result!.text).toBe('u');
    await waitFor(() => pillion.output().includes('"msg":"drained"'), { message: 'the drain to finish' });
  });
});
