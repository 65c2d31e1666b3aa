// Layer-4 bench: TCP bulk throughput (N MiB each way on one connection), TCP connection rate
// and UDP request/response rate, direct versus Pillion's tcp/udp listeners versus HAProxy in
// `mode tcp` (when installed; it has no UDP). One run per peer, printed as a table.
//
//   node bench/l4-bench.js [--bulk-mib 1024] [--seconds 5] [--workers 1] [--concurrency 50]
//                          [--udp-clients 32] [--peers direct,pillion,haproxy] [--json FILE]
//
// Needs `pnpm build` (Pillion's CLI) and the native uWebSockets.js (bench/upstream.js).
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { findBinary } from './lib/binaries.js';
import { startChild } from './lib/child.js';
import { freePort, waitFor200 } from './lib/net.js';
import { connectRate, tcpDownload, tcpUpload, udpRate, withCpu } from './l4-load.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MiB = 1024 * 1024;

const { values } = parseArgs({
  options: {
    'bulk-mib': { type: 'string', default: '1024' },
    seconds: { type: 'string', default: '5' },
    workers: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '50' },
    'udp-clients': { type: 'string', default: '32' },
    peers: { type: 'string', default: 'direct,pillion,haproxy' },
    json: { type: 'string' },
  },
});
const bulkBytes = Number(values['bulk-mib']) * MiB;
const seconds = Number(values.seconds);
const workers = Number(values.workers);
const concurrency = Number(values.concurrency);
const udpClients = Number(values['udp-clients']);
const wanted = new Set(String(values.peers).split(','));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'pillion-l4-bench-'));

/**
 * Starts a child and waits for its first line matching `re`; returns the child and the match.
 * @param {string} what
 * @param {string} command
 * @param {string[]} args
 * @param {RegExp} re
 */
async function startAndRead(what, command, args, re) {
  /** @type {(m: RegExpExecArray) => void} */
  let found = () => {};
  const seen = new Promise((resolve) => (found = resolve));
  const child = startChild(command, args, {
    cwd: ROOT,
    onLine: (line) => {
      const m = re.exec(line);
      if (m) found(m);
    },
  });
  const m = await Promise.race([seen, child.exited.then(() => null)]);
  if (!m) throw new Error(`${what} did not start:\n${child.output()}`);
  return { child, match: /** @type {RegExpExecArray} */ (m) };
}

const UDP_ECHO = `const s = require('dgram').createSocket('udp4');
s.on('message', (m, r) => s.send(m, r.port, r.address));
s.bind(0, '127.0.0.1', () => console.log('udp ' + s.address().port));`;

/**
 * @typedef {{ name: string, tcp: number, udp: number | null, pid: number | null, stop: () => Promise<void> }} Peer
 * @typedef {{ tcp: number, udp: number }} Upstreams
 */

/** @type {Record<string, (up: Upstreams) => Promise<Peer>>} */
const PEERS = {
  async direct(up) {
    return { name: 'direct', tcp: up.tcp, udp: up.udp, pid: null, stop: async () => {} };
  },
  async pillion(up) {
    const [tcp, udp, admin] = [await freePort(), await freePort(), await freePort()];
    const config = {
      workers,
      admin: { port: admin },
      access_log: { enabled: false },
      listeners: [
        { name: 'bench-tcp', protocol: 'tcp', port: tcp, cluster: 'tcp-up' },
        { name: 'bench-udp', protocol: 'udp', port: udp, cluster: 'udp-up' },
      ],
      clusters: [
        { name: 'tcp-up', endpoints: [{ address: '127.0.0.1', port: up.tcp }] },
        { name: 'udp-up', endpoints: [{ address: '127.0.0.1', port: up.udp }] },
      ],
    };
    const file = path.join(tmp, 'pillion.json');
    writeFileSync(file, JSON.stringify(config));
    const child = startChild(process.execPath, [path.join(ROOT, 'packages/workers/bin/pillion.js'), '--config', file, '--log-level', 'warn'], { cwd: ROOT });
    await waitFor200(`http://127.0.0.1:${admin}/ready`, { exited: child.exited, output: child.output, what: 'pillion' });
    return { name: `pillion-${workers}`, tcp, udp, pid: child.pid, stop: () => child.stop('SIGTERM') };
  },
  async haproxy(up) {
    const bin = findBinary('haproxy') ?? findBinary('haproxy', '/usr/sbin');
    if (!bin) throw new Error('haproxy is not installed');
    const port = await freePort();
    const cfg = path.join(tmp, 'haproxy.cfg');
    writeFileSync(
      cfg,
      `global\n  nbthread ${workers}\n  maxconn 8000\n\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n\n` +
        `frontend f\n  bind 127.0.0.1:${port}\n  default_backend b\n\nbackend b\n  server s1 127.0.0.1:${up.tcp}\n`,
    );
    const child = startChild(bin, ['-db', '-f', cfg]);
    await waitFor200(`http://127.0.0.1:${port}/`, { exited: child.exited, output: child.output, what: 'haproxy' });
    return { name: `haproxy-${workers} (mode tcp)`, tcp: port, udp: null, pid: child.pid, stop: () => child.stop('SIGTERM') };
  },
};

/** @param {number | null} v @param {number} digits */
const fmt = (v, digits = 1) => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(digits));

async function main() {
  const upstream = await startAndRead('upstream', process.execPath, [path.join(ROOT, 'bench/upstream.js')], /^listening (\d+)/);
  const udpEcho = await startAndRead('udp echo', process.execPath, ['-e', UDP_ECHO], /^udp (\d+)/);
  const up = { tcp: Number(upstream.match[1]), udp: Number(udpEcho.match[1]) };
  const upPid = upstream.child.pid;
  /** @type {Record<string, unknown>[]} */
  const rows = [];
  try {
    for (const kind of Object.keys(PEERS)) {
      if (!wanted.has(kind)) continue;
      /** @type {Peer} */
      let peer;
      try {
        peer = await /** @type {(up: Upstreams) => Promise<Peer>} */ (PEERS[kind])(up);
      } catch (e) {
        console.log(`${kind}: left out: ${e instanceof Error ? e.message.split('\n')[0] : e}`);
        continue;
      }
      try {
        const upload = await withCpu(peer.pid, upPid, () => tcpUpload(peer.tcp, bulkBytes));
        const download = await withCpu(peer.pid, upPid, () => tcpDownload(peer.tcp, bulkBytes));
        const conns = await withCpu(peer.pid, upPid, () => connectRate(peer.tcp, seconds, concurrency));
        const udp = peer.udp === null ? null : await withCpu(peer.pid, upPid, () => udpRate(/** @type {number} */ (peer.udp), seconds, udpClients));
        const row = {
          peer: peer.name,
          upload_mib_s: bulkBytes / MiB / upload.result,
          download_mib_s: bulkBytes / MiB / download.result,
          bulk_cpu_s_per_gib: upload.proxyCpu === null || download.proxyCpu === null ? null : ((upload.proxyCpu + download.proxyCpu) / 2) * (1024 / (bulkBytes / MiB)),
          connections_s: conns.result.count / conns.result.seconds,
          connect_p50_ms: conns.result.latency.percentile(50),
          connect_p99_ms: conns.result.latency.percentile(99),
          connect_errors: conns.result.errors,
          connect_cpu_s_per_10k: conns.proxyCpu === null ? null : (conns.proxyCpu / conns.result.count) * 10_000,
          udp_rr_s: udp ? udp.result.count / udp.result.seconds : null,
          udp_p50_ms: udp ? udp.result.latency.percentile(50) : null,
          udp_p99_ms: udp ? udp.result.latency.percentile(99) : null,
          udp_lost: udp ? udp.result.errors : null,
          udp_cpu_s_per_10k: udp && udp.proxyCpu !== null ? (udp.proxyCpu / udp.result.count) * 10_000 : null,
        };
        rows.push(row);
        console.log(`${peer.name}: done`);
      } finally {
        await peer.stop();
      }
    }
  } finally {
    await upstream.child.stop();
    await udpEcho.child.stop();
  }

  const direct = rows.find((r) => r.peer === 'direct');
  /** @param {Record<string, unknown>} r @param {string} k */
  const vs = (r, k) => (direct && r !== direct && typeof r[k] === 'number' && typeof direct[k] === 'number' ? ` (${(/** @type {number} */ (r[k]) / /** @type {number} */ (direct[k])).toFixed(2)}x)` : '');
  /** @param {unknown} v @param {number} [d] */
  const n = (v, d) => fmt(typeof v === 'number' ? v : null, d);
  console.log(`\nTCP bulk ${bulkBytes / MiB} MiB each way; connection rate and UDP request/response for ${seconds} s; ${concurrency} connect loops; ${udpClients} UDP clients; ${os.cpus().length} cores, Node ${process.versions.node}\n`);
  console.log('| peer | upload MiB/s | download MiB/s | proxy CPU s/GiB | connections/s | connect p50/p99 ms | CPU s/10k conns | UDP req/s | UDP p50/p99 ms | UDP lost | CPU s/10k UDP |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(
      `| ${r.peer} | ${n(r.upload_mib_s, 0)}${vs(r, 'upload_mib_s')} | ${n(r.download_mib_s, 0)}${vs(r, 'download_mib_s')} | ${n(r.bulk_cpu_s_per_gib, 2)} | ` +
        `${n(r.connections_s, 0)}${vs(r, 'connections_s')} | ${n(r.connect_p50_ms, 2)} / ${n(r.connect_p99_ms, 2)} | ${n(r.connect_cpu_s_per_10k, 2)} | ` +
        `${n(r.udp_rr_s, 0)}${vs(r, 'udp_rr_s')} | ${n(r.udp_p50_ms, 3)} / ${n(r.udp_p99_ms, 3)} | ${n(r.udp_lost, 0)} | ${n(r.udp_cpu_s_per_10k, 2)} |`,
    );
  }
  if (values.json) writeFileSync(values.json, JSON.stringify({ date: new Date().toISOString(), bulkBytes, seconds, workers, concurrency, udpClients, rows }, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
