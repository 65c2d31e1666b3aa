/**
 * One active health check against one endpoint: an HTTP GET (passing when the status is one of the
 * expected ones) or a TCP connect. Each check uses a fresh connection and resolves once, with
 * whether it passed and why not.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import type { StatusMatcher } from '@pillion/core';

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
}

export type ProbeSpec = HttpProbe | { kind: 'tcp' };

export function runProbe(spec: ProbeSpec, address: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return spec.kind === 'http' ? httpProbe(spec, address, port, timeoutMs) : tcpProbe(address, port, timeoutMs);
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
    const req = request({
      host: address,
      port,
      path: spec.path,
      method: 'GET',
      agent: false,
      headers: { host, 'user-agent': 'pillion-health-check', connection: 'close' },
    });
    const timer = setTimeout(() => done(false, `timeout after ${timeoutMs}ms`), timeoutMs);
    // The status decides; the body is not looked at, and the connection is closed at once.
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      res.on('error', () => {});
      done(spec.statuses.matches(status), `status ${status}`);
    });
    req.on('error', (e: NodeJS.ErrnoException) => done(false, `${e.code ?? 'error'}: ${e.message}`));
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
