// Number formats shared by the console lines and the markdown tables.

/** @param {number | null | undefined} n */
export const fmtInt = (n) => (n === null || n === undefined ? '—' : Math.round(n).toLocaleString('en-US'));

/** Milliseconds with the precision the size deserves. @param {number | null | undefined} n */
export function fmtMs(n) {
  if (n === null || n === undefined) return '—';
  // Decide on the rounded value, so 99.98 reads "100", not "100.0".
  if (Number(n.toFixed(2)) < 10) return n.toFixed(2);
  if (Number(n.toFixed(1)) < 100) return n.toFixed(1);
  return n.toFixed(0);
}

/** CPU seconds. @param {number | null | undefined} n */
export function fmtCpu(n) {
  if (n === null || n === undefined) return '—';
  return n < 1 ? n.toFixed(3) : n.toFixed(2);
}

/** KiB shown as MiB. @param {number | null | undefined} kib */
export function fmtMiB(kib) {
  if (kib === null || kib === undefined) return '—';
  const mib = kib / 1024;
  return mib < 10 ? mib.toFixed(1) : mib.toFixed(0);
}

/** @param {number | null | undefined} r */
export const fmtRatio = (r) => (r === null || r === undefined ? '' : `${r.toFixed(2)}×`);

/** A fraction of one core as a percentage. @param {number | null | undefined} f */
export const fmtPct = (f) => (f === null || f === undefined ? '—' : `${Math.round(f * 100)}%`);
