// The HTTP/2 upstream of the h2-to-h2 scenario: nginx from the machine's packages, one worker, a
// cleartext HTTP/2 port (prior knowledge, as Pillion's `protocol: h2c`, HAProxy's `proto h2` and
// nginx's grpc_pass speak it) answering every GET with the same 13 bytes as bench/upstream.js.
// nginx rather than Node's http2 server so the upstream is not what sets the pace: on this bench's
// 2-core machine h2load alone drove it to about 85k req/s (10 connections × 10 streams), against
// about 57k for a minimal node:http2 server, and the proxies measured here stay well below both.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { findBinary } from './binaries.js';
import { startChild } from './child.js';
import { freePort, waitFor200 } from './net.js';
import { nginxPreamble } from '../peers/nginx.js';

/**
 * @param {{ dir: string, port: number }} o
 * @returns {string}
 */
export function h2UpstreamConfig(o) {
  const d = o.dir;
  return `${nginxPreamble(d, 1)}
  # A proxy keeps its upstream sessions for the whole run (nginx closes an HTTP/2 connection after
  # keepalive_requests streams, 1000 by default).
  keepalive_requests 1000000;
  keepalive_timeout 60s;

  server {
    listen 127.0.0.1:${o.port} http2;

    location / {
      default_type text/plain;
      return 200 "Hello, World!";
    }
  }
}
`;
}

/**
 * Starts the HTTP/2 upstream in `dir` on a free port and waits until it answers over h2c.
 * @param {string} dir a fresh folder (its config, pid file and temp folders)
 * @returns {Promise<{ host: string, port: number, pid: number, stop: () => Promise<void> }>}
 */
export async function startH2Upstream(dir) {
  const bin = findBinary('nginx');
  if (!bin) throw new Error('the HTTP/2 upstream is nginx, which is not installed (apt-get install nginx)');
  mkdirSync(dir, { recursive: true });
  // Worker processes drop to an unprivileged user when the master runs as root.
  chmodSync(dir, 0o755);
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(conf, h2UpstreamConfig({ dir, port }));
  const child = startChild(bin, ['-e', path.join(dir, 'error.log'), '-p', dir, '-c', conf]);
  try {
    await waitFor200(`http://127.0.0.1:${port}/`, { exited: child.exited, output: child.output, what: 'the HTTP/2 upstream (nginx)', h2: true });
  } catch (err) {
    await child.stop('SIGKILL');
    throw err;
  }
  return { host: '127.0.0.1', port, pid: child.pid, stop: () => child.stop('SIGTERM') };
}
