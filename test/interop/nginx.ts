/**
 * A real nginx as an upstream, run in the foreground from a config written into a temporary
 * directory (pid, logs, temp paths, document root all in there; it listens on 127.0.0.1 only).
 * With `tls` it serves HTTPS, and with `tls.client_ca_file` it requires client certificates
 * (`ssl_verify_client on`).
 *
 * Besides files from the document root it answers:
 * - `/echo`: `$http_x_forwarded_for $request_method $request_uri`;
 * - `/headers`: the `x-forwarded-client-cert` and `x-forwarded-proto` it received;
 * - `/tls` (with `tls`): what it saw of the TLS connection (client certificate verification and
 *   subject, SNI, protocol), in the body and in the `x-client-verify` and `x-client-dn` headers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { waitFor } from '../helpers/wait-for.js';

export interface NginxTls {
  /** The server certificate (PEM, the chain leaf first) and its key. */
  cert_file: string;
  key_file: string;
  /** Require client certificates that chain to this CA bundle (`ssl_verify_client on`). */
  client_ca_file?: string;
}

export interface NginxOptions {
  tls?: NginxTls;
}

export interface Nginx {
  port: number;
  /** The document root: files written here are served at /NAME. */
  root: string;
  /** What nginx wrote to its error log so far. */
  errorLog(): string;
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

export async function startNginx(binary: string, dir: string, port: number, options: NginxOptions = {}): Promise<Nginx> {
  const root = join(dir, 'www');
  const tmp = join(dir, 'tmp');
  mkdirSync(root, { recursive: true });
  mkdirSync(tmp, { recursive: true });
  const errorLog = join(dir, 'error.log');
  const conf = join(dir, 'nginx.conf');
  const tls = options.tls;
  const tlsLines = tls
    ? `
    ssl_certificate ${tls.cert_file};
    ssl_certificate_key ${tls.key_file};
    ssl_protocols TLSv1.2 TLSv1.3;${
      tls.client_ca_file
        ? `
    ssl_client_certificate ${tls.client_ca_file};
    ssl_verify_client on;`
        : ''
    }
    location /tls {
      default_type text/plain;
      add_header x-client-verify $ssl_client_verify always;
      add_header x-client-dn $ssl_client_s_dn always;
      return 200 "verify=$ssl_client_verify dn=$ssl_client_s_dn sni=$ssl_server_name protocol=$ssl_protocol\\n";
    }`
    : '';
  writeFileSync(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${errorLog} warn;
events { worker_connections 256; }
http {
  access_log ${join(dir, 'access.log')};
  client_body_temp_path ${join(tmp, 'body')};
  proxy_temp_path ${join(tmp, 'proxy')};
  fastcgi_temp_path ${join(tmp, 'fastcgi')};
  uwsgi_temp_path ${join(tmp, 'uwsgi')};
  scgi_temp_path ${join(tmp, 'scgi')};
  default_type application/octet-stream;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:${port}${tls ? ' ssl' : ''};
    root ${root};
    location /echo {
      default_type text/plain;
      return 200 "$http_x_forwarded_for $request_method $request_uri\\n";
    }
    location /headers {
      default_type text/plain;
      return 200 "xfcc=$http_x_forwarded_client_cert proto=$http_x_forwarded_proto\\n";
    }${tlsLines}
  }
}
`,
  );
  // -e: the error log before the config is read (the default /var/log/nginx may not be writable).
  const child: ChildProcess = spawn(binary, ['-c', conf, '-p', dir, '-e', errorLog], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let spawnError: Error | null = null;
  child.once('error', (e) => (spawnError = e));
  const readLog = () => {
    try {
      return readFileSync(errorLog, 'utf8');
    } catch {
      return '';
    }
  };
  const exitedEarly = () => spawnError !== null || child.exitCode !== null || child.signalCode !== null;
  try {
    await waitFor(
      () => {
        if (exitedEarly()) throw new Error(`nginx (${binary}) did not start: ${spawnError ?? `exit ${child.exitCode ?? child.signalCode}`}\n${out}\n${readLog()}`);
        return portOpen(port);
      },
      { timeoutMs: 10_000, intervalMs: 20, message: `nginx listening on 127.0.0.1:${port}` },
    );
  } catch (e) {
    if (exitedEarly()) throw e;
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}\n${out}\n${readLog()}`);
  }
  return {
    port,
    root,
    errorLog: readLog,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM'); // fast shutdown
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    },
  };
}
