/**
 * Small upstream HTTP servers for the demo and the tests. Each answers with its name, echoes what it
 * was sent, and has a few paths that behave like a real service having a bad day.
 *
 *   GET  /...            200 "hello from NAME" plus the request's method, path and forwarding headers
 *   POST /...            200 with the request body echoed back
 *   GET  /slow?ms=N      answers after N milliseconds
 *   GET  /status/CODE    answers with that status
 *   GET  /health         200 "ok"
 */
import { createServer } from 'node:http';

export function startUpstream(name, port, host = '127.0.0.1') {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://upstream');
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      res.setHeader('x-upstream', name);
      if (url.pathname === '/health') return res.end('ok\n');
      if (url.pathname.startsWith('/status/')) {
        res.statusCode = Number(url.pathname.slice(8)) || 500;
        return res.end(`status ${res.statusCode} from ${name}\n`);
      }
      const reply = () => {
        if (req.method === 'POST' || req.method === 'PUT') {
          res.setHeader('content-type', req.headers['content-type'] ?? 'application/octet-stream');
          return res.end(body);
        }
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            upstream: name,
            method: req.method,
            path: req.url,
            host: req.headers.host,
            'x-forwarded-for': req.headers['x-forwarded-for'],
            'x-request-id': req.headers['x-request-id'],
          }) + '\n',
        );
      };
      if (url.pathname === '/slow') setTimeout(reply, Number(url.searchParams.get('ms') ?? 1000));
      else reply();
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
