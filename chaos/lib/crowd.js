// Crowds of raw connections: keep-alive clients that send a request every few seconds, clients that
// never finish their request head, and clients that ask for a large body and never read it.
import net from 'node:net';

const REQUEST = 'GET / HTTP/1.1\r\nhost: chaos\r\n\r\n';

/**
 * Opens `n` connections, `batch` at a time (so the listen backlog is not what is measured).
 * @param {number} port
 * @param {number} n
 * @param {(s: net.Socket, i: number) => void} onOpen
 * @param {number} [batch]
 */
async function openMany(port, n, onOpen, batch = 500) {
  /** @type {net.Socket[]} */
  const sockets = [];
  let failed = 0;
  for (let i = 0; i < n; i += batch) {
    const wave = [];
    for (let j = i; j < Math.min(n, i + batch); j++) {
      wave.push(
        new Promise((resolve) => {
          const s = net.connect(port, '127.0.0.1');
          s.on('error', () => {});
          s.once('connect', () => {
            sockets.push(s);
            onOpen(s, j);
            resolve(undefined);
          });
          s.once('close', () => resolve(undefined));
          s.once('error', () => {
            failed++;
            resolve(undefined);
          });
        }),
      );
    }
    await Promise.all(wave);
  }
  return { sockets, failed };
}

/**
 * `n` keep-alive clients, each sending a request every `everyMs` (spread over the interval) and
 * counting the responses; a connection the server closes is counted, not reopened.
 * @param {number} port
 * @param {number} n
 * @param {number} everyMs
 */
export async function keepAliveCrowd(port, n, everyMs) {
  const counts = { sent: 0, responses: 0, closedByServer: 0, connectFailed: 0, inFlightAtClose: 0 };
  /** Requests sent and not yet answered, all connections. */
  let inFlight = 0;
  /** For each connection the server closed: ms since it opened, since its last request, since its last response. */
  /** @type {{ openMs: number, sinceRequestMs: number, sinceResponseMs: number }[]} */
  const closes = [];
  /** @type {NodeJS.Timeout[]} */
  const timers = [];
  let stopping = false;
  const { sockets, failed } = await openMany(port, n, (s) => {
    s.setNoDelay(true);
    const opened = performance.now();
    let lastRequest = opened;
    let lastResponse = opened;
    let waiting = 0;
    s.on('data', (d) => {
      lastResponse = performance.now();
      // A response starts with the status line; the hello body never contains it.
      for (let at = d.indexOf('HTTP/1.1 '); at >= 0; at = d.indexOf('HTTP/1.1 ', at + 1)) {
        counts.responses++;
        waiting--;
        inFlight--;
      }
    });
    s.once('close', () => {
      if (stopping) return;
      counts.closedByServer++;
      const now = performance.now();
      closes.push({ openMs: Math.round(now - opened), sinceRequestMs: Math.round(now - lastRequest), sinceResponseMs: Math.round(now - lastResponse) });
    });
    // One request at a time: uWS closes a connection that sends a request while one is pending.
    const send = () => {
      if (s.destroyed || waiting > 0) return;
      waiting++;
      inFlight++;
      lastRequest = performance.now();
      counts.sent++;
      s.write(REQUEST);
    };
    send();
    timers.push(
      setTimeout(() => {
        send();
        timers.push(setInterval(send, everyMs));
      }, Math.random() * everyMs),
    );
  });
  counts.connectFailed = failed;
  return {
    counts,
    closes,
    open: () => sockets.filter((s) => !s.destroyed).length,
    close() {
      stopping = true;
      counts.inFlightAtClose = inFlight;
      for (const t of timers) clearInterval(t);
      for (const s of sockets) s.destroy();
    },
  };
}

/**
 * `n` clients that send a request head one line at a time, a line every `lineMs`, and never finish it;
 * one the server closes is opened again, and counted.
 * @param {number} port
 * @param {number} n
 * @param {number} lineMs
 */
export function slowHeadCrowd(port, n, lineMs) {
  const counts = { closedByServer: 0 };
  let stopping = false;
  /** @type {Set<net.Socket>} */
  const live = new Set();
  /** @type {Set<NodeJS.Timeout>} */
  const timers = new Set();
  const start = () => {
    if (stopping) return;
    const s = net.connect(port, '127.0.0.1');
    live.add(s);
    s.on('error', () => {});
    s.once('connect', () => {
      s.write('GET / HTTP/1.1\r\nhost: chaos\r\n');
      const t = setInterval(() => s.destroyed || s.write('x-slow: 1\r\n'), lineMs);
      timers.add(t);
      s.once('close', () => {
        clearInterval(t);
        timers.delete(t);
      });
    });
    s.once('close', () => {
      live.delete(s);
      if (stopping) return;
      counts.closedByServer++;
      setTimeout(start, 100);
    });
  };
  for (let i = 0; i < n; i++) start();
  return {
    counts,
    open: () => live.size,
    close() {
      stopping = true;
      for (const t of timers) clearInterval(t);
      for (const s of live) s.destroy();
    },
  };
}

/**
 * `n` clients that ask for `path` (a large body) and read nothing: the proxy must hold the upstream
 * back instead of buffering the whole body for each.
 * @param {number} port
 * @param {number} n
 * @param {string} path
 */
export async function slowReaderCrowd(port, n, path) {
  const { sockets, failed } = await openMany(port, n, (s) => {
    s.write(`GET ${path} HTTP/1.1\r\nhost: chaos\r\n\r\n`);
    s.pause();
  });
  return { failed, open: () => sockets.filter((s) => !s.destroyed).length, close: () => sockets.forEach((s) => s.destroy()) };
}
