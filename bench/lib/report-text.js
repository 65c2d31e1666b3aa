// What the bench prints while it runs.
import { fmtCpu, fmtInt, fmtMiB, fmtMs, fmtPct } from './format.js';

/**
 * @param {string} id
 * @param {import('./types.js').Sample} s
 */
export function formatSampleLine(id, s) {
  return (
    `  ${id.padEnd(12)} ${fmtInt(s.rps).padStart(8)} req/s  p50 ${fmtMs(s.p50).padStart(6)} ms  ` +
    `p99 ${fmtMs(s.p99).padStart(6)} ms  errors ${String(s.errors).padStart(3)}  ` +
    `cpu ${fmtCpu(s.cpuPer10k).padStart(6)} s/10k  rss ${fmtMiB(s.rssKiB).padStart(5)} MiB  ` +
    `load gen ${fmtPct(s.loadCpu)}`
  );
}

/**
 * The warning every run prints on a small machine (and the doc repeats).
 * @param {number} cores
 */
export function sharedCpuNote(cores) {
  return (
    `The load generator (autocannon, one Node thread), the upstream and the proxy share this machine's ${cores} ` +
    `core${cores === 1 ? '' : 's'}. Throughput and latency of the fastest peers are capped by the load generator, ` +
    `and multi-worker runs compete with it for the same cores. CPU seconds per 10k requests is read from the ` +
    `proxy's own processes and holds up better on a shared machine: compare proxies by that column first.`
  );
}
