/**
 * A process in miniature for balancer tests: one SharedState, the supervisor's slot registry, and
 * any number of "workers" (ClusterRuntime instances over the same state), with injected clocks and
 * random sources so every pick is exact.
 */
import { HeaderList, SharedState, StatsWriter, validateConfig, type Config, type PickRequest } from '@pillion/core';
import { ClusterRuntime } from '../src/worker/cluster-runtime.js';
import { SlotRegistry } from '../src/supervisor/slot-registry.js';
import type { RuntimeSnapshot } from '../src/messages.js';

export interface ClusterDoc {
  name?: string;
  endpoints: { address?: string; port: number; weight?: number; zone?: string }[];
  lb?: Record<string, unknown>;
  health_check?: Record<string, unknown>;
  outlier_detection?: Record<string, unknown>;
}

export function configWith(cluster: ClusterDoc): Config {
  const c = { name: 'c', ...cluster, endpoints: cluster.endpoints.map((e) => ({ address: '127.0.0.1', ...e })) };
  const r = validateConfig({
    workers: 2,
    listeners: [{ name: 'web', protocol: 'http', port: 1, routes: [{ match: { prefix: '/' }, cluster: c.name }] }],
    clusters: [c],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config;
}

export class Clock {
  constructor(public t = 1_000_000) {}
  now = () => this.t;
}

export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Process {
  readonly state = SharedState.create({ maxClusters: 4, maxEndpoints: 32, maxListeners: 2, maxThreads: 3 });
  readonly slots = new SlotRegistry(this.state);
  readonly clock = new Clock();
  snapshot: RuntimeSnapshot;

  constructor(config: Config) {
    this.snapshot = this.slots.snapshot(config);
  }

  /** One worker's runtime for the first cluster. */
  worker(thread: number, random: () => number = seeded(thread + 1)): ClusterRuntime {
    const stats: StatsWriter = this.state.statsWriter(thread);
    return new ClusterRuntime(this.snapshot.clusters[0]!, this.state, stats, 65536, undefined, { random, now: this.clock.now });
  }

  slotOf(port: number): number {
    return this.snapshot.clusters[0]!.endpoints.find((e) => e.port === port)!.slot;
  }

  bump(): void {
    this.state.addCluster(this.snapshot.clusters[0]!.slot, 'membership_generation', 1);
  }
}

export function request(headers: Record<string, string> = {}, clientAddress = '10.0.0.1'): PickRequest {
  const raw: string[] = [];
  for (const [k, v] of Object.entries(headers)) raw.push(k, v);
  return { headers: new HeaderList(raw), clientAddress, lbScratch: null };
}

/** Port of the endpoint each pick chose (-1 for none). */
export function picks(rt: ClusterRuntime, n: number, req: () => PickRequest = () => request()): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(rt.pick(req(), 0)?.port ?? -1);
  return out;
}
