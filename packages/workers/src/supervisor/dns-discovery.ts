/**
 * The DNS refresh loop of every discovery cluster, in the supervisor: each name of each cluster is
 * asked on its own timer (`refresh`, or the answer's TTL when sooner, less jitter), and when a name's
 * endpoints change the supervisor is told, which applies them through the same path as the admin
 * API's endpoint changes (slots, draining, health checks, warm pools, slow start).
 *
 * What an answer does to the endpoints is core's dns-refresh; this file only times, asks, counts and
 * logs. Logs come once per change of a name's standing, not once per retry.
 */
import {
  INITIAL_DNS_NAME_STATE,
  endpointKey,
  logicalDnsEndpoint,
  observeDnsOutcome,
  parseDiscoveryName,
  refreshDelay,
  sortEndpoints,
  srvEndpoints,
  strictDnsEndpoints,
  type ClusterConfig,
  type DiscoveryConfig,
  type DnsEndpoint,
  type DnsNameState,
  type DnsOutcome,
} from '@pillion/core';
import type { Logger } from '../logger.js';
import { SystemNameResolver, type NameResolver } from './dns-resolver.js';

/** Time and timers, injected so the loop's tests are exact. */
export interface DiscoveryClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const REAL_CLOCK: DiscoveryClock = {
  now: Date.now,
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** What `/metrics` shows of one cluster's discovery. */
export interface DnsClusterStats {
  /** Queries by result: ok (endpoints), empty (no such name or no records), failure (no answer). */
  readonly results: { ok: number; empty: number; failure: number };
  /** Milliseconds since the epoch of the last answer with endpoints; 0: none yet. */
  lastSuccess: number;
  /** Endpoints the cluster has from DNS now. */
  endpoints: number;
  /** Names whose last query failed (or answered empty once) and that keep serving their last good endpoints. */
  staleNames: number;
}

export interface DnsDiscoveryOptions {
  log: Logger;
  /** A change of a cluster's endpoints (not called for the first answers, which `sync` waits for). */
  onChange(cluster: string): void;
  resolverFor?: (d: DiscoveryConfig) => NameResolver;
  clock?: DiscoveryClock;
  /** Uniform in [0, 1), for the jitter. */
  random?: () => number;
}

interface Target {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  state: DnsNameState;
  timer: unknown;
}

class ClusterDiscovery {
  readonly targets: Target[];
  readonly resolver: NameResolver;
  /** Carried over from the settings before, so the counters never go back. */
  readonly stats: DnsClusterStats;
  closed = false;
  started = false;

  constructor(
    readonly cluster: string,
    readonly config: DiscoveryConfig,
    readonly signature: string,
    private readonly opts: Required<DnsDiscoveryOptions>,
    previous: ClusterDiscovery | undefined,
  ) {
    this.resolver = opts.resolverFor(config);
    this.stats = previous?.stats ?? { results: { ok: 0, empty: 0, failure: 0 }, lastSuccess: 0, endpoints: 0, staleNames: 0 };
    this.targets = config.names.map((name) => {
      const parsed = parseDiscoveryName(name, config.type);
      const { host, port } = parsed.ok ? parsed.value : { host: name, port: 0 };
      // A name the cluster had before (same type) keeps its endpoints through a change of the other settings.
      const kept = previous?.config.type === config.type ? previous.targets.find((t) => t.name === name) : undefined;
      return { name, host, port, state: kept?.state ?? INITIAL_DNS_NAME_STATE, timer: undefined };
    });
  }

  /** The cluster's endpoints: every name's, one per address:port (the first name's wins). */
  endpoints(): DnsEndpoint[] {
    const byKey = new Map<string, DnsEndpoint>();
    for (const t of this.targets) for (const e of t.state.endpoints) if (!byKey.has(endpointKey(e))) byKey.set(endpointKey(e), e);
    return sortEndpoints([...byKey.values()]);
  }

  /** First answers of every name, then the timers. */
  async start(): Promise<void> {
    await Promise.all(this.targets.map((t) => this.query(t)));
    this.started = true;
  }

  close(): void {
    this.closed = true;
    for (const t of this.targets) if (t.timer !== undefined) this.opts.clock.clearTimeout(t.timer);
    this.resolver.cancel();
  }

  private async query(t: Target): Promise<void> {
    t.timer = undefined;
    const outcome = await this.ask(t);
    if (this.closed) return;
    const { log, clock } = this.opts;
    const s = this.stats;
    s.results[outcome.kind]++;
    if (outcome.kind === 'ok') s.lastSuccess = clock.now();
    const before = t.state.endpoints;
    const step = observeDnsOutcome(t.state, outcome);
    t.state = step.state;
    const at = { cluster: this.cluster, name: t.name, endpoints: t.state.endpoints.length };
    const reason = outcome.kind === 'ok' ? undefined : outcome.reason;
    switch (step.event) {
      case 'failed':
        log.warn({ ...at, error: reason }, t.state.endpoints.length ? 'DNS query failed; the last good endpoints keep serving' : 'DNS query failed; the name has no endpoints yet');
        break;
      case 'recovered':
        log.info(at, 'DNS query answered again');
        break;
      case 'empty-pending':
        log.warn({ ...at, answer: reason }, 'DNS answer empty; the endpoints stay until the next answer is empty too');
        break;
      case 'emptied':
        log.warn({ ...at, answer: reason }, 'DNS answer empty twice; the name has no endpoints now');
        break;
    }
    if (step.changed) {
      const was = new Set(before.map(endpointKey));
      const now = new Set(t.state.endpoints.map(endpointKey));
      log.info({ ...at, added: [...now].filter((k) => !was.has(k)), removed: [...was].filter((k) => !now.has(k)) }, 'DNS endpoints changed');
    }
    s.endpoints = this.endpoints().length;
    s.staleNames = this.targets.filter((x) => x.state.problem !== null && x.state.endpoints.length > 0).length;
    if (step.changed && this.started) this.opts.onChange(this.cluster);
    const delay = refreshDelay({ refreshMs: this.config.refresh, respectTtl: this.config.respect_ttl, jitterPercent: this.config.jitter_percent }, outcome, this.opts.random);
    t.timer = clock.setTimeout(() => void this.query(t), delay);
  }

  private async ask(t: Target): Promise<DnsOutcome> {
    const { type, family } = this.config;
    try {
      if (type === 'srv') return await this.askSrv(t);
      const a = await this.resolver.addresses(t.host, family);
      if (a.kind !== 'ok') return a;
      const endpoints = type === 'strict-dns' ? strictDnsEndpoints(t.host, t.port, a.addresses) : logicalDnsEndpoint(t.host, t.port, a.addresses, t.state.endpoints[0]?.address);
      return endpoints.length ? { kind: 'ok', endpoints, ttl: a.ttl } : { kind: 'empty', reason: 'ENODATA' };
    } catch (e) {
      return { kind: 'failure', reason: (e as Error).message };
    }
  }

  /** The SRV records, then every target's addresses; one target that fails fails the whole (the set would be partial). */
  private async askSrv(t: Target): Promise<DnsOutcome> {
    const srv = await this.resolver.srv(t.host);
    if (srv.kind !== 'ok') return srv;
    const targets = [...new Set(srv.records.map((r) => r.name))];
    const answers = await Promise.all(targets.map((name) => this.resolver.addresses(name, this.config.family)));
    const addresses = new Map<string, string[]>();
    let ttl: number | undefined;
    for (let i = 0; i < targets.length; i++) {
      const a = answers[i]!;
      if (a.kind === 'failure') return { kind: 'failure', reason: `${targets[i]}: ${a.reason}` };
      if (a.kind === 'ok') {
        addresses.set(targets[i]!, a.addresses);
        if (a.ttl !== undefined) ttl = Math.min(ttl ?? Infinity, a.ttl);
      }
    }
    const endpoints = srvEndpoints(srv.records, (name) => addresses.get(name) ?? []);
    return endpoints.length ? { kind: 'ok', endpoints, ttl } : { kind: 'empty', reason: 'no SRV target has an address' };
  }
}

export class DnsDiscovery {
  private readonly clusters = new Map<string, ClusterDiscovery>();
  private readonly opts: Required<DnsDiscoveryOptions>;

  constructor(opts: DnsDiscoveryOptions) {
    this.opts = {
      resolverFor: (d) => new SystemNameResolver({ servers: d.resolvers, timeoutMs: d.timeout, tries: d.tries }),
      clock: REAL_CLOCK,
      random: Math.random,
      ...opts,
    };
  }

  /**
   * Starts, restarts and stops discovery to match `clusters`. Resolves once every cluster started or
   * changed has had the first answer (or failure) of each of its names; until then the old settings
   * keep running, so a reload never leaves a cluster empty while it asks.
   */
  async sync(clusters: readonly ClusterConfig[]): Promise<void> {
    const wanted = new Map<string, DiscoveryConfig>();
    for (const c of clusters) if (c.discovery) wanted.set(c.name, c.discovery);
    const started: ClusterDiscovery[] = [];
    for (const [name, d] of wanted) {
      const signature = JSON.stringify(d);
      const old = this.clusters.get(name);
      if (old?.signature === signature) continue;
      started.push(new ClusterDiscovery(name, d, signature, this.opts, old));
    }
    await Promise.all(started.map((c) => c.start()));
    for (const c of started) {
      this.clusters.get(c.cluster)?.close();
      this.clusters.set(c.cluster, c);
    }
    for (const [name, c] of this.clusters) {
      if (wanted.has(name)) continue;
      c.close();
      this.clusters.delete(name);
    }
  }

  /** A discovery cluster's endpoints now (none before its first answer). */
  endpoints(cluster: string): DnsEndpoint[] {
    return this.clusters.get(cluster)?.endpoints() ?? [];
  }

  stats(): Map<string, DnsClusterStats> {
    return new Map([...this.clusters].map(([name, c]) => [name, c.stats]));
  }

  close(): void {
    for (const c of this.clusters.values()) c.close();
    this.clusters.clear();
  }
}
