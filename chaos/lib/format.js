/** @param {number | null} kib */
export const formatRss = (kib) => (kib === null ? '—' : `${(kib / 1024).toFixed(0)} MiB`);
