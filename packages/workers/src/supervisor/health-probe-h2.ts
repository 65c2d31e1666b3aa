/**
 * Active health checks that speak the cluster's HTTP/2: the HTTP check of a cluster whose `protocol`
 * is h2c, h2 or auto (an h2c-only endpoint does not understand HTTP/1.1), and the gRPC check, a
 * grpc.health.v1.Health/Check call that passes when the endpoint answers SERVING.
 *
 * Like the HTTP/1.1 check, each check opens its own connection and session and destroys both when it
 * resolves: checks run one per endpoint per interval, so a kept session would save one handshake a
 * few seconds apart and would need its own liveness rules. h2c is HTTP/2 with prior knowledge; h2 and
 * auto speak TLS with the cluster's settings, h2 offering ALPN `h2` and auto `h2, http/1.1` (speaking
 * HTTP/1.1 when the endpoint picks it or picks nothing). The gRPC check offers only `h2`: gRPC has no
 * HTTP/1.1 form.
 */
import { request as h1Request } from 'node:http';
import { connect as h2Connect, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { StatusMatcher, UpstreamProtocol } from '@pillion/core';
import { isTlsAlert, tlsFailureReason } from '../upstream/upstream-tls.js';
import type { ClusterTls } from '../worker/worker-tls.js';
import { encodeHealthCheckRequest, frameGrpcMessage, healthCheckVerdict, HEALTH_CHECK_PATH, MAX_RESPONSE_BYTES } from './grpc-health-wire.js';
import { errorDetail, ProbeRun, type ProbeResult } from './probe-run.js';

/** The protocols spoken over HTTP/2 (auto: when ALPN agrees on it). */
export type H2Protocol = Exclude<UpstreamProtocol, 'http1'>;

const USER_AGENT = 'pillion-health-check';

/** What a TLS connection to a cluster of this protocol offers by ALPN; undefined: the cluster's own `tls.alpn`. */
export function alpnOf(protocol: UpstreamProtocol | undefined): string[] | undefined {
  if (protocol === 'h2') return ['h2'];
  if (protocol === 'auto') return ['h2', 'http/1.1'];
  return undefined;
}

/** An HTTP check of a cluster spoken over HTTP/2 (h2, h2c, or auto). */
export interface Http2ProbeSpec {
  path: string;
  /** :authority (Host); the endpoint's address:port when not given. */
  host: string | undefined;
  statuses: StatusMatcher;
  protocol: H2Protocol;
  tls?: ClusterTls | undefined;
  /** The name the endpoint's address was resolved from: the TLS server name and the default Host, as the address would be. */
  serverName?: string | undefined;
}

/** A gRPC health check. */
export interface GrpcProbeSpec {
  /** The service asked about; '' asks about the server as a whole. */
  service: string;
  /** :authority; the endpoint's address:port when not given. */
  authority: string | undefined;
  protocol: H2Protocol;
  tls?: ClusterTls | undefined;
  /** The name the endpoint's address was resolved from: the TLS server name and the default Host, as the address would be. */
  serverName?: string | undefined;
}

export function http2Probe(spec: Http2ProbeSpec, address: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const run = new ProbeRun(timeoutMs, resolve);
    const authority = spec.host ?? hostPort(spec.serverName ?? address, port);
    connectFor(run, spec.protocol, spec.tls, address, port, alpnOf(spec.protocol), spec.serverName ?? address, (socket, agreed) => {
      if (spec.protocol === 'auto' && agreed !== 'h2') {
        http1OnSocket(run, socket, spec.path, authority, spec.statuses);
        return;
      }
      const stream = h2Stream(run, socket, spec.protocol !== 'h2c', {
        ':method': 'GET',
        ':path': spec.path,
        ':authority': authority,
        'user-agent': USER_AGENT,
      });
      // The status decides; the body is not read, and the session is closed at once.
      stream.on('response', (headers) => {
        const status = Number(headers[':status']);
        run.done(spec.statuses.matches(status), `status ${status}`);
      });
    });
  });
}

export function grpcProbe(spec: GrpcProbeSpec, address: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const run = new ProbeRun(timeoutMs, resolve);
    connectFor(run, spec.protocol, spec.tls, address, port, ['h2'], spec.serverName ?? address, (socket) => {
      const stream = h2Stream(
        run,
        socket,
        spec.protocol !== 'h2c',
        {
          ':method': 'POST',
          ':path': HEALTH_CHECK_PATH,
          ':authority': spec.authority ?? hostPort(spec.serverName ?? address, port),
          'content-type': 'application/grpc',
          te: 'trailers',
          // The endpoint learns the check's deadline (at most 8 digits, as gRPC allows).
          'grpc-timeout': `${Math.min(Math.ceil(timeoutMs), 99_999_999)}m`,
          'user-agent': USER_AGENT,
        },
        frameGrpcMessage(encodeHealthCheckRequest(spec.service)),
      );
      let head: IncomingHttpHeaders | null = null;
      let trailers: IncomingHttpHeaders | null = null;
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('response', (headers) => {
        head = headers;
        // Not a gRPC answer at all: no need to read on.
        const status = Number(headers[':status']);
        if (status !== 200) run.done(false, `status ${status}`);
      });
      stream.on('trailers', (t) => (trailers = t));
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES + 5) run.done(false, `response body over ${MAX_RESPONSE_BYTES + 5} bytes: not a HealthCheckResponse`);
        else chunks.push(chunk);
      });
      stream.on('end', () => {
        if (head === null) run.done(false, 'stream ended without a response head');
        else {
          const r = healthCheckVerdict(head, trailers, Buffer.concat(chunks));
          run.done(r.ok, r.detail);
        }
      });
    });
  });
}

/**
 * Opens the connection a check of this protocol needs: plain TCP for h2c, TLS with the cluster's
 * settings and `alpn` for h2 and auto. `then` gets the connected socket and the protocol ALPN agreed
 * on (false: none). Failures end the check: a TLS one names its reason, as the HTTP/1.1 check does.
 */
function connectFor(
  run: ProbeRun,
  protocol: H2Protocol,
  tls: ClusterTls | undefined,
  address: string,
  port: number,
  alpn: string[] | undefined,
  serverName: string,
  then: (socket: Socket, agreed: string | false) => void,
): void {
  if (protocol === 'h2c') {
    const socket = run.own(netConnect({ host: address, port }));
    socket.once('connect', () => {
      if (!run.finished) then(socket, false);
    });
    socket.on('error', (e: NodeJS.ErrnoException) => run.done(false, errorDetail(e)));
    return;
  }
  if (tls === undefined) {
    // Cannot happen with a snapshot from the supervisor (it refuses h2/auto without tls and loads the
    // material first); fail rather than fall back to cleartext.
    run.done(false, 'no TLS material is loaded for the cluster');
    return;
  }
  let tcpUp = false;
  let secure = false;
  const socket = run.own(tlsConnect({ ...tls.connectOptions(serverName), ALPNProtocols: alpn, host: address, port }));
  socket.once('connect', () => (tcpUp = true));
  socket.once('secureConnect', () => {
    secure = true;
    if (!run.finished) then(socket, socket.alpnProtocol ?? false);
  });
  // After a TLS 1.3 handshake the endpoint may still refuse the client certificate with an alert.
  socket.on('error', (e: NodeJS.ErrnoException) => run.done(false, tcpUp && (!secure || isTlsAlert(e)) ? tlsFailureReason(e) : errorDetail(e)));
}

/** HTTP/2 error codes by value (RFC 9113 section 7), to name a reset. */
const H2_ERRORS = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
];

function resetDetail(code: number | undefined): string {
  return `stream reset: ${H2_ERRORS[code ?? 0] ?? `error code ${code}`}`;
}

/**
 * A session on `socket` (owned by the check) and one request on it. A session error, a reset stream,
 * or a stream that closes before the check decided fails the check.
 */
function h2Stream(run: ProbeRun, socket: Socket, secure: boolean, headers: OutgoingHttpHeaders, body?: Buffer): ClientHttp2Stream {
  const scheme = secure ? 'https' : 'http';
  // The URL only names the scheme: the connection is the socket already open.
  const session = run.own(h2Connect(`${scheme}://localhost`, { createConnection: () => socket, settings: { enablePush: false } }));
  session.on('error', (e: NodeJS.ErrnoException) => run.done(false, errorDetail(e)));
  const stream = session.request({ ':scheme': scheme, ...headers }, { endStream: body === undefined });
  if (body !== undefined) stream.end(body);
  stream.on('error', (e: NodeJS.ErrnoException) => run.done(false, e.code === 'ERR_HTTP2_STREAM_ERROR' ? resetDetail(stream.rstCode) : errorDetail(e)));
  stream.on('close', () => run.done(false, stream.rstCode ? resetDetail(stream.rstCode) : 'stream closed without an answer'));
  return stream;
}

/** The HTTP/1.1 form of the HTTP check on a connection already open (auto, when ALPN did not pick h2). */
function http1OnSocket(run: ProbeRun, socket: Socket, path: string, host: string, statuses: StatusMatcher): void {
  const req = run.own(
    h1Request({
      createConnection: () => socket,
      path,
      method: 'GET',
      headers: { host, 'user-agent': USER_AGENT, connection: 'close' },
    }),
  );
  req.on('response', (res) => {
    const status = res.statusCode ?? 0;
    res.on('error', () => {});
    run.done(statuses.matches(status), `status ${status}`);
  });
  req.on('error', (e: NodeJS.ErrnoException) => run.done(false, errorDetail(e)));
  req.end();
}

export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
