// The Node peer: bench/peers/http-proxy-server.js, one process.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { startChild } from '../lib/child.js';
import { waitFor200 } from '../lib/net.js';

const SCRIPT = fileURLToPath(new URL('./http-proxy-server.js', import.meta.url));
const require = createRequire(import.meta.url);

/** @type {import('../lib/types.js').PeerKind} */
const httpProxy = {
  name: 'http-proxy',
  describe: 'node `http` server + the `http-proxy` library, keep-alive agent (128 sockets), one process',
  multiWorker: false,
  async probe() {
    try {
      const pkg = require.resolve('http-proxy/package.json');
      return { ok: true, version: JSON.parse(readFileSync(pkg, 'utf8')).version };
    } catch {
      return { ok: false, reason: 'the http-proxy package is not installed (pnpm install)' };
    }
  },
  async start(ctx) {
    const upstream = `http://${ctx.upstream.host}:${ctx.upstream.port}`;
    const child = startChild(process.execPath, [SCRIPT, '--port', String(ctx.port), '--upstream', upstream]);
    const url = `http://127.0.0.1:${ctx.port}`;
    try {
      await waitFor200(`${url}/`, { exited: child.exited, output: child.output, what: 'http-proxy' });
    } catch (err) {
      await child.stop('SIGKILL');
      throw err;
    }
    return { url, pid: child.pid, stop: () => child.stop() };
  },
};

export default httpProxy;
