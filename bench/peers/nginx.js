// nginx from the machine's packages, configured like Pillion: N worker processes on a
// SO_REUSEPORT listener, upstream keep-alive, bodies streamed rather than spooled to disk.
// For a TLS scenario the listener serves HTTPS with the bench's certificate; for an HTTP/2 one
// it serves cleartext HTTP/2 (`listen ... http2`, nginx 1.22's syntax; 1.25.1 moved it to
// `http2 on;`) and reaches an HTTP/2 upstream through grpc_pass, nginx's only HTTP/2 client.
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { capture, findBinary } from '../lib/binaries.js';
import { startChild } from '../lib/child.js';
import { waitFor200 } from '../lib/net.js';
import { benchCertificates } from '../lib/tls-certs.js';

/**
 * The start of an nginx config every bench nginx shares: foreground, its files in `dir`, no access
 * log, the descriptor and connection limits; it ends inside the open `http {` block.
 * @param {string} dir
 * @param {number} workers
 * @returns {string}
 */
export function nginxPreamble(dir, workers) {
  return `daemon off;
master_process on;
worker_processes ${workers};
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} warn;
worker_rlimit_nofile 65536;

events {
  worker_connections 16384;
}

http {
  access_log off;
  client_body_temp_path ${path.join(dir, 'client_body')};
  proxy_temp_path ${path.join(dir, 'proxy')};
  fastcgi_temp_path ${path.join(dir, 'fastcgi')};
  uwsgi_temp_path ${path.join(dir, 'uwsgi')};
  scgi_temp_path ${path.join(dir, 'scgi')};`;
}

/**
 * With `tls`, the listener serves HTTPS: that certificate, TLS 1.2 and 1.3 (Pillion's default
 * `min_version`), OpenSSL's default ciphers and curves, nginx's default session settings.
 * With `http2`, the listener speaks HTTP/2 with prior knowledge only (nginx 1.22 answers an
 * HTTP/1.1 request there with an HTTP/2 frame); `upstream: 'h2c'` proxies with `grpc_pass`, which
 * forwards any HTTP/2 request (a plain GET included) but sends one request per upstream connection
 * at a time: the `keepalive` connections are reused, not multiplexed.
 * @param {{ dir: string, port: number, upstream: { host: string, port: number }, workers: number,
 *           tls?: { certFile: string, keyFile: string }, http2?: { upstream: 'http1' | 'h2c' } }} o
 * @returns {string}
 */
export function nginxConfig(o) {
  const d = o.dir;
  const tls = o.tls
    ? `
    ssl_certificate ${o.tls.certFile};
    ssl_certificate_key ${o.tls.keyFile};
    ssl_protocols TLSv1.2 TLSv1.3;`
    : '';
  const grpc = `
      grpc_pass grpc://up;`;
  return `${nginxPreamble(d, o.workers)}
  # The load generator keeps its connections for the whole run, as it does with Pillion.
  keepalive_requests 1000000;
  keepalive_timeout 60s;

  upstream up {
    server ${o.upstream.host}:${o.upstream.port};
    keepalive 128;
    keepalive_requests 1000000;
  }

  server {
    listen 127.0.0.1:${o.port}${o.tls ? ' ssl' : ''}${o.http2 ? ' http2' : ''} reuseport;
    client_max_body_size 0;${tls}

    location / {${o.http2?.upstream === 'h2c' ? grpc : `
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # Stream request bodies and keep responses in memory, as Pillion does.
      proxy_request_buffering off;
      proxy_buffer_size 16k;
      proxy_buffers 16 16k;
      proxy_max_temp_file_size 0;`}
    }
  }
}
`;
}

/** @type {import('../lib/types.js').PeerKind} */
const nginx = {
  name: 'nginx',
  describe:
    'nginx, `worker_processes` = workers, `listen reuseport`, upstream `keepalive 128`, `proxy_request_buffering off`, responses buffered in memory, access log off',
  multiWorker: true,
  async probe() {
    const bin = findBinary('nginx');
    if (!bin) return { ok: false, reason: 'nginx is not installed (apt-get install nginx)' };
    const { output } = await capture(bin, ['-v']);
    const m = /nginx\/(\S+)/.exec(output);
    return m ? { ok: true, version: m[1] } : { ok: false, reason: `cannot read the version of ${bin}: ${output}` };
  },
  async start(ctx) {
    const bin = /** @type {string} */ (findBinary('nginx'));
    // Worker processes drop to an unprivileged user when the master runs as root.
    chmodSync(ctx.dir, 0o755);
    const conf = path.join(ctx.dir, 'nginx.conf');
    const tls = ctx.scenario.tls ? benchCertificates() : undefined;
    writeFileSync(conf, nginxConfig({ ...ctx, tls, http2: ctx.scenario.http2 }));
    const child = startChild(bin, ['-e', path.join(ctx.dir, 'error.log'), '-p', ctx.dir, '-c', conf]);
    const url = `${tls ? 'https' : 'http'}://127.0.0.1:${ctx.port}`;
    try {
      await waitFor200(`${url}/`, { exited: child.exited, output: child.output, what: 'nginx', ca: tls?.ca, h2: ctx.scenario.http2 !== undefined });
    } catch (err) {
      await child.stop('SIGKILL');
      throw err;
    }
    return { url, pid: child.pid, stop: () => child.stop('SIGTERM') };
  },
};

export default nginx;
