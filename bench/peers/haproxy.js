// HAProxy from the machine's packages, configured like Pillion: N threads, HTTP mode,
// connections to the upstream kept alive and shared (`http-reuse always`). For a TLS scenario
// the frontend serves HTTPS with the bench's certificate; for an HTTP/2 one it serves cleartext
// HTTP/2 (`proto h2`), and the server line speaks HTTP/2 too when the upstream does.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { capture, findBinary } from '../lib/binaries.js';
import { startChild } from '../lib/child.js';
import { waitFor200 } from '../lib/net.js';
import { benchCertificates } from '../lib/tls-certs.js';

/**
 * With `tls`, the frontend serves HTTPS: `bundleFile` holds the certificate and its key (HAProxy's
 * `crt`), TLS 1.2 and 1.3 (Pillion's default `min_version`), OpenSSL's default ciphers and curves.
 * With `http2`, the bind speaks HTTP/2 with prior knowledge (`proto h2`), and with `upstream: 'h2c'`
 * so does the server (its streams multiplexed over shared connections, `http-reuse always`).
 * @param {{ port: number, upstream: { host: string, port: number }, workers: number,
 *           tls?: { bundleFile: string }, http2?: { upstream: 'http1' | 'h2c' } }} o
 * @returns {string}
 */
export function haproxyConfig(o) {
  return `global
  nbthread ${o.workers}
  maxconn 4096

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s

frontend web
  bind 127.0.0.1:${o.port}${o.tls ? ` ssl crt ${o.tls.bundleFile} ssl-min-ver TLSv1.2` : ''}${o.http2 ? ' proto h2' : ''}
  default_backend up

backend up
  server up1 ${o.upstream.host}:${o.upstream.port}${o.http2?.upstream === 'h2c' ? ' proto h2' : ''}
`;
}

/** @type {import('../lib/types.js').PeerKind} */
const haproxy = {
  name: 'haproxy',
  describe: 'HAProxy, `nbthread` = workers, `mode http`, `http-reuse always`, no logging',
  multiWorker: true,
  async probe() {
    const bin = findBinary('haproxy');
    if (!bin) return { ok: false, reason: 'haproxy is not installed (apt-get install haproxy)' };
    const { output } = await capture(bin, ['-v']);
    const m = /version (\S+)/i.exec(output);
    return m ? { ok: true, version: m[1] } : { ok: false, reason: `cannot read the version of ${bin}: ${output}` };
  },
  async start(ctx) {
    const bin = /** @type {string} */ (findBinary('haproxy'));
    const cfg = path.join(ctx.dir, 'haproxy.cfg');
    const tls = ctx.scenario.tls ? benchCertificates() : undefined;
    writeFileSync(cfg, haproxyConfig({ ...ctx, tls, http2: ctx.scenario.http2 }));
    const child = startChild(bin, ['-db', '-f', cfg]);
    const url = `${tls ? 'https' : 'http'}://127.0.0.1:${ctx.port}`;
    try {
      await waitFor200(`${url}/`, { exited: child.exited, output: child.output, what: 'haproxy', ca: tls?.ca, h2: ctx.scenario.http2 !== undefined });
    } catch (err) {
      await child.stop('SIGKILL');
      throw err;
    }
    return { url, pid: child.pid, stop: () => child.stop('SIGTERM') };
  },
};

export default haproxy;
