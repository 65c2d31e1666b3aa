// The Node peer: node's http server with the `http-proxy` library and a keep-alive agent,
// the way a Node shop would write a proxy without a framework.
//
// usage: node bench/peers/http-proxy-server.js --port N --upstream http://127.0.0.1:M
import http from 'node:http';
import { parseArgs } from 'node:util';
import httpProxy from 'http-proxy';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    upstream: { type: 'string' },
    'max-sockets': { type: 'string', default: '128' },
  },
});
if (!values.port || !values.upstream) {
  console.error('usage: http-proxy-server.js --port N --upstream URL');
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: Number(values['max-sockets']) });
const proxy = httpProxy.createProxyServer({ target: values.upstream, agent, xfwd: true });

proxy.on('error', (err, _req, res) => {
  // `res` is a socket for upgrade requests; this peer only proxies plain HTTP.
  if (res instanceof http.ServerResponse) {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`bad gateway: ${err.message}\n`);
  } else {
    res.destroy();
  }
});

const server = http.createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 60_000;
server.listen(Number(values.port), values.host, () => {
  console.log(`listening ${values.port}`);
});

function shutdown() {
  server.close();
  server.closeAllConnections();
  agent.destroy();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
