// A fresh Pillion for one measurement (cold start, failover), started the way peers/pillion.js
// starts it, but ready as soon as the admin API says so: no request goes through the proxy
// before the measurement, so its first requests are the measured ones.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startChild } from './child.js';
import { freePort, getStatus } from './net.js';
import { pillionConfig } from '../peers/pillion.js';

const READY_POLL_MS = 10;
const READY_TIMEOUT_MS = 30_000;

/**
 * @typedef {object} PillionProcess
 * @property {string} url        the HTTP listener
 * @property {string} admin      the admin API
 * @property {number} pid
 * @property {number} readyMs    from spawn to the first 200 from /ready
 * @property {() => Promise<void>} stop
 */

/**
 * @param {{ root: string, dir: string, upstream: { host: string, port: number }, workers: number,
 *           accessLogOff: boolean,
 *           adjust?: (config: import('./types.js').PillionConfig) => import('./types.js').PillionConfig }} o
 * @returns {Promise<PillionProcess>}
 */
export async function startPillion(o) {
  const port = await freePort();
  const adminPort = await freePort();
  const base = pillionConfig({ port, adminPort, upstream: o.upstream, workers: o.workers, accessLogOff: o.accessLogOff });
  const config = o.adjust ? o.adjust(base) : base;
  const file = path.join(o.dir, `pillion-${port}.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  const t0 = performance.now();
  const child = startChild(
    process.execPath,
    [path.join(o.root, 'packages/workers/bin/pillion.js'), '--config', file, '--workers', String(o.workers), '--log-level', 'warn'],
    { cwd: o.root },
  );
  let dead = false;
  child.exited.then(() => {
    dead = true;
  });
  const admin = `http://127.0.0.1:${adminPort}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!dead && Date.now() < deadline) {
    if ((await getStatus(`${admin}/ready`)) === 200) {
      return {
        url: `http://127.0.0.1:${port}`,
        admin,
        pid: child.pid,
        readyMs: performance.now() - t0,
        stop: () => child.stop('SIGTERM', 10_000),
      };
    }
    await sleep(READY_POLL_MS);
  }
  await child.stop('SIGKILL');
  throw new Error(`pillion ${dead ? 'exited' : 'was not ready in time'}:\n${child.output().trim()}`);
}
