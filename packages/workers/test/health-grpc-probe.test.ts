/**
 * The gRPC health check against real servers on 127.0.0.1: a @grpc/grpc-js server implementing
 * grpc.health.v1.Health from its .proto (SERVING and NOT_SERVING on demand, an unknown service, a call
 * that never answers), over h2c and over TLS (h2 and auto, with the cluster's certificates); a raw
 * node:http2 server for the answers grpc-js never gives (no grpc-status, a non-200 status, a reset);
 * and the checker, which flips an endpoint's health when the service's status changes. Every check
 * closes its session: the raw server sees each one go.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createH2Server, constants as h2, type Http2Server, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HEALTH_ACTIVE_FAILED, HEALTH_UNKNOWN, SharedState, type ClusterTlsConfig, type Config } from '@pillion/core';
import { HealthChecker, probeSpecOf } from '../src/supervisor/health-checker.js';
import { runProbe, type GrpcProbe } from '../src/supervisor/health-probe.js';
import { frameGrpcMessage } from '../src/supervisor/grpc-health-wire.js';
import type { RuntimeSnapshot } from '../src/messages.js';
import { ClusterTls } from '../src/worker/worker-tls.js';
import { createPki, type Pem, type TestPki } from '../../../test/helpers/certs.js';
import { waitFor } from '../../../test/helpers/wait-for.js';

const HEALTH_PROTO = `
syntax = "proto3";
package grpc.health.v1;
message HealthCheckRequest { string service = 1; }
message HealthCheckResponse {
  enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
  ServingStatus status = 1;
}
service Health { rpc Check(HealthCheckRequest) returns (HealthCheckResponse); }
`;

type Serving = 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

/** A grpc-js health service: `statuses` answers Check, an unlisted service is NOT_FOUND, 'hang' never answers. */
class HealthService {
  readonly statuses = new Map<string, Serving>([['', 'SERVING']]);
  /** What each call asked, with the :authority it came with and whether it carried a deadline. */
  readonly calls: { service: string; authority: string; deadline: boolean }[] = [];
  readonly server = new grpc.Server();
  port = 0;

  constructor(definition: grpc.ServiceDefinition) {
    this.server.addService(definition, {
      Check: (call: grpc.ServerUnaryCall<{ service: string }, { status: Serving }>, callback: grpc.sendUnaryData<{ status: Serving }>) => {
        const service = call.request.service;
        this.calls.push({ service, authority: call.getHost(), deadline: call.getDeadline() !== Infinity });
        if (service === 'hang') return;
        const status = this.statuses.get(service);
        if (status === undefined) callback({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
        else callback(null, { status });
      },
    });
  }

  async start(credentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
    this.port = await new Promise<number>((resolve, reject) => this.server.bindAsync('127.0.0.1:0', credentials, (e, port) => (e ? reject(e) : resolve(port))));
    return this.port;
  }
}

let pki: TestPki;
let serverPem: Pem;
let roguePem: Pem;
let clientPem: Pem;
let healthDefinition: grpc.ServiceDefinition;
const started: HealthService[] = [];

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pillion-health-proto-'));
  try {
    writeFileSync(join(dir, 'health.proto'), HEALTH_PROTO);
    const pkg = grpc.loadPackageDefinition(loadSync(join(dir, 'health.proto'), { enums: String, defaults: true })) as unknown as {
      grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
    };
    healthDefinition = pkg.grpc.health.v1.Health.service;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  pki = await createPki();
  serverPem = await pki.leaf({ dns: ['api.internal'], ips: ['127.0.0.1'], usage: 'server' });
  roguePem = await pki.leaf({ dns: ['api.internal'], ips: ['127.0.0.1'], issuer: 'rogue', usage: 'server' });
  clientPem = await pki.leaf({ cn: 'web', uris: ['spiffe://cluster.local/ns/default/sa/web'], usage: 'client' });
});

afterAll(() => {
  for (const s of started.splice(0)) s.server.forceShutdown();
});

async function healthServer(credentials?: grpc.ServerCredentials): Promise<HealthService> {
  const s = new HealthService(healthDefinition);
  started.push(s);
  await s.start(credentials);
  return s;
}

const tlsCredentials = (pem: Pem, requireClient = false) =>
  grpc.ServerCredentials.createSsl(Buffer.from(pki.ca.cert), [{ cert_chain: Buffer.from(pem.cert), private_key: Buffer.from(pem.key) }], requireClient);

function clusterTls(config: Partial<ClusterTlsConfig> = {}, cert?: Pem): ClusterTls {
  const c = { min_version: 'TLSv1.2', alpn: [], ca_file: 'ca.pem', ...config } as ClusterTlsConfig;
  const t = new ClusterTls('c', c);
  t.update(c, { ca: pki.ca.cert, cert: cert?.cert ?? null, key: cert?.key ?? null });
  return t;
}

const grpcSpec = (service: string, o: Partial<GrpcProbe> = {}): GrpcProbe => ({ kind: 'grpc', service, authority: undefined, protocol: 'h2c', ...o });

describe('gRPC check over h2c against grpc-js', () => {
  it('passes while the service is SERVING and fails once it is NOT_SERVING', async () => {
    const s = await healthServer();
    s.statuses.set('echo.Echo', 'SERVING');
    expect(await runProbe(grpcSpec('echo.Echo'), '127.0.0.1', s.port, 2000)).toEqual({ ok: true, detail: 'SERVING' });
    s.statuses.set('echo.Echo', 'NOT_SERVING');
    expect(await runProbe(grpcSpec('echo.Echo'), '127.0.0.1', s.port, 2000)).toEqual({ ok: false, detail: 'NOT_SERVING' });
    s.statuses.set('echo.Echo', 'SERVICE_UNKNOWN');
    expect(await runProbe(grpcSpec('echo.Echo'), '127.0.0.1', s.port, 2000)).toEqual({ ok: false, detail: 'SERVICE_UNKNOWN' });
  });

  it("asks about the server as a whole with '', sends the authority and a deadline", async () => {
    const s = await healthServer();
    expect(await runProbe(grpcSpec(''), '127.0.0.1', s.port, 2000)).toEqual({ ok: true, detail: 'SERVING' });
    expect(await runProbe(grpcSpec('', { authority: 'echo.internal' }), '127.0.0.1', s.port, 2000)).toEqual({ ok: true, detail: 'SERVING' });
    expect(s.calls).toEqual([
      { service: '', authority: `127.0.0.1:${s.port}`, deadline: true },
      { service: '', authority: 'echo.internal', deadline: true },
    ]);
  });

  it('fails on an unknown service with the gRPC status the server sent', async () => {
    const s = await healthServer();
    expect(await runProbe(grpcSpec('no.Such'), '127.0.0.1', s.port, 2000)).toEqual({ ok: false, detail: 'grpc-status 5 NOT_FOUND: unknown service' });
  });

  it('fails at the timeout when the call is never answered', async () => {
    const s = await healthServer();
    expect(await runProbe(grpcSpec('hang'), '127.0.0.1', s.port, 200)).toEqual({ ok: false, detail: 'timeout after 200ms' });
    expect(s.calls.map((c) => c.service)).toEqual(['hang']);
  });

  it('fails when nothing listens', async () => {
    const s = await healthServer();
    const port = s.port;
    s.server.forceShutdown();
    const r = await runProbe(grpcSpec(''), '127.0.0.1', port, 2000);
    expect(r).toEqual({ ok: false, detail: `ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:${port}` });
  });
});

describe('gRPC check over TLS against grpc-js', () => {
  it('h2 and auto both speak h2 with the cluster TLS', async () => {
    const s = await healthServer(tlsCredentials(serverPem));
    const tls = clusterTls();
    expect(await runProbe(grpcSpec('', { protocol: 'h2', tls }), '127.0.0.1', s.port, 2000)).toEqual({ ok: true, detail: 'SERVING' });
    expect(await runProbe(grpcSpec('', { protocol: 'auto', tls }), '127.0.0.1', s.port, 2000)).toEqual({ ok: true, detail: 'SERVING' });
    s.statuses.set('', 'NOT_SERVING');
    expect(await runProbe(grpcSpec('', { protocol: 'h2', tls }), '127.0.0.1', s.port, 2000)).toEqual({ ok: false, detail: 'NOT_SERVING' });
  });

  it('fails on a certificate the cluster refuses, naming the reason', async () => {
    const s = await healthServer(tlsCredentials(roguePem));
    expect(await runProbe(grpcSpec('', { protocol: 'h2', tls: clusterTls() }), '127.0.0.1', s.port, 2000)).toEqual({
      ok: false,
      detail: 'tls: unable to verify the first certificate',
    });
  });

  it('presents the client certificate; without one the endpoint refuses it', async () => {
    const s = await healthServer(tlsCredentials(serverPem, true));
    const withCert = clusterTls({ cert_file: 'c.pem', key_file: 'c.key' }, clientPem);
    expect(await runProbe(grpcSpec('', { protocol: 'h2', tls: withCert }), '127.0.0.1', s.port, 2000)).toEqual({ ok: true, detail: 'SERVING' });
    expect(await runProbe(grpcSpec('', { protocol: 'h2', tls: clusterTls() }), '127.0.0.1', s.port, 2000)).toEqual({
      ok: false,
      detail: 'tls: tlsv13 alert certificate required',
    });
  });

  it('h2 without TLS material fails rather than fall back to cleartext', async () => {
    expect(await runProbe(grpcSpec('', { protocol: 'h2' }), '127.0.0.1', 1, 2000)).toEqual({ ok: false, detail: 'no TLS material is loaded for the cluster' });
  });
});

describe('gRPC check against answers grpc-js does not give (raw node:http2)', () => {
  type Answer = (stream: ServerHttp2Stream) => void;
  let server: Http2Server;
  let port = 0;
  let answer: Answer = () => {};
  const sessions = new Set<ServerHttp2Session>();

  beforeAll(async () => {
    server = createH2Server();
    server.on('session', (s) => {
      sessions.add(s);
      s.on('close', () => sessions.delete(s));
      s.on('error', () => {});
    });
    server.on('stream', (stream) => {
      stream.on('error', () => {});
      // The request is read to its end first, as a gRPC server would.
      stream.resume();
      stream.on('end', () => answer(stream));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  // Whatever way a check ended, its session is gone.
  afterEach(() => waitFor(() => sessions.size === 0, { message: 'every check session to close' }));

  const serving = frameGrpcMessage(Buffer.from([0x08, 0x01]));
  const grpcHead = { ':status': 200, 'content-type': 'application/grpc' };

  it.each<[string, Answer, { ok: boolean; detail: string }]>([
    [
      'SERVING with trailers',
      (st) => {
        st.respond(grpcHead, { waitForTrailers: true });
        st.on('wantTrailers', () => st.sendTrailers({ 'grpc-status': '0' }));
        st.end(serving);
      },
      { ok: true, detail: 'SERVING' },
    ],
    [
      'SERVING without any grpc-status',
      (st) => {
        st.respond(grpcHead);
        st.end(serving);
      },
      { ok: false, detail: 'no grpc-status' },
    ],
    [
      'a non-200 :status',
      (st) => {
        st.respond({ ':status': 503 });
        st.end();
      },
      { ok: false, detail: 'status 503' },
    ],
    [
      'a trailers-only UNAVAILABLE',
      (st) => {
        st.respond({ ...grpcHead, 'grpc-status': '14', 'grpc-message': 'draining' }, { endStream: true });
      },
      { ok: false, detail: 'grpc-status 14 UNAVAILABLE: draining' },
    ],
    ['a reset stream', (st) => st.close(h2.NGHTTP2_INTERNAL_ERROR), { ok: false, detail: 'stream reset: INTERNAL_ERROR' }],
    ['a refused stream', (st) => st.close(h2.NGHTTP2_REFUSED_STREAM), { ok: false, detail: 'stream reset: REFUSED_STREAM' }],
    [
      'a response too large to be a HealthCheckResponse',
      (st) => {
        st.respond(grpcHead);
        st.end(frameGrpcMessage(Buffer.alloc(8192)));
      },
      { ok: false, detail: 'response body over 4101 bytes: not a HealthCheckResponse' },
    ],
    ['no answer (timeout)', () => {}, { ok: false, detail: 'timeout after 200ms' }],
  ])('%s', async (_name, a, expected) => {
    answer = a;
    expect(await runProbe(grpcSpec(''), '127.0.0.1', port, 200)).toEqual(expected);
  });

  it('a session the server destroys fails the check', async () => {
    answer = (st) => st.session?.destroy();
    expect(await runProbe(grpcSpec(''), '127.0.0.1', port, 2000)).toMatchObject({ ok: false });
  });
});

describe('the checker with a gRPC check', () => {
  it('marks the endpoint unhealthy when the service turns NOT_SERVING, and healthy again when it is back', async () => {
    const s = await healthServer();
    s.statuses.set('echo.Echo', 'SERVING');
    const state = SharedState.create({ maxClusters: 1, maxEndpoints: 1, maxListeners: 1, maxThreads: 1 });
    const checker = new HealthChecker(state, pino({ level: 'silent' }));
    const hc = { grpc: { service: 'echo.Echo' }, interval: 20, timeout: 2000, jitter: 0, healthy_threshold: 1, unhealthy_threshold: 1 };
    const snapshot = {
      generation: 1,
      config: {} as Config,
      listenerSlots: {},
      clusters: [
        {
          name: 'c',
          slot: 0,
          config: { name: 'c', protocol: 'h2c', health_check: hc },
          endpoints: [{ slot: 0, key: `127.0.0.1:${s.port}`, address: '127.0.0.1', port: s.port, zone: '' }],
        },
      ],
    } as unknown as RuntimeSnapshot;
    const health = () => state.endpoint(0, 'health') & (HEALTH_ACTIVE_FAILED | HEALTH_UNKNOWN);
    try {
      await checker.sync(snapshot);
      expect(health()).toBe(0);
      s.statuses.set('echo.Echo', 'NOT_SERVING');
      await waitFor(() => health() === HEALTH_ACTIVE_FAILED, { message: 'the endpoint to fail its checks' });
      s.statuses.set('echo.Echo', 'SERVING');
      await waitFor(() => health() === 0, { message: 'the endpoint to pass its checks again' });
    } finally {
      checker.close();
    }
  });

  it('builds the probe from the cluster protocol', () => {
    const base = { interval: 1000, timeout: 1000, jitter: 0, healthy_threshold: 1, unhealthy_threshold: 1 };
    const tls = clusterTls();
    expect(probeSpecOf({ ...base, grpc: { service: 's', authority: 'a' } }, undefined, 'h2c')).toEqual({ kind: 'grpc', service: 's', authority: 'a', protocol: 'h2c', tls: undefined });
    expect(probeSpecOf({ ...base, grpc: { service: '' } }, tls, 'auto')).toMatchObject({ kind: 'grpc', protocol: 'auto', tls });
    expect(probeSpecOf({ ...base, tcp: {} }, tls, 'h2')).toMatchObject({ kind: 'tcp', alpn: ['h2'] });
    expect(probeSpecOf({ ...base, tcp: {} }, tls, 'auto')).toMatchObject({ kind: 'tcp', alpn: ['h2', 'http/1.1'] });
    expect(probeSpecOf({ ...base, tcp: {} }, tls)).toMatchObject({ kind: 'tcp', alpn: undefined });
    expect(probeSpecOf({ ...base, http: { path: '/h', expected_statuses: ['200'] } }, undefined, 'h2c')).toMatchObject({ kind: 'http', path: '/h', protocol: 'h2c' });
  });
});
