// Extra bench/upstream.js processes for scenarios that need their own: an endpoint added at
// run time, or three endpoints of which one is killed. The shared upstream is run.js's.
// `script` runs another upstream program with the same "listening PORT" line (bench/tls-upstream.js).
import path from 'node:path';
import { startChild } from './child.js';

/**
 * @typedef {object} UpstreamProcess
 * @property {string} host
 * @property {number} port
 * @property {number} pid
 * @property {() => Promise<void>} stop   SIGTERM, SIGKILL after a grace period
 * @property {() => Promise<void>} kill   SIGKILL now, as a crash would
 */

/**
 * Starts bench/upstream.js (or `o.script`, relative to the root, with `o.args`) on a free port and
 * waits for its "listening PORT" line.
 * @param {string} root repository root
 * @param {{ script?: string, args?: string[] }} [o]
 * @returns {Promise<UpstreamProcess>}
 */
export async function startUpstream(root, o = {}) {
  /** @type {(port: number) => void} */
  let onPort = () => {};
  /** @type {Promise<number>} */
  const port = new Promise((resolve) => {
    onPort = resolve;
  });
  const child = startChild(process.execPath, [path.join(root, o.script ?? 'bench/upstream.js'), '--port', '0', ...(o.args ?? [])], {
    onLine: (line) => {
      const m = /^listening (\d+)$/.exec(line.trim());
      if (m) onPort(Number(m[1]));
    },
  });
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(resolve, 10_000, 'timeout');
  });
  const got = await Promise.race([port, child.exited.then(() => 'exited'), timeout]);
  clearTimeout(timer);
  if (typeof got !== 'number') {
    await child.stop('SIGKILL');
    throw new Error(`an upstream did not start (${got}):\n${child.output()}`);
  }
  return {
    host: '127.0.0.1',
    port: got,
    pid: child.pid,
    stop: () => child.stop(),
    kill: () => child.stop('SIGKILL'),
  };
}

/**
 * Starts `n` upstreams; if one fails, stops the others before throwing.
 * @param {string} root
 * @param {number} n
 * @returns {Promise<UpstreamProcess[]>}
 */
export async function startUpstreams(root, n) {
  const settled = await Promise.allSettled(Array.from({ length: n }, () => startUpstream(root)));
  const ok = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) {
    await Promise.all(ok.map((u) => u.stop()));
    throw failed.reason;
  }
  return ok;
}
