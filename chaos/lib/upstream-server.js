// A chaos upstream, run as its own process so a scenario can SIGKILL it. Modes:
//   ok         node:http; GET / says hello, /64k and /1m send a patterned body, POST answers the
//              byte count, /slow?ms=N answers after N ms, /reset destroys the socket unanswered
//   hang       accepts connections and reads them, never answers
//   misbehave  raw sockets, see MISBEHAVIOURS below; remembers sockets it broke and counts any
//              request that arrives on one (a proxy reusing a broken connection)
// Every mode answers GET /__stats on the same port with its counters (asked directly, not through
// the proxy). usage: node upstream-server.js --name NAME --mode MODE [--delay-ms N]; prints
// "listening PORT".
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { body64k, patterned } from './bodies.js';

const { values } = parseArgs({
  options: {
    name: { type: 'string', default: 'up' },
    mode: { type: 'string', default: 'ok' },
    'delay-ms': { type: 'string', default: '0' },
  },
});
const NAME = values.name ?? 'up';
const DELAY = Number(values['delay-ms']);
const BODY_1M = patterned(1024 * 1024);
const stats = { requests: 0, open: 0, inflight: 0, reusedBroken: 0, broken: 0 };

/** @param {net.Server | http.Server} server */
function listen(server) {
  server.on('connection', (/** @type {net.Socket} */ s) => {
    stats.open++;
    s.once('close', () => stats.open--);
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    console.log(`listening ${typeof a === 'object' && a ? a.port : 0}`);
  });
}

/**
 * @param {http.ServerResponse} res
 * @param {number} status
 * @param {Buffer | string} body
 */
function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), 'x-upstream': NAME });
  res.end(body);
}

/** @param {http.IncomingMessage} req @param {http.ServerResponse} res */
function okMode(req, res) {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/__stats') return send(res, 200, JSON.stringify(stats));
  stats.requests++;
  stats.inflight++;
  res.once('close', () => stats.inflight--);
  if (url.pathname === '/reset') return void req.socket.destroy();
  let bytes = 0;
  req.on('data', (c) => (bytes += c.length));
  req.on('end', () => {
    const answer = () => {
      if (req.method === 'POST') return send(res, 200, `{"bytes":${bytes}}`);
      if (url.pathname === '/64k') return send(res, 200, body64k);
      if (url.pathname === '/1m') return send(res, 200, BODY_1M);
      send(res, 200, `hello from ${NAME}`);
    };
    const ms = url.pathname === '/slow' ? Number(url.searchParams.get('ms') ?? 100) : DELAY;
    if (ms > 0) setTimeout(answer, ms);
    else answer();
  });
}

const OK_BODY = patterned(3000);
const okHead = `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${OK_BODY.length}\r\n\r\n`;

/**
 * What the misbehaving upstream does for each path. `keep` leaves the socket open after a broken
 * answer, so a proxy that reuses it is seen.
 * @type {Record<string, (s: net.Socket) => { keep: boolean }>}
 */
const MISBEHAVIOURS = {
  '/ok': (s) => {
    s.write(okHead);
    s.write(OK_BODY);
    return { keep: true };
  },
  // Not HTTP at all; the socket stays open.
  '/invalid': (s) => {
    s.write('HTTP/1.1 2OO OK\r\ncontent-length: 5\r\n\r\nhello');
    return { keep: true };
  },
  // Two different Content-Length values.
  '/ambiguous': (s) => {
    s.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 7\r\n\r\nhello!!');
    return { keep: true };
  },
  // A head over the proxy's 64 KiB response-head limit.
  '/huge-head': (s) => {
    s.write(`HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(70 * 1024)}\r\ncontent-length: 2\r\n\r\nhi`);
    return { keep: true };
  },
  // Promises 3000 bytes, sends 1000 and closes.
  '/mid-body': (s) => {
    s.write(okHead);
    s.end(OK_BODY.subarray(0, 1000));
    return { keep: false };
  },
  // More body than Content-Length says: the extra bytes must never reach the next response.
  '/overlong': (s) => {
    s.write(okHead);
    s.write(Buffer.concat([OK_BODY, Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nEVIL')]));
    return { keep: true };
  },
  // Chunked with a broken chunk size in the middle.
  '/bad-chunk': (s) => {
    s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\nxx\r\n0\r\n\r\n');
    return { keep: true };
  },
  // A thousand interim responses before the real one.
  '/1xx-flood': (s) => {
    s.write('HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n'.repeat(1000));
    s.write(okHead);
    s.write(OK_BODY);
    return { keep: true };
  },
};

/** @param {net.Socket} s */
function misbehaveConnection(s) {
  let buf = '';
  let broken = false;
  s.on('error', () => {});
  s.on('data', (chunk) => {
    buf += chunk.toString('latin1');
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.slice(0, end);
      buf = buf.slice(end + 4);
      const path = head.split(' ')[1] ?? '/';
      if (path === '/__stats') {
        const body = JSON.stringify(stats);
        s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
        continue;
      }
      stats.requests++;
      if (broken) stats.reusedBroken++;
      const act = MISBEHAVIOURS[path] ?? MISBEHAVIOURS['/ok'];
      const { keep } = act(s);
      if (path !== '/ok' && path !== '/1xx-flood') {
        broken = true;
        stats.broken++;
      }
      if (!keep) return;
    }
  });
}

if (values.mode === 'ok') {
  const server = http.createServer(okMode);
  server.keepAliveTimeout = 120_000;
  listen(server);
} else if (values.mode === 'hang') {
  listen(
    net.createServer((s) => {
      s.on('error', () => {});
      s.on('data', (chunk) => {
        if (chunk.toString('latin1').startsWith('GET /__stats ')) {
          const body = JSON.stringify(stats);
          s.end(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
        } else stats.requests++;
      });
    }),
  );
} else if (values.mode === 'misbehave') {
  listen(net.createServer(misbehaveConnection));
} else {
  console.error(`unknown mode ${values.mode}`);
  process.exit(2);
}
