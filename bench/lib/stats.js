// Medians over repeats and ratios to the baseline peer. Pure: the tests feed it tables.

/**
 * Median of the numbers in `values`, ignoring nulls; null when there are none.
 * @param {ReadonlyArray<number | null | undefined>} values
 * @returns {number | null}
 */
export function median(values) {
  const xs = /** @type {number[]} */ (values.filter((v) => typeof v === 'number' && Number.isFinite(v)));
  if (xs.length === 0) return null;
  xs.sort((a, b) => a - b);
  const mid = xs.length >> 1;
  return xs.length % 2 === 1 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

/**
 * The figures a table row shows. idleRssKiB: VmRSS once the peer has settled after start, before
 * any load; loadRssKiB: mean VmRSS during a measured run; rssKiB: peak RSS (VmHWM).
 */
export const METRICS = /** @type {const} */ (['rps', 'p50', 'p99', 'errors', 'cpuPer10k', 'idleRssKiB', 'loadRssKiB', 'rssKiB']);

/**
 * @typedef {Record<typeof METRICS[number], number | null>} Summary
 */

/**
 * Per-metric medians over the runs of one peer. Peak RSS is a high-water mark that only
 * grows over a peer's life, so the row shows its largest reading rather than a median.
 * Idle RSS is read once per peer, before its first run.
 * @param {ReadonlyArray<import('./types.js').Sample>} samples
 * @param {number | null} [idleRssKiB]
 * @returns {Summary}
 */
export function summarize(samples, idleRssKiB = null) {
  const rss = samples.map((s) => s.rssKiB).filter((v) => typeof v === 'number');
  return {
    rps: median(samples.map((s) => s.rps)),
    p50: median(samples.map((s) => s.p50)),
    p99: median(samples.map((s) => s.p99)),
    errors: median(samples.map((s) => s.errors)),
    cpuPer10k: median(samples.map((s) => s.cpuPer10k)),
    idleRssKiB,
    loadRssKiB: median(samples.map((s) => s.loadRssKiB)),
    rssKiB: rss.length ? Math.max(.../** @type {number[]} */ (rss)) : null,
  };
}

/**
 * `value / base`, or null when either is missing or the base is zero (a ratio to nothing says nothing).
 * @param {number | null} value
 * @param {number | null} base
 * @returns {number | null}
 */
export function ratio(value, base) {
  // undefined: a figure results from an older bench did not record
  if (value === null || value === undefined || base === null || base === undefined || base === 0) return null;
  return value / base;
}

/**
 * @param {Summary} summary
 * @param {Summary | null} base
 * @returns {Summary}
 */
export function ratios(summary, base) {
  /** @type {Summary} */
  const out = { rps: null, p50: null, p99: null, errors: null, cpuPer10k: null, idleRssKiB: null, loadRssKiB: null, rssKiB: null };
  if (!base) return out;
  for (const m of METRICS) out[m] = ratio(summary[m], base[m]);
  return out;
}

/**
 * The peer each row is compared with: nginx with the row's worker count (single-process
 * peers compare with one-worker nginx), or the Node peer when nginx is not installed.
 * @param {{ id: string, kind: string, workers: number }} row
 * @param {ReadonlyArray<{ id: string, kind: string, workers: number }>} rows
 * @returns {string | null}
 */
export function baselineFor(row, rows) {
  const nginx = rows.filter((r) => r.kind === 'nginx');
  if (nginx.length) {
    const same = nginx.find((r) => r.workers === row.workers) ?? nginx.find((r) => r.workers === 1) ?? nginx[0];
    return same.id;
  }
  return rows.find((r) => r.kind === 'http-proxy')?.id ?? null;
}
