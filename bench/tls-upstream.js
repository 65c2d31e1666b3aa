// An HTTPS endpoint for the TLS upstream scenario (tls-upstream-first-request): Node's HTTPS
// server, keep-alive, answering every request with "Hello, World!" and `x-upstream: NAME`, so a
// client can tell which endpoint served it. Its own process, like bench/upstream.js.
//
// usage: node bench/tls-upstream.js --cert FILE --key FILE [--name NAME] [--port N] [--host 127.0.0.1]
// prints "listening PORT".
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    cert: { type: 'string' },
    key: { type: 'string' },
    name: { type: 'string', default: 'upstream' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
if (!values.cert || !values.key) {
  console.error('tls-upstream: --cert and --key are required');
  process.exit(2);
}

const HELLO = Buffer.from('Hello, World!');
const name = values.name ?? 'upstream';
const server = createServer({ cert: readFileSync(values.cert), key: readFileSync(values.key) }, (req, res) => {
  req.resume();
  res.writeHead(200, { 'content-length': HELLO.length, 'x-upstream': name });
  res.end(HELLO);
});
server.keepAliveTimeout = 60_000;
server.on('error', (err) => {
  console.error(`tls-upstream: ${err.message}`);
  process.exit(1);
});
server.listen(Number(values.port), values.host, () => {
  const addr = server.address();
  console.log(`listening ${typeof addr === 'object' && addr ? addr.port : 0}`);
});

function shutdown() {
  server.closeAllConnections();
  server.close(() => process.exit(0));
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
