// What the bench prints while it runs.
import { fmtCpu, fmtInt, fmtMiB, fmtMs, fmtPct } from './format.js';

/**
 * @param {string} id
 * @param {import('./types.js').Sample} s
 * @param {number} [width] of the id column: the longest id of the scenario
 */
export function formatSampleLine(id, s, width = 12) {
  return (
    `  ${id.padEnd(width)} ${fmtInt(s.rps).padStart(8)} req/s  p50 ${fmtMs(s.p50).padStart(6)} ms  ` +
    `p99 ${fmtMs(s.p99).padStart(6)} ms  errors ${String(s.errors).padStart(3)}  ` +
    `cpu ${fmtCpu(s.cpuPer10k).padStart(6)} s/10k  rss under load ${fmtMiB(s.loadRssKiB).padStart(5)} MiB ` +
    `(peak ${fmtMiB(s.rssKiB)})  load gen ${fmtPct(s.loadCpu)}`
  );
}

/**
 * The peers' idle RSS, one line; null when no peer had a process to read.
 * @param {{ id: string, idle: import('./run-scenario.js').IdleRss | null }[]} peers
 * @returns {string | null}
 */
export function formatIdleLine(peers) {
  const read = peers.filter((p) => p.idle !== null);
  if (!read.length) return null;
  const one = (/** @type {{ id: string, idle: import('./run-scenario.js').IdleRss }} */ p) =>
    `${p.id} ${fmtMiB(p.idle.rssKiB)}${p.idle.settled ? '' : ' (still moving)'}`;
  return `  idle RSS, MiB: ${read.map((p) => one(/** @type {any} */ (p))).join(', ')}`;
}

/**
 * The warning every run prints on a small machine (and the doc repeats).
 * @param {number} cores
 * @param {string} [load]  the HTTP/1.1 load generator: autocannon or wrk
 */
export function sharedCpuNote(cores, load = 'autocannon') {
  const gen = load === 'wrk' ? 'wrk, one thread' : 'autocannon, one Node thread';
  return (
    `The load generator (${gen}), the upstream and the proxy share this machine's ${cores} ` +
    `core${cores === 1 ? '' : 's'}. Throughput and latency of the fastest peers are capped by the load generator, ` +
    `and multi-worker runs compete with it for the same cores. CPU seconds per 10k requests is read from the ` +
    `proxy's own processes and holds up better on a shared machine: compare proxies by that column first.`
  );
}
