/**
 * The endpoints workers run with, from what the operator declared: the config file's and the admin
 * API's endpoints, with host names resolved to addresses here, once per change of the config (workers
 * connect to addresses and never resolve), and the DNS answers of discovery clusters.
 *
 * A host name in `endpoints[].address` is looked up with `dns.lookup` (so /etc/hosts applies, as it
 * did when each connection resolved it), IPv4 first when the name has both, at start, at each reload
 * and at each admin API change. The endpoint keeps the name as its TLS server name and health-check
 * Host, as it would have as an address.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { endpointKey, type Config, type ConfigProblem, type EndpointConfig } from '@pillion/core';
import type { EndpointSource, RuntimeSnapshot } from '../messages.js';
import type { DnsDiscovery } from './dns-discovery.js';

export type HostLookup = (name: string) => Promise<{ address: string; family: number }[]>;

/** Where a running endpoint came from; `dns`, or undefined for the config's (or the admin API's: decided when annotating). */
interface Origin {
  readonly source?: 'dns';
  readonly hostname?: string;
}

export class EndpointSources {
  /** host name → the address it resolved to at its last lookup */
  private readonly addresses = new Map<string, string>();
  /** Clusters whose endpoints the admin API set last (a reload of the file sets them back). */
  private readonly adminSet = new Set<string>();
  /** cluster → endpoint key → where it came from, for the running effective config */
  private origins = new Map<string, Map<string, Origin>>();

  constructor(private readonly lookup: HostLookup = (name) => dnsLookup(name, { all: true, verbatim: true })) {}

  /**
   * Looks up every host name among `endpoints` (at `path`: a cluster's endpoints in the config, or an
   * admin API body). Problems name the address field; an endpoint whose name resolves to the address
   * of another endpoint of the list is one too (it would be the same endpoint twice).
   */
  async resolve(endpoints: readonly EndpointConfig[], path: (j: number) => string): Promise<ConfigProblem[]> {
    const problems: ConfigProblem[] = [];
    const found = await Promise.all(
      endpoints.map(async (e) => {
        if (isIP(e.address) !== 0) return { address: e.address };
        try {
          const all = await this.lookup(e.address);
          const pick = all.find((a) => a.family === 4) ?? all[0];
          return pick ? { address: pick.address } : { error: 'resolves to no address' };
        } catch (err) {
          return { error: `cannot be resolved (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
        }
      }),
    );
    const seen = new Map<string, number>();
    found.forEach((f, j) => {
      const e = endpoints[j]!;
      if ('error' in f) {
        problems.push({ path: `${path(j)}.address`, message: `"${e.address}" ${f.error}` });
        return;
      }
      if (f.address !== e.address) this.addresses.set(e.address, f.address);
      const key = endpointKey({ address: f.address, port: e.port });
      const other = seen.get(key);
      if (other !== undefined) problems.push({ path: `${path(j)}.address`, message: `"${e.address}" resolves to ${key}, the same endpoint as ${path(other)}` });
      else seen.set(key, j);
    });
    return problems;
  }

  /** Every host name of the config's clusters (discovery clusters have none). */
  resolveConfig(config: Config): Promise<ConfigProblem[]> {
    return Promise.all(config.clusters.map((c, i) => this.resolve(c.endpoints, (j) => `clusters[${i}].endpoints[${j}]`))).then((p) => p.flat());
  }

  /** Whether the config names a host name anywhere in its endpoints, or has a discovery cluster. */
  static needsResolution(config: Config): boolean {
    return config.clusters.some((c) => c.discovery !== undefined || c.endpoints.some((e) => isIP(e.address) === 0));
  }

  setByAdmin(cluster: string): void {
    this.adminSet.add(cluster);
  }

  /** A reload of the file: every cluster's endpoints are the file's again. Returns what was set, for `restoreAdmin` should the reload be refused. */
  clearAdmin(): Set<string> {
    const was = new Set(this.adminSet);
    this.adminSet.clear();
    return was;
  }

  restoreAdmin(clusters: Set<string>): void {
    for (const c of clusters) this.adminSet.add(c);
  }

  /**
   * The config workers run: host names replaced by their addresses (an endpoint whose name has not
   * been resolved is left out; `resolve` runs first wherever that matters), discovery clusters given
   * their DNS endpoints. Records where each endpoint came from for `annotate`.
   */
  effective(declared: Config, dns: DnsDiscovery | undefined): Config {
    const origins = new Map<string, Map<string, Origin>>();
    const clusters = declared.clusters.map((c) => {
      const byKey = new Map<string, Origin>();
      origins.set(c.name, byKey);
      if (c.discovery) {
        const endpoints: EndpointConfig[] = (dns?.endpoints(c.name) ?? []).map((e) => {
          byKey.set(endpointKey(e), { source: 'dns', hostname: e.hostname });
          return { address: e.address, port: e.port, weight: e.weight, zone: '', priority: e.priority };
        });
        return { ...c, endpoints };
      }
      const endpoints: EndpointConfig[] = [];
      for (const e of c.endpoints) {
        if (isIP(e.address) !== 0) {
          byKey.set(endpointKey(e), {});
          endpoints.push(e);
          continue;
        }
        const address = this.addresses.get(e.address);
        if (address === undefined) continue;
        const key = endpointKey({ address, port: e.port });
        if (byKey.has(key)) continue;
        byKey.set(key, { hostname: e.address });
        endpoints.push({ ...e, address });
      }
      return { ...c, endpoints };
    });
    this.origins = origins;
    return { ...declared, clusters };
  }

  /** Writes each endpoint's source and host name into the snapshot built from the last `effective` config. */
  annotate(snapshot: RuntimeSnapshot): RuntimeSnapshot {
    for (const c of snapshot.clusters) {
      const byKey = this.origins.get(c.name);
      const declared: EndpointSource = this.adminSet.has(c.name) ? 'admin' : 'config';
      for (const e of c.endpoints) {
        const o = byKey?.get(e.key);
        e.source = o?.source ?? declared;
        if (o?.hostname !== undefined) e.hostname = o.hostname;
      }
    }
    return snapshot;
  }
}
