// The processes a scenario runs: upstreams (chaos/lib/upstream-server.js, one process each so they
// can be SIGKILLed) and Pillion from its own bin, the way test/helpers/pillion.ts and the bench start
// it. Children are started through bench/lib/child.js, which kills them all if the run is interrupted.
import http from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startChild } from '../../bench/lib/child.js';
import { freePort } from '../../bench/lib/net.js';
import { rssOfKiB } from '../../bench/lib/proc.js';
import { waitUntil } from './wait.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = path.join(ROOT, 'packages/workers/bin/pillion.js');
const UPSTREAM = fileURLToPath(new URL('./upstream-server.js', import.meta.url));

/**
 * @typedef {object} Upstream
 * @property {string} name
 * @property {number} port
 * @property {number} pid
 * @property {Promise<number | null>} exited
 * @property {() => void} kill           SIGKILL, no grace
 * @property {() => Promise<void>} stop
 * @property {() => Promise<Record<string, number>>} stats  asked directly, not through the proxy
 */

/**
 * @param {string} name
 * @param {'ok' | 'hang' | 'misbehave'} mode
 * @param {{ delayMs?: number }} [o]
 * @returns {Promise<Upstream>}
 */
export async function startUpstream(name, mode, o = {}) {
  /** @type {(p: number) => void} */
  let onPort = () => {};
  const port = new Promise((resolve) => (onPort = resolve));
  const child = startChild(process.execPath, [UPSTREAM, '--name', name, '--mode', mode, '--delay-ms', String(o.delayMs ?? 0)], {
    onLine: (line) => {
      const m = /^listening (\d+)$/.exec(line.trim());
      if (m) onPort(Number(m[1]));
    },
  });
  const got = await Promise.race([port, child.exited.then(() => -1), new Promise((r) => setTimeout(r, 10_000, -2))]);
  if (typeof got !== 'number' || got < 0) throw new Error(`upstream ${name} did not start:\n${child.output()}`);
  return {
    name,
    port: got,
    pid: child.pid,
    exited: child.exited,
    kill: () => child.proc.kill('SIGKILL'),
    stop: () => child.stop('SIGTERM', 2000),
    stats: () => upstreamStats(got),
  };
}

/**
 * An upstream's counters, on a connection of its own that closes after the answer (its `open` counts
 * this connection too).
 * @param {number} port
 * @returns {Promise<Record<string, number>>}
 */
function upstreamStats(port) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/__stats', agent: false, headers: { connection: 'close' } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve(JSON.parse(text)));
    });
    req.on('error', reject);
  });
}

/**
 * @typedef {object} Pillion
 * @property {number} pid
 * @property {string} admin
 * @property {string} file       the config file (a scenario may rewrite it and send SIGHUP)
 * @property {string[]} lines    everything it printed, the last 5000 lines
 * @property {Promise<number | null>} exited
 * @property {import('node:child_process').ChildProcess} proc
 * @property {(signal?: NodeJS.Signals, graceMs?: number) => Promise<void>} stop
 * @property {() => Promise<string>} metrics
 * @property {() => number | null} rssKiB  VmRSS of the Pillion process now
 */

/**
 * Writes `config` to a temporary file and runs Pillion on it until /ready answers 200.
 * @param {Record<string, unknown> & { admin: { port: number } }} config
 * @param {{ env?: Record<string, string>, args?: string[], nofile?: number, readyTimeoutMs?: number }} [o]
 * @returns {Promise<Pillion>}
 */
export async function startPillion(config, o = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pillion-chaos-'));
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  const node = [BIN, '--config', file, ...(o.args ?? [])];
  // prlimit execs the command: the pid is Pillion's own.
  const [command, args] = o.nofile ? ['prlimit', [`--nofile=${o.nofile}:${o.nofile}`, process.execPath, ...node]] : [process.execPath, node];
  /** @type {string[]} */
  const lines = [];
  const child = startChild(command, args, {
    cwd: ROOT,
    env: { ...process.env, PILLION_LOG_FORMAT: 'json', ...o.env },
    onLine: (line) => {
      lines.push(line);
      if (lines.length > 5000) lines.splice(0, 1000);
    },
  });
  const admin = `http://127.0.0.1:${config.admin.port}`;
  let dead = false;
  void child.exited.then(() => (dead = true));
  try {
    await waitUntil(
      async () => {
        if (dead) throw new Error('exited');
        return fetch(`${admin}/ready`).then((r) => r.status === 200, () => false);
      },
      { timeoutMs: o.readyTimeoutMs ?? 30_000, what: 'pillion /ready' },
    );
  } catch (e) {
    await child.stop('SIGKILL');
    throw new Error(`pillion did not start (${/** @type {Error} */ (e).message}):\n${lines.slice(-20).join('\n')}`);
  }
  return {
    pid: child.pid,
    admin,
    file,
    lines,
    exited: child.exited,
    proc: child.proc,
    stop: (signal = 'SIGTERM', graceMs = 15_000) => child.stop(signal, graceMs),
    metrics: () => fetch(`${admin}/metrics`).then((r) => r.text()),
    rssKiB: () => rssOfKiB([child.pid]),
  };
}

/** @param {number} n */
export async function freePorts(n) {
  /** @type {number[]} */
  const out = [];
  while (out.length < n) {
    const p = await freePort();
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/**
 * The config most scenarios start from: one HTTP listener routing everything to cluster "c".
 * @param {{ listen: number, admin: number, upstreams: number[], workers?: number, route?: Record<string, unknown>,
 *           cluster?: Record<string, unknown>, listener?: Record<string, unknown>, top?: Record<string, unknown> }} o
 */
export function httpConfig(o) {
  return {
    workers: o.workers ?? 2,
    admin: { port: o.admin },
    access_log: { enabled: false },
    log: { level: 'info' },
    ...o.top,
    listeners: [
      { name: 'web', protocol: 'http', address: '127.0.0.1', port: o.listen, routes: [{ match: { prefix: '/' }, cluster: 'c', ...o.route }], ...o.listener },
    ],
    clusters: [{ name: 'c', endpoints: o.upstreams.map((port) => ({ address: '127.0.0.1', port })), ...o.cluster }],
  };
}
