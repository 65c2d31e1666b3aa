import type { LbHost } from './types.js';

/**
 * Host indices ordered by key (then by index, for duplicate keys). Consistent-hash tables are
 * built in this order so they come out the same whatever order the endpoints were listed in.
 */
export function byKey(hosts: readonly LbHost[]): Int32Array {
  const order = Array.from({ length: hosts.length }, (_, i) => i);
  order.sort((a, b) => {
    const ka = hosts[a].key;
    const kb = hosts[b].key;
    return ka < kb ? -1 : ka > kb ? 1 : a - b;
  });
  return Int32Array.from(order);
}
