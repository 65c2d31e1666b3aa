/**
 * The `openssl` command line as a TLS client (`s_client`), a certificate reader (`x509`) and a small
 * TLS server (`s_server -www`), for the interop tests. Every run has a deadline and never rejects: the
 * tests look at the exit code and at what it printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { waitFor } from '../helpers/wait-for.js';

export interface RunResult {
  /** Exit code; -1 when it was killed at the deadline. */
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `openssl ARGS`, writes `input` to its stdin and closes it. */
export function openssl(binary: string, args: string[], input = '', timeoutMs = 15_000): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: `${stderr}${String(e)}` });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.on('error', () => undefined); // it may exit before reading everything
    child.stdin.end(input);
  });
}

export interface SClientOptions {
  port: number;
  /** SNI (-servername); none: -noservername. */
  servername?: string;
  /** The CA to verify the server with (-CAfile); the handshake fails when it does not verify. */
  caFile?: string;
  /** Client certificate and key (-cert, -key). */
  cert?: { cert_file: string; key_file: string };
  /** What to write once connected; s_client then reads until the server closes (-ign_eof). */
  input?: string;
  /** More s_client arguments (-tls1_2, -sess_out FILE, ...). */
  args?: string[];
}

/** `openssl s_client` to 127.0.0.1:port. */
export function sClient(binary: string, o: SClientOptions): Promise<RunResult> {
  const args = ['s_client', '-connect', `127.0.0.1:${o.port}`, '-ign_eof'];
  args.push(...(o.servername ? ['-servername', o.servername] : ['-noservername']));
  if (o.caFile) args.push('-CAfile', o.caFile, '-verify_return_error');
  if (o.cert) args.push('-cert', o.cert.cert_file, '-key', o.cert.key_file);
  args.push(...(o.args ?? []));
  return openssl(binary, args, o.input ?? '');
}

/** An HTTP/1.1 request that asks the server to close the connection after its response. */
export const httpRequest = (host: string, path = '/') => `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;

/** The server certificate s_client printed (PEM), or '' when there was none. */
export function serverCertificate(stdout: string): string {
  const m = /-----BEGIN CERTIFICATE-----\n[\s\S]*?\n-----END CERTIFICATE-----\n/.exec(stdout);
  return m ? m[0] : '';
}

/**
 * The HTTP response s_client printed ('' when there was none): the head, and a body of the head's
 * Content-Length (s_client prints the TLS 1.3 session tickets that arrive later among what it reads),
 * or without one everything after the head.
 */
export function httpResponse(stdout: string): string {
  const start = stdout.search(/HTTP\/1\.[01] \d{3} /);
  if (start < 0) return '';
  const end = stdout.indexOf('\r\n\r\n', start);
  if (end < 0) return stdout.slice(start);
  const head = stdout.slice(start, end + 4);
  const length = /\r\ncontent-length: *(\d+)\r\n/i.exec(head);
  return length ? head + stdout.slice(end + 4, end + 4 + Number(length[1])) : stdout.slice(start);
}

/** `openssl x509 -noout -subject -ext subjectAltName` of a PEM certificate. */
export async function describeCertificate(binary: string, pem: string): Promise<string> {
  const r = await openssl(binary, ['x509', '-noout', '-subject', '-ext', 'subjectAltName'], pem);
  if (r.code !== 0) throw new Error(`openssl x509 exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

export interface SServer {
  port: number;
  stop(): Promise<void>;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * `openssl s_server -www` on 127.0.0.1:port with a certificate: it answers `GET /` with a page
 * describing the TLS connection, which starts with its own command line (so with "s_server").
 */
export async function startSServer(binary: string, port: number, files: { cert_file: string; key_file: string }): Promise<SServer> {
  const child: ChildProcess = spawn(binary, ['s_server', '-accept', `127.0.0.1:${port}`, '-cert', files.cert_file, '-key', files.key_file, '-www', '-quiet'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  try {
    await waitFor(
      () => {
        if (gone()) throw new Error(`openssl s_server exited ${child.exitCode ?? child.signalCode}: ${out}`);
        return portOpen(port);
      },
      { timeoutMs: 10_000, intervalMs: 20, message: `openssl s_server listening on 127.0.0.1:${port}` },
    );
  } catch (e) {
    if (!gone()) child.kill('SIGKILL');
    throw e;
  }
  return {
    port,
    async stop() {
      if (gone()) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}
