/**
 * One active health check against one endpoint: an HTTP GET (passing when the status is one of the
 * expected ones) or a TCP connect. Each check uses a fresh connection and resolves once, with
 * whether it passed and why not.
 *
 * For a cluster with `tls` the check speaks TLS with the cluster's settings (its secure context, SNI,
 * allowed_sans or host name check, client certificate): a TCP check passes once the handshake is done
 * and the endpoint's certificate is accepted, an HTTP check sends its request over TLS. An endpoint
 * whose certificate the cluster would refuse fails its checks (`tls: self-signed certificate in chain`).
 */
import { request, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { StatusMatcher } from '@pillion/core';
import { isTlsAlert, tlsFailureReason } from '../upstream/upstream-tls.js';
import type { ClusterTls } from '../worker/worker-tls.js';

export interface ProbeResult {
  ok: boolean;
  /** Why the check failed ("status 503", "timeout after 1000ms", "connect ECONNREFUSED"). */
  detail: string;
}

export interface HttpProbe {
  kind: 'http';
  path: string;
  /** Host header; the endpoint's address:port when not given. */
  host: string | undefined;
  statuses: StatusMatcher;
  /** The cluster's TLS (its material as last loaded); unset: plaintext. */
  tls?: ClusterTls | undefined;
}

export interface TcpProbe {
  kind: 'tcp';
  tls?: ClusterTls | undefined;
}

export type ProbeSpec = HttpProbe | TcpProbe;

export function runProbe(spec: ProbeSpec, address: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  if (spec.kind === 'http') return httpProbe(spec, address, port, timeoutMs);
  return spec.tls ? tlsProbe(spec.tls, address, port, timeoutMs) : tcpProbe(address, port, timeoutMs);
}

/** A failure's detail: the TLS reason once TCP was up on a TLS check, else the socket error's code and message. */
function failureDetail(e: NodeJS.ErrnoException, tls: boolean, tcpUp: boolean): string {
  return tls && tcpUp ? tlsFailureReason(e) : `${e.code ?? 'error'}: ${e.message}`;
}

function httpProbe(spec: HttpProbe, address: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (ok: boolean, detail: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve({ ok, detail });
    };
    const host = spec.host ?? (address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`);
    const options = {
      host: address,
      port,
      path: spec.path,
      method: 'GET',
      agent: false as const,
      headers: { host, 'user-agent': 'pillion-health-check', connection: 'close' },
    };
    const tls = spec.tls;
    // servername '' (no SNI, as the pool sends to an address without `sni`): https would take it from the Host header.
    const tlsOptions = tls?.connectOptions(address);
    const req: ClientRequest = tlsOptions ? httpsRequest({ ...tlsOptions, servername: tlsOptions.servername ?? '', ...options }) : request(options);
    let tcpUp = false;
    req.once('socket', (s: Socket) => s.once('connect', () => (tcpUp = true)));
    const timer = setTimeout(() => done(false, `timeout after ${timeoutMs}ms`), timeoutMs);
    // The status decides; the body is not looked at, and the connection is closed at once.
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      res.on('error', () => {});
      done(spec.statuses.matches(status), `status ${status}`);
    });
    req.on('error', (e: NodeJS.ErrnoException) => done(false, failureDetail(e, tls !== undefined, tcpUp)));
    req.end();
  });
}

function tcpProbe(address: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    const socket = connect({ host: address, port });
    const done = (ok: boolean, detail: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok, detail });
    };
    const timer = setTimeout(() => done(false, `timeout after ${timeoutMs}ms`), timeoutMs);
    socket.once('connect', () => done(true, 'connected'));
    socket.once('error', (e: NodeJS.ErrnoException) => done(false, `${e.code ?? 'error'}: ${e.message}`));
  });
}

/**
 * A TCP check of a TLS endpoint: passes once the handshake is done and the certificate accepted. With
 * TLS 1.3 this side's handshake ends before the endpoint has checked the client certificate, so the
 * check then closes the connection (close_notify) and fails if the endpoint answers with an alert
 * instead (it refused the certificate, or the lack of one).
 */
function tlsProbe(tls: ClusterTls, address: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    let tcpUp = false;
    let secure = false;
    const socket = tlsConnect({ ...tls.connectOptions(address), host: address, port });
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
