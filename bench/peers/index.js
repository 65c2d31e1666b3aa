// The peers every scenario is measured against, in table order. A new peer is a file
// exporting a PeerKind, listed here.
import direct from './direct.js';
import pillion, { pillionStrict } from './pillion.js';
import httpProxy from './http-proxy.js';
import nginx from './nginx.js';
import haproxy from './haproxy.js';

/** @type {ReadonlyArray<import('../lib/types.js').PeerKind>} */
export const PEER_KINDS = [direct, pillion, pillionStrict, httpProxy, nginx, haproxy];

/**
 * Concrete peers: multi-worker kinds once with 1 worker and once with `defaultWorkers`
 * (once only when that is 1). Ordered by worker count, then kind, so rows that compare
 * belong together.
 * @param {ReadonlyArray<import('../lib/types.js').PeerKind>} kinds
 * @param {number} defaultWorkers
 * @returns {import('../lib/types.js').PeerVariant[]}
 */
export function peerVariants(kinds, defaultWorkers) {
  /** @type {import('../lib/types.js').PeerVariant[]} */
  const out = [];
  for (const counts of [[1], defaultWorkers > 1 ? [defaultWorkers] : []]) {
    for (const workers of counts) {
      for (const kind of kinds) {
        if (!kind.multiWorker && workers !== 1) continue;
        out.push({ id: kind.multiWorker ? `${kind.name}-${workers}` : kind.name, kind, workers });
      }
    }
  }
  return out;
}

/**
 * Does `--peers` select this variant? Entries name a kind (`nginx`) or one variant (`nginx-2`).
 * @param {import('../lib/types.js').PeerVariant} variant
 * @param {ReadonlyArray<string> | null} wanted
 */
export function peerSelected(variant, wanted) {
  return wanted === null || wanted.includes(variant.kind.name) || wanted.includes(variant.id);
}
