/**
 * What a running process cannot take from a reloaded config. Clusters, endpoints, routes, filters,
 * limits, timeouts and the log level apply at once; these need a restart, and a reload that changes
 * them is refused as a whole (the old config keeps running), with one problem per field:
 *
 * - a listener added or removed, or its protocol, address, port or codec changed: every worker would have to
 *   open or close sockets, and a port that cannot be bound would leave the process half-configured;
 * - `workers`: the thread count is fixed at start;
 * - `capacity.*`: SharedState is laid out once;
 * - `worker_heap.young_generation_mb`: a thread's heap limits are set when it starts;
 * - `admin.address` / `admin.port`: the admin API would have to move under the operator's feet;
 * - h2 added to or removed from a TLS listener's `tls.alpn`: its HTTP/2 side exists or not from the start.
 */
import { httpCodecOf, type Config, type ConfigProblem } from '@pillion/core';

const RESTART = 'needs a restart to change; the running config was kept';

/** Problems that refuse a reload from `current` to `next`; empty when it may be applied. */
export function reloadProblems(current: Config, next: Config, runningWorkers: number, availableCores: number): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const nextWorkers = next.workers === 'auto' ? availableCores : next.workers;
  if (nextWorkers !== runningWorkers) out.push({ path: 'workers', message: `is ${nextWorkers}, running with ${runningWorkers}: ${RESTART}` });
  for (const k of ['max_clusters', 'max_endpoints', 'max_listeners', 'max_routes'] as const) {
    if (current.capacity[k] !== next.capacity[k]) out.push({ path: `capacity.${k}`, message: RESTART });
  }
  if (current.worker_heap.young_generation_mb !== next.worker_heap.young_generation_mb) out.push({ path: 'worker_heap.young_generation_mb', message: RESTART });
  if (current.admin.address !== next.admin.address) out.push({ path: 'admin.address', message: RESTART });
  if (current.admin.port !== next.admin.port) out.push({ path: 'admin.port', message: RESTART });

  const before = new Map(current.listeners.map((l) => [l.name, l]));
  const names = new Set<string>();
  next.listeners.forEach((l, i) => {
    names.add(l.name);
    const old = before.get(l.name);
    if (!old) {
      out.push({ path: `listeners[${i}]`, message: `adds listener "${l.name}", which ${RESTART}` });
      return;
    }
    for (const k of ['protocol', 'address', 'port'] as const) {
      if (old[k] !== l[k]) out.push({ path: `listeners[${i}].${k}`, message: `was ${JSON.stringify(old[k])}: ${RESTART}` });
    }
    // The codec owns the listening socket: another one means closing and binding the port again.
    if (old.protocol === 'http' && l.protocol === 'http' && httpCodecOf(old) !== httpCodecOf(l)) {
      out.push({ path: `listeners[${i}].codec`, message: `was ${JSON.stringify(httpCodecOf(old))}: ${RESTART}` });
    }
    // An HTTP listener with tls is served by an HTTPS server: adding or removing tls means another server.
    // (Its certificates and options change on a reload like any other field.)
    if (old.protocol === 'http' && l.protocol === 'http' && httpCodecOf(old) === httpCodecOf(l) && (old.tls === undefined) !== (l.tls === undefined)) {
      out.push({ path: `listeners[${i}].tls`, message: `was ${old.tls === undefined ? 'absent' : 'set'}: ${RESTART}` });
    } else if (old.protocol === 'http' && l.protocol === 'http' && old.tls !== undefined && l.tls !== undefined && old.tls.handshake_timeout !== l.tls.handshake_timeout) {
      // node:tls takes a server's handshake timeout only when the server is made.
      out.push({ path: `listeners[${i}].tls.handshake_timeout`, message: `was ${old.tls.handshake_timeout} ms: ${RESTART}` });
    } else if (old.protocol === 'http' && l.protocol === 'http' && old.tls !== undefined && l.tls !== undefined && old.tls.alpn.includes('h2') !== l.tls.alpn.includes('h2')) {
      // The listener's HTTP/2 side is made (or not) when it starts.
      out.push({ path: `listeners[${i}].tls.alpn`, message: `${old.tls.alpn.includes('h2') ? 'offered' : 'did not offer'} h2: ${RESTART}` });
    }
  });
  for (const name of before.keys()) {
    if (!names.has(name)) out.push({ path: 'listeners', message: `removes listener "${name}", which ${RESTART}` });
  }
  return out;
}
