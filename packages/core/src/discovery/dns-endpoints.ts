/**
 * The endpoints an answer stands for, per discovery type:
 *
 * - strict-dns: every address of the name, each an endpoint on the name's port;
 * - logical-dns: one address of the name, kept while the name still resolves to it (so connections
 *   are not moved for nothing when the answer order rotates), otherwise the lowest one;
 * - srv: each target's addresses on the record's port, the record's weight as the endpoint weight and
 *   its priority as the endpoint priority.
 */
import { endpointKey, sortEndpoints, type DnsEndpoint } from './dns-refresh.js';

/** Endpoint weights are 1-128; larger SRV weights are scaled down in proportion. */
export const MAX_ENDPOINT_WEIGHT = 128;

export function strictDnsEndpoints(hostname: string, port: number, addresses: readonly string[]): DnsEndpoint[] {
  const unique = [...new Set(addresses)];
  return sortEndpoints(unique.map((address) => ({ address, port, weight: 1, priority: 0, hostname })));
}

/** `current`: the address in use, kept when the answer still has it. */
export function logicalDnsEndpoint(hostname: string, port: number, addresses: readonly string[], current: string | undefined): DnsEndpoint[] {
  if (addresses.length === 0) return [];
  const address = current !== undefined && addresses.includes(current) ? current : [...addresses].sort()[0]!;
  return [{ address, port, weight: 1, priority: 0, hostname }];
}

export interface SrvRecord {
  readonly name: string;
  readonly port: number;
  readonly priority: number;
  readonly weight: number;
}

/**
 * `addressesOf(target)`: the target's addresses (none when it has none). A weight of 0 ("use rarely",
 * RFC 2782) becomes 1, the smallest endpoint weight. When the largest weight is over 128 every weight
 * is scaled by 128 / largest (at least 1). An address:port found under two records keeps the better
 * priority and, at that priority, the larger weight.
 */
export function srvEndpoints(records: readonly SrvRecord[], addressesOf: (target: string) => readonly string[]): DnsEndpoint[] {
  const largest = records.reduce((m, r) => Math.max(m, r.weight), 0);
  const scale = largest > MAX_ENDPOINT_WEIGHT ? MAX_ENDPOINT_WEIGHT / largest : 1;
  const byKey = new Map<string, DnsEndpoint>();
  for (const r of records) {
    const weight = Math.min(MAX_ENDPOINT_WEIGHT, Math.max(1, Math.round(r.weight * scale)));
    for (const address of addressesOf(r.name)) {
      const e: DnsEndpoint = { address, port: r.port, weight, priority: r.priority, hostname: r.name };
      const key = endpointKey(e);
      const had = byKey.get(key);
      if (had === undefined || e.priority < had.priority || (e.priority === had.priority && e.weight > had.weight)) byKey.set(key, e);
    }
  }
  return sortEndpoints([...byKey.values()]);
}
