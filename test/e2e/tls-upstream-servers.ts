/**
 * TLS upstreams for the end-to-end tests of clusters with `tls`: an HTTPS server that counts its TCP
 * connections, handshakes (and resumed ones) and requests and answers with the client certificate's
 * URI SAN, and a TLS echo server for TCP clusters. Certificates come from test/helpers/certs.ts.
 */
import { createHash } from 'node:crypto';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Pem } from '../helpers/certs.js';

export interface HttpsUpstream {
  readonly name: string;
  readonly port: number;
  /** TCP connections accepted. */
  tcp: number;
  /** Handshakes completed, and of those the ones that resumed a session. */
  handshakes: number;
  resumed: number;
  /** Request targets received, in order. */
  requests: string[];
  close(): Promise<void>;
}

export interface HttpsUpstreamOptions {
  /** Ask for a client certificate and refuse a handshake without a valid one from this CA. */
  clientCa?: string;
  /** CA certificates sent with the server certificate (its chain). */
  chain?: string;
}

/** The body `GET .../big` answers with: 2 MiB, the same every time. */
export const BIG_BODY = Buffer.alloc(2 * 1024 * 1024, 'pillion-tls-upstream-');

/**
 * Answers every request 200 with `x-upstream: NAME` and `{ upstream, path, peer, bytes, sha256 }`
 * (peer: the client certificate's URI SAN, '' without one; bytes and sha256: of the request body),
 * except `GET .../big`, answered with BIG_BODY.
 */
export async function httpsUpstream(name: string, port: number, pem: Pem, o: HttpsUpstreamOptions = {}): Promise<HttpsUpstream> {
  const state = { tcp: 0, handshakes: 0, resumed: 0, requests: [] as string[] };
  const server: HttpsServer = createHttpsServer(
    {
      cert: o.chain ? pem.cert + o.chain : pem.cert,
      key: pem.key,
      ca: o.clientCa,
      requestCert: o.clientCa !== undefined,
      rejectUnauthorized: o.clientCa !== undefined,
    },
    (req, res) => {
      state.requests.push(req.url ?? '');
      const peer = (req.socket as TLSSocket).getPeerX509Certificate()?.subjectAltName ?? '';
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (d: Buffer) => {
        bytes += d.length;
        hash.update(d);
      });
      req.on('end', () => {
        res.setHeader('x-upstream', name);
        if (req.method === 'GET' && req.url?.endsWith('/big')) {
          res.end(BIG_BODY);
          return;
        }
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(bytes ? { upstream: name, path: req.url, peer, bytes, sha256: hash.digest('hex') } : { upstream: name, path: req.url, peer }));
      });
    },
  );
  server.keepAliveTimeout = 60_000;
  server.on('connection', () => state.tcp++);
  server.on('secureConnection', (s: TLSSocket) => {
    state.handshakes++;
    if (s.isSessionReused()) state.resumed++;
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return Object.assign(state, {
    name,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

export interface TlsEcho {
  readonly port: number;
  handshakes: number;
  /** Connections that ended with a reset (ECONNRESET) from the client. */
  resets: number;
  close(): Promise<void>;
}

/**
 * Echoes every byte back over TLS; ends its side when the client ends its own (half-close). Closing it
 * destroys every connection, also those whose handshake the client abandoned (with allowHalfOpen a
 * server socket would keep those open).
 */
export async function tlsEcho(port: number, pem: Pem): Promise<TlsEcho> {
  const sockets = new Set<Socket>();
  const state = { handshakes: 0, resets: 0 };
  const server: TlsServer = createTlsServer({ cert: pem.cert, key: pem.key, allowHalfOpen: true }, (s) => {
    state.handshakes++;
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET') state.resets++;
    });
    s.pipe(s);
  });
  server.on('connection', (raw: Socket) => {
    sockets.add(raw);
    raw.on('close', () => sockets.delete(raw));
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return Object.assign(state, {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  });
}
