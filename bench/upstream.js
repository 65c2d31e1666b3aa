// The one upstream every peer proxies to: a uWS server fast enough that the proxy, not the
// upstream, sets the pace. Runs as its own process so its CPU is measured apart.
//
//   GET  /       13-byte "Hello, World!"
//   GET  /64k    64 KiB body
//   POST /*      reads the whole body, answers {"bytes":N}
//   GET  /stats  {"requests":N,"bodyBytes":N} since start
//
// usage: node bench/upstream.js [--port N] [--host 127.0.0.1]; prints "listening PORT".
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
/** @type {any} */
const uws = require('uWebSockets.js');

// The package falls back to a slow pure-JS server when its native binary does not load;
// a bench against that would measure the fallback, not the proxies.
if (typeof uws.SSLApp !== 'function' || typeof uws.us_socket_local_port !== 'function') {
  console.error('uWebSockets.js native binary did not load (got the JS fallback); the bench needs the native build');
  process.exit(1);
}

const { values } = parseArgs({
  options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } },
});

const HELLO = Buffer.from('Hello, World!');
const BODY_64K = Buffer.alloc(64 * 1024, 'x');
let requests = 0;
let bodyBytes = 0;

/** Per-request state for POST bodies, kept on an object instead of closures. */
class Upload {
  /** @param {any} res */
  constructor(res) {
    this.res = res;
    this.bytes = 0;
    this.aborted = false;
    res.onAborted(this.onAborted.bind(this));
    res.onData(this.onData.bind(this));
  }

  onAborted() {
    this.aborted = true;
  }

  /** @param {ArrayBuffer} chunk @param {boolean} isLast */
  onData(chunk, isLast) {
    this.bytes += chunk.byteLength;
    if (!isLast) return;
    bodyBytes += this.bytes;
    if (!this.aborted) this.res.cork(this.reply.bind(this));
  }

  reply() {
    this.res.writeHeader('content-type', 'application/json').end(`{"bytes":${this.bytes}}`);
  }
}

const app = uws
  .App()
  .get('/', (/** @type {any} */ res) => {
    requests++;
    res.end(HELLO);
  })
  .get('/64k', (/** @type {any} */ res) => {
    requests++;
    res.end(BODY_64K);
  })
  .get('/stats', (/** @type {any} */ res) => {
    res.writeHeader('content-type', 'application/json').end(JSON.stringify({ requests, bodyBytes }));
  })
  .post('/*', (/** @type {any} */ res) => {
    requests++;
    new Upload(res);
  })
  .any('/*', (/** @type {any} */ res) => {
    res.writeStatus('404 Not Found').end('not found');
  });

/** @type {unknown} */
let listenSocket = null;
app.listen(values.host, Number(values.port), (/** @type {unknown} */ socket) => {
  if (!socket) {
    console.error(`upstream: cannot listen on ${values.host}:${values.port}`);
    process.exit(1);
  }
  listenSocket = socket;
  console.log(`listening ${uws.us_socket_local_port(socket)}`);
});

function shutdown() {
  if (listenSocket) uws.us_listen_socket_close(listenSocket);
  listenSocket = null;
  app.close?.();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
