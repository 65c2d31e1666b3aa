/**
 * gRPC in Pillion's metrics and access log: responses are counted by grpc-status name per listener
 * (from the trailers, or the head of a trailers-only answer, or the proxy's own answer), HTTP/2
 * streams per listener and per cluster, and each call's access-log line carries its grpc_status.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, echoClient, startEchoServer, unary, type EchoClient, type EchoServer } from '../helpers/grpc-servers.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
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
    access_log: { enabled: true },
    listeners: [{ name: 'counted', protocol: 'http', codec: 'h2c', port: listen, routes: [{ match: { prefix: '/pillion.test.Echo/' }, cluster: 'echo' }] }],
    clusters: [{ name: 'echo', protocol: 'h2c', endpoints: [{ address: '127.0.0.1', port: server.port }] }],
  });
  client = echoClient(`127.0.0.1:${listen}`);
});

afterAll(async () => {
  client?.close();
  await pillion?.stop();
  await server?.close();
});

/** The access-log lines of HTTP exchanges on one listener. */
function accessLines(listener: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of pillion.output().split('\n')) {
    if (!line.startsWith('{') || !line.includes(`"listener":"${listener}"`) || !line.includes('"method"')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut by the reader; the next read has it whole
    }
  }
  return out;
}

describe('gRPC in metrics and the access log', () => {
  it('counts responses by grpc-status and HTTP/2 streams; logs grpc_status', async () => {
    for (let i = 0; i < 3; i++) expect((await unary(client, { text: `ok ${i}` })).error).toBeUndefined();
    for (let i = 0; i < 2; i++) expect((await unary(client, { text: 'gone', fail_code: grpc.status.NOT_FOUND })).error?.code).toBe(grpc.status.NOT_FOUND);
    // A status in trailers after messages counts the same.
    const stream = await collect(client.ServerStream({ text: 'bad', count: 2, fail_code: grpc.status.INVALID_ARGUMENT }));
    expect(stream.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    // The proxy's own answer (no route) is counted by the status it sent.
    const unrouted = await new Promise<grpc.ServiceError | null>((resolve) =>
      client.makeUnaryRequest('/pillion.test.Unrouted/Call', (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), (e) => resolve(e)),
    );
    expect(unrouted?.code).toBe(grpc.status.UNIMPLEMENTED);

    const text = await waitFor(
      async () => {
        const t = await pillion.metrics();
        return metric(t, 'pillion_grpc_responses_total', { listener: 'counted', grpc_status: 'UNIMPLEMENTED' }) === 1 && t;
      },
      { message: 'the gRPC responses to be counted' },
    );
    expect(metric(text, 'pillion_grpc_responses_total', { listener: 'counted', grpc_status: 'OK' })).toBe(3);
    expect(metric(text, 'pillion_grpc_responses_total', { listener: 'counted', grpc_status: 'NOT_FOUND' })).toBe(2);
    expect(metric(text, 'pillion_grpc_responses_total', { listener: 'counted', grpc_status: 'INVALID_ARGUMENT' })).toBe(1);
    expect(metric(text, 'pillion_grpc_responses_total', { listener: 'counted', grpc_status: 'MISSING' })).toBeUndefined();
    expect(metric(text, 'pillion_h2_streams_total', { listener: 'counted' })).toBe(7);
    expect(metric(text, 'pillion_upstream_h2_streams_total', { cluster: 'echo' })).toBe(6);

    const lines = await waitFor(() => {
      const l = accessLines('counted');
      return l.length >= 7 && l;
    }, { timeoutMs: 3000, message: 'seven access-log lines' });
    const unaryLines = lines.filter((l) => l.path === '/pillion.test.Echo/Unary');
    expect(unaryLines.map((l) => l.grpc_status)).toEqual(['OK', 'OK', 'OK', 'NOT_FOUND', 'NOT_FOUND']);
    expect(unaryLines[0]).toMatchObject({ method: 'POST', status: 200, cluster: 'echo' });
    expect(lines.find((l) => l.path === '/pillion.test.Echo/ServerStream')?.grpc_status).toBe('INVALID_ARGUMENT');
    expect(lines.find((l) => l.path === '/pillion.test.Unrouted/Call')).toMatchObject({ status: 200, grpc_status: 'UNIMPLEMENTED' });
  });
});
