/**
 * Active health checks, run once per process (in the supervisor), not once per worker: one probe
 * loop per endpoint of every cluster with a `health_check`. Results go through the shared threshold
 * rule (`healthy_threshold` passes in a row make an endpoint healthy, `unhealthy_threshold` failures
 * make it unhealthy) and land in SharedState: the HEALTH_ACTIVE_FAILED flag, the streak in
 * `hc_consecutive`, and a bump of the cluster's membership generation on every flip, so every
 * worker rebuilds its balancer before its next pick.
 *
 * A new endpoint starts HEALTH_UNKNOWN (not chosen unless the cluster is in panic) and its first
 * result settles it at once, as Envoy treats a host's first check; after that the thresholds apply.
 *
 * Checks speak the cluster's `protocol` (HTTP/2 for h2c, h2 and auto; gRPC checks always).
 *
 * A cluster with `tls` is checked over TLS with its own settings: the checker keeps one ClusterTls
 * (one secure context) per cluster, rebuilt from each snapshot's material, so a rotated client
 * certificate or CA is used by the next check.
 */
import {
  HEALTH_ACTIVE_FAILED,
  HEALTH_UNKNOWN,
  nextCheckDelay,
  packThreshold,
  packedConsecutive,
  packedFlipped,
  packedHealthy,
  parseExpectedStatuses,
  stepPackedThreshold,
  type ClusterConfig,
  type SharedState,
  type UpstreamProtocol,
} from '@pillion/core';
import type { Logger } from '../logger.js';
import type { RuntimeSnapshot } from '../messages.js';
import { ClusterTls } from '../worker/worker-tls.js';
import { alpnOf } from './health-probe-h2.js';
import { runProbe, type ProbeResult, type ProbeSpec } from './health-probe.js';

type HealthCheckConfig = NonNullable<ClusterConfig['health_check']>;

export interface HealthCheckerOptions {
  /** Uniform in [0, 1), for jitter. */
  random?: () => number;
  now?: () => number;
  /** Runs one check; tests may replace it. */
  probe?: (spec: ProbeSpec, address: string, port: number, timeoutMs: number) => Promise<ProbeResult>;
}

interface Target {
  readonly cluster: string;
  readonly clusterSlot: number;
  readonly slot: number;
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly config: HealthCheckConfig;
  readonly spec: ProbeSpec;
  /** What the target was made from: a change restarts it. */
  readonly signature: string;
  timer: NodeJS.Timeout | null;
  stopped: boolean;
}

/**
 * `tls`: the cluster's TLS, when it has some; `protocol`: the cluster's, which the HTTP check speaks
 * and whose ALPN a TLS handshake offers.
 */
export function probeSpecOf(hc: HealthCheckConfig, tls?: ClusterTls, protocol: UpstreamProtocol = 'http1'): ProbeSpec {
  if (hc.http) return { kind: 'http', path: hc.http.path, host: hc.http.host, statuses: parseExpectedStatuses(hc.http.expected_statuses), tls, protocol };
  if (hc.grpc) {
    // Config validation refuses a gRPC check on an http1 cluster; were one to get here, it speaks the HTTP/2 its TLS allows.
    const h2 = protocol === 'http1' ? (tls ? 'h2' : 'h2c') : protocol;
    return { kind: 'grpc', service: hc.grpc.service, authority: hc.grpc.authority, protocol: h2, tls };
  }
  return { kind: 'tcp', tls, alpn: alpnOf(protocol) };
}

export class HealthChecker {
  private readonly targets = new Map<number, Target>();
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly probe: NonNullable<HealthCheckerOptions['probe']>;
  /** The TLS of clusters with `tls`, by name. */
  private readonly tls = new Map<string, ClusterTls>();
  private closed = false;

  constructor(
    private readonly state: SharedState,
    private readonly log: Logger,
    options: HealthCheckerOptions = {},
  ) {
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.probe = options.probe ?? runProbe;
  }

  /** Endpoints being checked, by slot. */
  get checking(): number[] {
    return [...this.targets.keys()];
  }

  /**
   * Starts, stops and restarts checks to match the snapshot. Resolves once every endpoint that
   * started being checked has had its first result.
   */
  sync(snapshot: RuntimeSnapshot): Promise<void> {
    const wanted = new Map<number, Omit<Target, 'timer' | 'stopped'>>();
    const tlsSeen = new Set<string>();
    for (const c of snapshot.clusters) {
      const hc = c.config.health_check;
      if (!hc) {
        for (const e of c.endpoints) this.clearActiveHealth(c.slot, e.slot);
        continue;
      }
      const tls = this.clusterTls(c.name, c.config, snapshot);
      if (tls) tlsSeen.add(c.name);
      const spec = probeSpecOf(hc, tls, c.config.protocol);
      for (const e of c.endpoints) {
        // A change of the cluster's TLS settings or protocol restarts its checks; new material alone does not.
        const signature = JSON.stringify([c.slot, e.address, e.port, e.hostname, hc, c.config.tls, c.config.protocol]);
        const named = e.hostname === undefined ? spec : { ...spec, serverName: e.hostname };
        wanted.set(e.slot, { cluster: c.name, clusterSlot: c.slot, slot: e.slot, key: e.key, address: e.address, port: e.port, config: hc, spec: named, signature });
      }
    }
    for (const name of [...this.tls.keys()]) if (!tlsSeen.has(name)) this.tls.delete(name);
    for (const [slot, t] of this.targets) {
      const w = wanted.get(slot);
      if (w === undefined || w.signature !== t.signature) this.stop(t);
    }
    const firsts: Promise<void>[] = [];
    for (const [slot, w] of wanted) {
      if (this.targets.has(slot)) continue;
      const t: Target = { ...w, timer: null, stopped: false };
      this.targets.set(slot, t);
      firsts.push(this.check(t));
    }
    return Promise.all(firsts).then(() => undefined);
  }

  /**
   * The cluster's TLS with the snapshot's material: the same object across snapshots (a running check
   * loop holds it), its context rebuilt when the material or settings changed. Undefined without `tls`,
   * or (never with a snapshot the supervisor made) without material.
   */
  private clusterTls(name: string, config: ClusterConfig, snapshot: RuntimeSnapshot): ClusterTls | undefined {
    const material = snapshot.tls?.clusters[name];
    if (config.tls === undefined || material === undefined) return undefined;
    let t = this.tls.get(name);
    if (t === undefined || JSON.stringify(t.config) !== JSON.stringify(config.tls)) this.tls.set(name, (t = new ClusterTls(name, config.tls)));
    t.update(config.tls, material);
    return t;
  }

  close(): void {
    this.closed = true;
    for (const t of this.targets.values()) this.stop(t);
  }

  private stop(t: Target): void {
    t.stopped = true;
    if (t.timer) clearTimeout(t.timer);
    t.timer = null;
    if (this.targets.get(t.slot) === t) this.targets.delete(t.slot);
  }

  /** Runs one check, records it, and schedules the next. */
  private async check(t: Target): Promise<void> {
    let result: ProbeResult;
    try {
      result = await this.probe(t.spec, t.address, t.port, t.config.timeout);
    } catch (e) {
      result = { ok: false, detail: (e as Error).message };
    }
    if (t.stopped || this.closed) return;
    this.observe(t, result);
    const delay = nextCheckDelay(t.config.interval, t.config.jitter, this.random());
    t.timer = setTimeout(() => {
      t.timer = null;
      void this.check(t);
    }, delay);
    t.timer.unref();
  }

  /** Feeds one result through the threshold rule into SharedState. */
  observe(t: Pick<Target, 'cluster' | 'clusterSlot' | 'slot' | 'key' | 'config'>, result: ProbeResult): void {
    const s = this.state;
    const health = s.endpoint(t.slot, 'health');
    let healthy: boolean;
    let flipped: boolean;
    if (health & HEALTH_UNKNOWN) {
      healthy = result.ok;
      flipped = true;
      s.setEndpoint(t.slot, 'hc_consecutive', packThreshold(healthy, 0));
    } else {
      // The flag is the truth; the slot keeps the streak.
      const word = packThreshold((health & HEALTH_ACTIVE_FAILED) === 0, packedConsecutive(s.endpoint(t.slot, 'hc_consecutive')));
      const next = stepPackedThreshold(word, result.ok, t.config.healthy_threshold, t.config.unhealthy_threshold);
      s.setEndpoint(t.slot, 'hc_consecutive', next);
      healthy = packedHealthy(next);
      flipped = packedFlipped(word, next);
    }
    if (!flipped) return;
    if (healthy) {
      s.setEndpointTime(t.slot, 'healthy_since', this.now());
      s.andEndpoint(t.slot, 'health', ~(HEALTH_ACTIVE_FAILED | HEALTH_UNKNOWN));
      this.log.info({ cluster: t.cluster, endpoint: t.key }, 'endpoint passed health checks');
    } else {
      s.orEndpoint(t.slot, 'health', HEALTH_ACTIVE_FAILED);
      s.andEndpoint(t.slot, 'health', ~HEALTH_UNKNOWN);
      this.log.warn({ cluster: t.cluster, endpoint: t.key, reason: result.detail }, 'endpoint failed health checks');
    }
    s.addCluster(t.clusterSlot, 'membership_generation', 1);
  }

  /** A cluster without checks (or whose checks were removed by a reload): nothing holds its endpoints out. */
  private clearActiveHealth(clusterSlot: number, slot: number): void {
    const before = this.state.andEndpoint(slot, 'health', ~(HEALTH_ACTIVE_FAILED | HEALTH_UNKNOWN));
    this.state.setEndpoint(slot, 'hc_consecutive', 0);
    if (before & (HEALTH_ACTIVE_FAILED | HEALTH_UNKNOWN)) this.state.addCluster(clusterSlot, 'membership_generation', 1);
  }
}
