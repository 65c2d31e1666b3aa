// The order of runs: every round visits every peer once (A B C, then B C A, ...), so a
// drift in the machine's load over time spreads over all peers instead of landing on one.

/**
 * @template T
 * @param {ReadonlyArray<T>} peers
 * @param {number} rounds
 * @returns {T[]} the runs in order
 */
export function interleave(peers, rounds) {
  /** @type {T[]} */
  const out = [];
  const n = peers.length;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < n; i++) out.push(peers[(i + r) % n]);
  }
  return out;
}
