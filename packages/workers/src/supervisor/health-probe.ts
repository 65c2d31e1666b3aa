/**
 * One active health check against one endpoint: an HTTP GET (passing when the status is one of the
 * expected ones), a TCP connect, or a gRPC health check (grpc.health.v1.Health/Check, passing when the
 * endpoint is SERVING). Each check uses a fresh connection and resolves once, with whether it passed
 * and why not.
 *
 * For a cluster with `tls` the check speaks TLS with the cluster's settings (its secure context, SNI,
 * allowed_sans or host name check, client certificate): a TCP check passes once the handshake is done
 * and the endpoint's certificate is accepted, an HTTP check sends its request over TLS. An endpoint
 * whose certificate the cluster would refuse fails its checks (`tls: self-signed certificate in chain`).
 *
 * The HTTP check speaks the cluster's `protocol`: HTTP/1.1 here, HTTP/2 (h2c, h2, or h2 when ALPN
 * picks it for auto) and the gRPC check in health-probe-h2.ts.
 */
import { request, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { StatusMatcher, UpstreamProtocol } from '@pillion/core';
import { isTlsAlert, tlsFailureReason } from '../upstream/upstream-tls.js';
import type { ClusterTls } from '../worker/worker-tls.js';
import { grpcProbe, hostPort, http2Probe, type H2Protocol } from './health-probe-h2.js';
import { errorDetail, failureDetail, ProbeRun, type ProbeResult } from './probe-run.js';

export type { ProbeResult } from './probe-run.js';

export interface HttpProbe {
  kind: 'http';
  path: string;
  /** Host header; the endpoint's address:port when not given. */
  host: string | undefined;
  statuses: StatusMatcher;
  /** The cluster's TLS (its material as last loaded); unset: plaintext. */
  tls?: ClusterTls | undefined;
  /** The cluster's protocol, which the request is spoken in; unset: http1. */
  protocol?: UpstreamProtocol | undefined;
  /** The name the endpoint's address was resolved from: the TLS server name and the default Host, as the address would be. */
  serverName?: string | undefined;
}

export interface TcpProbe {
  kind: 'tcp';
  tls?: ClusterTls | undefined;
  /** ALPN offered in the TLS handshake, as the cluster's connections offer it; unset: the cluster's `tls.alpn`. */
  alpn?: string[] | undefined;
  /** The name the endpoint's address was resolved from: the TLS server name and the default Host, as the address would be. */
  serverName?: string | undefined;
}

export interface GrpcProbe {
  kind: 'grpc';
  /** The service asked about; '' asks about the server as a whole. */
  service: string;
  /** :authority; the endpoint's address:port when not given. */
  authority: string | undefined;
  protocol: H2Protocol;
  tls?: ClusterTls | undefined;
  /** The name the endpoint's address was resolved from: the TLS server name and the default Host, as the address would be. */
  serverName?: string | undefined;
}

export type ProbeSpec = HttpProbe | TcpProbe | GrpcProbe;

export function runProbe(spec: ProbeSpec, address: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  if (spec.kind === 'grpc') return grpcProbe(spec, address, port, timeoutMs);
  if (spec.kind === 'http') {
    const protocol = spec.protocol ?? 'http1';
    return protocol === 'http1' ? httpProbe(spec, address, port, timeoutMs) : http2Probe({ ...spec, protocol }, address, port, timeoutMs);
  }
  return spec.tls ? tlsProbe(spec.tls, spec.alpn, address, port, timeoutMs, spec.serverName ?? address) : tcpProbe(address, port, timeoutMs);
}

function httpProbe(spec: HttpProbe, address: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const run = new ProbeRun(timeoutMs, resolve);
    const options = {
      host: address,
      port,
      path: spec.path,
      method: 'GET',
      agent: false as const,
      headers: { host: spec.host ?? hostPort(spec.serverName ?? address, port), 'user-agent': 'pillion-health-check', connection: 'close' },
    };
    const tls = spec.tls;
    // servername '' (no SNI, as the pool sends to an address without `sni`): https would take it from the Host header.
    const tlsOptions = tls?.connectOptions(spec.serverName ?? address);
    const req: ClientRequest = run.own(tlsOptions ? httpsRequest({ ...tlsOptions, servername: tlsOptions.servername ?? '', ...options }) : request(options));
    let tcpUp = false;
    req.once('socket', (s: Socket) => s.once('connect', () => (tcpUp = true)));
    // The status decides; the body is not looked at, and the connection is closed at once.
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      res.on('error', () => {});
      run.done(spec.statuses.matches(status), `status ${status}`);
    });
    req.on('error', (e: NodeJS.ErrnoException) => run.done(false, failureDetail(e, tls !== undefined, tcpUp)));
    req.end();
  });
}

function tcpProbe(address: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const run = new ProbeRun(timeoutMs, resolve);
    const socket = run.own(connect({ host: address, port }));
    socket.once('connect', () => run.done(true, 'connected'));
    socket.once('error', (e: NodeJS.ErrnoException) => run.done(false, errorDetail(e)));
  });
}

/**
 * A TCP check of a TLS endpoint: passes once the handshake is done and the certificate accepted. With
 * TLS 1.3 this side's handshake ends before the endpoint has checked the client certificate, so the
 * check then closes the connection (close_notify) and fails if the endpoint answers with an alert
 * instead (it refused the certificate, or the lack of one).
 */
function tlsProbe(tls: ClusterTls, alpn: string[] | undefined, address: string, port: number, timeoutMs: number, serverName: string): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    let tcpUp = false;
    let secure = false;
    const options = tls.connectOptions(serverName);
    const socket = tlsConnect({ ...options, ALPNProtocols: alpn ?? options.ALPNProtocols, host: address, port });
    const done = (ok: boolean, detail: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok, detail });
    };
    const timer = setTimeout(() => {
      if (secure) done(true, 'handshake done');
      else done(false, tcpUp ? `tls: handshake not done after ${timeoutMs}ms` : `timeout after ${timeoutMs}ms`);
    }, timeoutMs);
    socket.once('connect', () => (tcpUp = true));
    socket.once('secureConnect', () => {
      secure = true;
      if (socket.getProtocol() !== 'TLSv1.3') done(true, 'handshake done');
      else socket.end();
    });
    socket.on('data', () => {});
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (!secure) done(false, failureDetail(e, true, tcpUp));
      else if (isTlsAlert(e)) done(false, tlsFailureReason(e));
      else done(true, 'handshake done');
    });
    socket.once('close', () => {
      if (secure) done(true, 'handshake done');
      else done(false, tcpUp ? 'tls: connection closed during the handshake' : 'connection closed');
    });
  });
}
