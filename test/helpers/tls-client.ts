/**
 * One HTTPS request on a connection of its own (no agent, no pooling): what TLS tests need to see
 * each handshake, the certificate the server presented, and whether the session was resumed.
 */
import { request, type RequestOptions } from 'node:https';
import type { X509Certificate } from 'node:crypto';
import type { PeerCertificate, TLSSocket } from 'node:tls';

export interface HttpsGetOptions {
  path?: string;
  /** SNI; default none (the request goes to 127.0.0.1). */
  servername?: string;
  /** CA the client trusts (PEM). */
  ca?: string;
  /** Client certificate and key (PEM), for mutual TLS. */
  cert?: string;
  key?: string;
  headers?: Record<string, string>;
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** A session from an earlier response to resume. */
  session?: Buffer;
  /** Default: accept any server name (the tests look at the certificate themselves); 'verify': Node's host name check against `servername`. */
  checkName?: 'any' | 'verify';
}

export interface HttpsReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The certificate the server presented. */
  peer: X509Certificate;
  reused: boolean;
  protocol: string | null;
  /** The session to resume on a later connection (TLS 1.3 tickets arrive after the handshake). */
  session: Buffer | undefined;
}

export function httpsGet(port: number, o: HttpsGetOptions = {}): Promise<HttpsReply> {
  // `session` is a tls.connect option that https passes on (its RequestOptions type does not list it).
  const options: RequestOptions & { session?: Buffer } = {
    host: '127.0.0.1',
    port,
    path: o.path ?? '/',
    headers: o.headers,
    agent: false,
    servername: o.servername ?? '',
    ca: o.ca,
    cert: o.cert,
    key: o.key,
    minVersion: o.minVersion,
    maxVersion: o.maxVersion,
    session: o.session,
    ...(o.checkName === 'verify' ? {} : { checkServerIdentity: (_host: string, _cert: PeerCertificate) => undefined }),
  };
  return new Promise((resolve, reject) => {
    let session: Buffer | undefined;
    const req = request(options, (res) => {
      const socket = res.socket as TLSSocket;
      const peer = socket.getPeerX509Certificate()!;
      const reused = socket.isSessionReused();
      const protocol = socket.getProtocol();
      let body = '';
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        resolve({ status: res.statusCode!, headers: res.headers, body, peer, reused, protocol, session });
      };
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        // A TLS 1.3 ticket comes after the handshake, usually before the response; a resumed
        // connection may bring none. Whatever arrived by the time the connection closes is kept.
        socket.once('close', finish);
        socket.end();
      });
    });
    req.on('socket', (s) => s.on('session', (x: Buffer) => (session = x)));
    req.on('error', reject);
    req.end();
  });
}

/** The common name of a certificate's subject. */
export function commonName(cert: X509Certificate): string {
  return /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? '';
}
