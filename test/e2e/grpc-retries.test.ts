/**
 * Retries on gRPC statuses through Pillion: of two grpc-js endpoints one answers every call
 * UNAVAILABLE (trailers-only). A route with `retry.on: [unavailable]` sends each call that met it on
 * to the other endpoint, so every call succeeds, unary and client-streaming alike (the request body is
 * replayed); a route that retries only `reset` hands the UNAVAILABLE, with the server's own message,
 * to the client.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientStream, echoClient, startEchoServer, unary, type EchoClient, type EchoServer } from '../helpers/grpc-servers.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freePorts } from '../helpers/ports.js';

let pillion: PillionProcess;
let bad: EchoServer;
let good: EchoServer;
let retrying: EchoClient;
let plain: EchoClient;

beforeAll(async () => {
  bad = await startEchoServer({ name: 'bad', failAll: { code: grpc.status.UNAVAILABLE, details: 'always unavailable' } });
  good = await startEchoServer({ name: 'good' });
  const [l1, l2, admin] = await freePorts(3);
  const backoff = { base: '1ms', max: '5ms' };
  pillion = await startPillion({
    workers: 1,
    admin: { port: admin! },
    access_log: { enabled: false },
    listeners: [
      { name: 'retrying', protocol: 'http', codec: 'h2c', port: l1, routes: [{ match: { prefix: '/' }, cluster: 'retried', retry: { attempts: 2, on: ['unavailable'], backoff } }] },
      { name: 'plain', protocol: 'http', codec: 'h2c', port: l2, routes: [{ match: { prefix: '/' }, cluster: 'not-retried', retry: { attempts: 2, on: ['reset'], backoff } }] },
    ],
    clusters: ['retried', 'not-retried'].map((name) => ({
      name,
      protocol: 'h2c',
      endpoints: [
        { address: '127.0.0.1', port: bad.port },
        { address: '127.0.0.1', port: good.port },
      ],
    })),
  });
  retrying = echoClient(`127.0.0.1:${l1}`);
  plain = echoClient(`127.0.0.1:${l2}`);
});

afterAll(async () => {
  retrying?.close();
  plain?.close();
  await pillion?.stop();
  await bad?.close();
  await good?.close();
});

describe('retry.on gRPC statuses', () => {
  it('retry.on [unavailable]: every call succeeds, and the failing endpoint was tried', async () => {
    const bad0 = bad.calls.length;
    const good0 = good.calls.length;
    for (let i = 0; i < 20; i++) {
      const out = await unary(retrying, { text: `call ${i}` });
      expect(out.error).toBeUndefined();
      expect(out.result).toMatchObject({ text: `call ${i}`, server: 'good' });
    }
    for (let i = 0; i < 6; i++) {
      const out = await clientStream(retrying, [{ text: `a${i}` }, { text: `b${i}` }, { text: `c${i}` }]);
      expect(out.error).toBeUndefined();
      // The retried attempt got the whole request body again.
      expect(out.result).toMatchObject({ text: `a${i},b${i},c${i}`, index: 3, server: 'good' });
    }
    const badTries = bad.calls.length - bad0;
    expect(good.calls.length - good0).toBe(26);
    expect(badTries).toBeGreaterThan(0);
    expect(metric(await pillion.metrics(), 'pillion_retries_total', { cluster: 'retried' })).toBe(badTries);
  });

  it('retry.on [reset] only: UNAVAILABLE reaches the client with the server\'s message', async () => {
    const bad0 = bad.calls.length;
    const good0 = good.calls.length;
    let failed = 0;
    for (let i = 0; i < 20; i++) {
      const out = await unary(plain, { text: `call ${i}` });
      if (out.error === undefined) {
        expect(out.result?.server).toBe('good');
        continue;
      }
      failed++;
      expect(out.error.code).toBe(grpc.status.UNAVAILABLE);
      expect(out.error.details).toBe('always unavailable');
    }
    expect(failed).toBeGreaterThan(0);
    expect(failed).toBe(bad.calls.length - bad0);
    expect(20 - failed).toBe(good.calls.length - good0);
    expect(metric(await pillion.metrics(), 'pillion_retries_total', { cluster: 'not-retried' }) ?? 0).toBe(0);
  });
});
