/**
 * Asking DNS for a discovery cluster's names, once per process (the supervisor; workers never resolve).
 *
 * Where an answer comes from:
 * - with `resolvers`, those servers (`dns.Resolver`, which gives TTLs); when they cannot answer a name
 *   (no such name, no records, refused, no answer) and the name is in /etc/hosts, `dns.lookup`, which
 *   reads /etc/hosts (and knows no TTL);
 * - without `resolvers`, `dns.lookup` for a name in /etc/hosts (`localhost` and friends), otherwise the
 *   machine's DNS servers (/etc/resolv.conf) through `dns.Resolver`, for the TTLs.
 *
 * NXDOMAIN and "no records of this type" are empty answers; anything else that is not an answer is a
 * failure (see core's dns-refresh for what each does to the endpoints).
 */
import { readFile } from 'node:fs/promises';
import { lookup as dnsLookup, Resolver } from 'node:dns/promises';
import { parseResolver, type DnsFamily, type SrvRecord } from '@pillion/core';

/** Addresses of a name, or why there are none. */
export type AddressAnswer =
  | { kind: 'ok'; addresses: string[]; /** Seconds; undefined from /etc/hosts. */ ttl?: number }
  | { kind: 'empty'; reason: string }
  | { kind: 'failure'; reason: string };

export type SrvAnswer = { kind: 'ok'; records: SrvRecord[] } | { kind: 'empty'; reason: string } | { kind: 'failure'; reason: string };

/** What the discovery asks; tests give their own. */
export interface NameResolver {
  addresses(name: string, family: DnsFamily): Promise<AddressAnswer>;
  srv(name: string): Promise<SrvAnswer>;
  /** Cancels queries in flight (they fail). */
  cancel(): void;
}

/** dns error codes that mean "the name has no such records", not "the question went unanswered". */
const EMPTY_CODES = new Set(['ENOTFOUND', 'ENODATA']);

export interface SystemResolverOptions {
  /** `discovery.resolvers`; unset: the machine's. */
  servers?: readonly string[] | undefined;
  timeoutMs: number;
  tries: number;
  /** The hosts file names are looked for in (default /etc/hosts). */
  hostsFile?: string;
  /** dns.lookup; tests may give their own. */
  lookup?: (name: string) => Promise<{ address: string; family: number }[]>;
}

export class SystemNameResolver implements NameResolver {
  private readonly resolver: Resolver;
  private readonly hasServers: boolean;
  private readonly hostsFile: string;
  private readonly lookup: (name: string) => Promise<{ address: string; family: number }[]>;

  constructor(opts: SystemResolverOptions) {
    this.resolver = new Resolver({ timeout: opts.timeoutMs, tries: opts.tries });
    this.hasServers = opts.servers !== undefined && opts.servers.length > 0;
    // The config was validated: every entry parses.
    if (this.hasServers) this.resolver.setServers(opts.servers!.map((s) => (parseResolver(s) as { value: string }).value ?? s));
    this.hostsFile = opts.hostsFile ?? '/etc/hosts';
    this.lookup = opts.lookup ?? ((name) => dnsLookup(name, { all: true, verbatim: true }));
  }

  async addresses(name: string, family: DnsFamily): Promise<AddressAnswer> {
    if (!this.hasServers && (await this.inHostsFile(name))) return this.fromLookup(name, family);
    const answer = await this.fromServers(name, family);
    if (answer.kind !== 'ok' && this.hasServers && (await this.inHostsFile(name))) return this.fromLookup(name, family);
    return answer;
  }

  async srv(name: string): Promise<SrvAnswer> {
    try {
      const records = await this.resolver.resolveSrv(name);
      if (records.length === 0) return { kind: 'empty', reason: 'ENODATA' };
      return { kind: 'ok', records: records.map((r) => ({ name: r.name, port: r.port, priority: r.priority, weight: r.weight })) };
    } catch (e) {
      return classify(e);
    }
  }

  cancel(): void {
    this.resolver.cancel();
  }

  private async fromServers(name: string, family: DnsFamily): Promise<AddressAnswer> {
    const ask = async (v: 4 | 6): Promise<AddressAnswer> => {
      try {
        const records = v === 4 ? await this.resolver.resolve4(name, { ttl: true }) : await this.resolver.resolve6(name, { ttl: true });
        if (records.length === 0) return { kind: 'empty', reason: 'ENODATA' };
        return { kind: 'ok', addresses: records.map((r) => r.address), ttl: Math.min(...records.map((r) => r.ttl)) };
      } catch (e) {
        return classify(e);
      }
    };
    if (family === 'v4') return ask(4);
    if (family === 'v6') return ask(6);
    const v4 = await ask(4);
    if (family === 'v4-preferred' && v4.kind !== 'empty') return v4;
    const v6 = await ask(6);
    if (family === 'v4-preferred') return v6;
    return merge(v4, v6);
  }

  private async fromLookup(name: string, family: DnsFamily): Promise<AddressAnswer> {
    let all: { address: string; family: number }[];
    try {
      all = await this.lookup(name);
    } catch (e) {
      return classify(e);
    }
    const v4 = all.filter((a) => a.family === 4).map((a) => a.address);
    const v6 = all.filter((a) => a.family === 6).map((a) => a.address);
    const addresses = family === 'v4' ? v4 : family === 'v6' ? v6 : family === 'v4-preferred' ? (v4.length ? v4 : v6) : [...v4, ...v6];
    return addresses.length ? { kind: 'ok', addresses } : { kind: 'empty', reason: 'ENODATA' };
  }

  /** Read at each question, so an edit of the file applies at the next refresh. */
  private async inHostsFile(name: string): Promise<boolean> {
    let text: string;
    try {
      text = await readFile(this.hostsFile, 'utf8');
    } catch {
      return false;
    }
    return hostsFileNames(text).has(name.toLowerCase().replace(/\.$/, ''));
  }
}

/** Every host name a hosts file lists (lower case). */
export function hostsFileNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const fields = line.replace(/#.*/, '').trim().split(/\s+/);
    for (let i = 1; i < fields.length; i++) names.add(fields[i]!.toLowerCase());
  }
  return names;
}

function classify(e: unknown): { kind: 'empty' | 'failure'; reason: string } {
  const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  return { kind: EMPTY_CODES.has(code) ? 'empty' : 'failure', reason: code };
}

/** Both families' answers: records from either; a failure of either fails the whole (the set would be half). */
function merge(a: AddressAnswer, b: AddressAnswer): AddressAnswer {
  if (a.kind === 'failure') return a;
  if (b.kind === 'failure') return b;
  if (a.kind === 'empty') return b;
  if (b.kind === 'empty') return a;
  return { kind: 'ok', addresses: [...a.addresses, ...b.addresses], ttl: Math.min(a.ttl ?? Infinity, b.ttl ?? Infinity) };
}
