/**
 * The supervisor: the main thread of a Pillion process. It loads the config, lays out SharedState,
 * starts one long-running `serve` task per worker thread in a piscina pool (and a new one whenever a
 * thread dies), serves the admin API and turns SIGTERM/SIGINT into a graceful drain.
 *
 * It also runs what must happen once per process rather than once per worker: active health checks,
 * the sweep that ends idle ejections and frees drained endpoints, and config changes (file reloads
 * and the admin API's endpoint calls), which it validates, writes to SharedState and broadcasts.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import {
  ConfigError,
  SharedState,
  formatDuration,
  formatProblem,
  type Config,
  type ConfigProblem,
  type ValidationResult,
} from '@pillion/core';
import { createLogger, type Logger } from '../logger.js';
import { loadUws } from '../uws.js';
import type { FilterCounters } from '../messages.js';
import { CONTROL_CHANNEL, STATUS_CHANNEL, type ControlMessage, type RuntimeSnapshot, type ServeTask, type StatusMessage } from '../messages.js';
import { AdminServer, type AdminReply, type MetricsRegistry } from './admin-server.js';
import { clustersView } from './clusters-view.js';
import { ConfigWatcher } from './config-watcher.js';
import { ConfigChecker } from './config-checker.js';
import { splitEndpointKey } from './endpoint-api.js';
import { EndpointSweeper } from './endpoint-sweeper.js';
import { WeightUpdater } from './weight-updater.js';
import { FilterRegistry } from './filter-registry.js';
import { TlsRegistry } from './tls-registry.js';
import { HealthChecker } from './health-checker.js';
import { DnsDiscovery } from './dns-discovery.js';
import { EndpointSources } from './endpoint-sources.js';
import type { MetricsSource } from './metrics.js';
import { reloadProblems } from './reload-check.js';
import { SlotRegistry } from './slot-registry.js';
import { releaseBreakerProbes } from '../worker/failure-breaker.js';

export interface SupervisorOptions {
  config: Config;
  /** Where the config came from, for logs. */
  source?: string;
  logger?: Logger;
  /** Enables the test-only fault switch on the admin API. */
  faults?: boolean;
  /** Checks reloaded configs and admin API bodies off the main thread; one is made when not given. */
  checker?: ConfigChecker;
  /**
   * Reloading: `reload()` (SIGHUP) re-reads `file`; with `watch` a change to the file does too.
   * `transform` re-applies what the command line overrides.
   */
  reload?: { file: string; watch?: boolean; transform?: (config: Config) => Config };
}

/** Outcome of a config change. */
export type ApplyResult = { ok: true; generation: number } | { ok: false; problems: ConfigProblem[] };

const SERVE_TASK = new URL('../worker/serve.js', import.meta.url).href;
/** How long to wait, after the drain timeout, for workers to finish closing before giving up. */
const DRAIN_GRACE_MS = 5000;
/** How often ended ejections and drained endpoints are looked for. */
const SWEEP_MS = 200;

/** `worker_heap` as Worker resourceLimits; 0 leaves the limit to V8. */
export function workerResourceLimits(config: Config): { maxYoungGenerationSizeMb?: number } {
  const young = config.worker_heap.young_generation_mb;
  return young ? { maxYoungGenerationSizeMb: young } : {};
}

export class Supervisor {
  /** The config as the operator declared it (file, then admin API changes): what `/config` shows and reloads compare with. */
  private declared: Config;
  /** What runs: `declared` with host names resolved and discovery clusters' DNS endpoints filled in. */
  private current: Config;
  readonly workers: number;
  readonly log: Logger;
  private readonly state: SharedState;
  private readonly slots: SlotRegistry;
  private snapshot: RuntimeSnapshot;
  private readonly admin: AdminServer;
  private pool: Piscina | undefined;
  private readonly control = new BroadcastChannel(CONTROL_CHANNEL);
  private readonly status = new BroadcastChannel(STATUS_CHANNEL);
  private readonly listening = new Set<number>();
  private readonly tasks = new Map<number, Promise<void>>();
  private readonly restarts = new Map<number, number>();
  private draining: Promise<number> | undefined;
  private startupFailure: ((e: Error) => void) | undefined;
  private readonly faults: boolean;
  private readonly health: HealthChecker;
  private readonly sweeper: EndpointSweeper;
  private readonly weights: WeightUpdater;
  private readonly filters: FilterRegistry;
  private readonly tls: TlsRegistry;
  private readonly checker: ConfigChecker;
  private readonly sources = new EndpointSources();
  private readonly discovery: DnsDiscovery;
  /** The last problem applying a DNS change, logged once until it changes. */
  private dnsApplyProblem = '';
  /** Each worker's latest filter counters (errors and the filters' own metrics). */
  private readonly filterCounters = new Map<number, FilterCounters>();
  private sweepTimer: NodeJS.Timeout | undefined;
  /** The config generation each running worker has applied. */
  private readonly applied = new Map<number, number>();
  private readonly reloadOptions: SupervisorOptions['reload'];
  private watcher: ConfigWatcher | undefined;
  private readonly reloads = { success: 0, failure: 0 };
  /** Certificate reloads after a watched TLS file changed. */
  private readonly tlsReloads = { success: 0, failure: 0 };
  private started = false;
  adminPort = 0;

  constructor(opts: SupervisorOptions) {
    this.declared = opts.config;
    this.workers = opts.config.workers === 'auto' ? availableParallelism() : opts.config.workers;
    this.log = opts.logger ?? createLogger(opts.config.log.level, { name: 'pillion' });
    this.faults = opts.faults ?? false;
    const cap = opts.config.capacity;
    this.state = SharedState.create({
      maxClusters: cap.max_clusters,
      maxEndpoints: cap.max_endpoints,
      maxListeners: cap.max_listeners,
      maxThreads: this.workers + 1,
      maxRoutes: cap.max_routes,
    });
    this.slots = new SlotRegistry(this.state);
    // Host names and DNS endpoints are resolved in start(); until then the clusters go without them.
    this.current = this.sources.effective(this.declared, undefined);
    this.snapshot = this.sources.annotate(this.slots.snapshot(this.config));
    this.discovery = new DnsDiscovery({ log: this.log, onChange: (cluster) => this.onDnsChange(cluster) });
    this.health = new HealthChecker(this.state, this.log);
    this.sweeper = new EndpointSweeper(this.state, this.slots, this.log, () => this.config.drain_timeout);
    this.weights = new WeightUpdater({ state: this.state, snapshot: () => this.snapshot, workers: this.workers });
    this.filters = new FilterRegistry(opts.source ? dirname(resolve(opts.source)) : process.cwd());
    this.tls = new TlsRegistry(opts.source ? dirname(resolve(opts.source)) : process.cwd());
    this.reloadOptions = opts.reload;
    this.checker = opts.checker ?? new ConfigChecker();
    const metricsSource: MetricsSource = {
      state: this.state,
      snapshot: () => this.snapshot,
      workersRunning: () => this.listening.size,
      reloads: () => this.reloads,
      filterCounters: () => this.filterCounters.values(),
      tls: () => ({ expiries: this.tls.expiries, reloads: this.tlsReloads }),
      dns: () => this.discovery.stats(),
    };
    // prom-client (and its default process metrics) loads on the first scrape, not at start.
    let registry: Promise<MetricsRegistry> | undefined;
    const metrics = () => (registry ??= import('./metrics.js').then((m) => m.createMetricsRegistry(metricsSource)));
    this.admin = new AdminServer(
      {
        ready: () => this.readiness(),
        config: () => this.declared,
        clusters: () => clustersView(this.state, this.snapshot, this.sweeper.drainingEndpoints),
        stats: () =>
          import('./stats-json.js').then((m) =>
            m.statsJson({ state: this.state, snapshot: this.snapshot, draining: this.sweeper.drainingEndpoints, workers: this.workers, workersRunning: this.listening.size }),
          ),
        drain: () => void this.drain('admin'),
        crashWorker: this.faults ? (t) => this.crashWorker(t) : undefined,
        putEndpoints: (cluster, body) => this.putEndpoints(cluster, body),
        setWeight: (cluster, endpoint, body) => this.setWeight(cluster, endpoint, body),
      },
      metrics,
    );
    this.status.onmessage = (ev) => this.onStatus((ev as unknown as { data: StatusMessage }).data);
  }

  /** The running config. */
  get config(): Config {
    return this.current;
  }

  /**
   * Starts the admin API and every worker; resolves once all of them listen and every endpoint with
   * health checks has had its first one (Envoy's cluster warming: no traffic on unchecked guesses).
   */
  async start(): Promise<void> {
    loadUws(); // fail here, before any thread starts, when only the JS fallback would load
    if (EndpointSources.needsResolution(this.declared)) {
      const problems = await this.resolveEndpoints(this.declared);
      if (problems.length) throw new ConfigError(problems);
      const prev = this.snapshot;
      this.current = this.sources.effective(this.declared, this.discovery);
      const capacity = this.slots.capacityProblem(this.current);
      if (capacity) throw new ConfigError([{ path: 'clusters', message: capacity }]);
      this.snapshot = this.sources.annotate(this.slots.snapshot(this.current));
      this.sweeper.retire(prev, this.snapshot);
    }
    await this.filters.prepare(this.config);
    const filters = this.filters.build(this.config);
    if (!filters.ok) throw new ConfigError(filters.problems);
    this.snapshot.filters = filters.specs;
    const tls = this.tls.build(this.config);
    if (!tls.ok) throw new ConfigError(tls.problems);
    this.snapshot.tls = tls.material;
    this.tls.watchChanges((file) => {
      this.log.info({ file }, 'TLS file changed; reloading certificates');
      const r = this.applyConfig(this.declared, `TLS file ${file} changed`);
      if (r.ok) this.tlsReloads.success++;
      else {
        this.tlsReloads.failure++;
        for (const p of r.problems) this.log.error({ path: p.path || undefined, problem: p.message }, 'TLS reload refused; the running certificates were kept');
      }
    });
    this.tls.startRotation(
      () => this.config,
      () => void this.applyConfig(this.declared, 'session ticket keys rotated'),
    );
    this.filters.watch((file) => {
      this.log.info({ file }, 'filter file changed; reloading its filters');
      const r = this.applyConfig(this.declared, `filter file ${file} changed`);
      if (!r.ok) for (const p of r.problems) this.log.error({ path: p.path || undefined, problem: p.message }, 'filter reload refused; the running filters were kept');
    });
    this.adminPort = await this.admin.listen(this.config.admin.address, this.config.admin.port);
    const firstChecks = this.health.sync(this.snapshot);
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
    this.log.info({ admin: `http://${this.config.admin.address}:${this.adminPort}`, workers: this.workers }, 'starting');
    this.pool = new Piscina({
      filename: SERVE_TASK,
      minThreads: this.workers,
      maxThreads: this.workers,
      idleTimeout: Infinity,
      atomics: 'disabled',
      concurrentTasksPerWorker: 1,
      maxQueue: this.workers * 2,
      resourceLimits: workerResourceLimits(this.config),
      // Its task-time histograms (two HdrHistograms, 0.7 MB) would time one task per thread that runs for the process's life.
      recordTiming: false,
    });
    const allListening = new Promise<void>((resolve, reject) => {
      this.startupFailure = reject;
      const check = setInterval(() => {
        if (this.listening.size === this.workers) {
          clearInterval(check);
          this.startupFailure = undefined;
          resolve();
        }
      }, 5);
    });
    for (let t = 0; t < this.workers; t++) this.submit(t);
    try {
      await allListening;
      await firstChecks;
    } catch (e) {
      await this.stopNow();
      throw e;
    }
    if (this.reloadOptions?.watch) {
      const r = this.reloadOptions;
      this.watcher = new ConfigWatcher(r.file, () => void this.reload('file change'));
      const err = this.watcher.start();
      if (err) this.log.warn({ file: r.file, err: err.message }, 'cannot watch the config file; reload with SIGHUP');
    }
    this.weights.start();
    this.started = true;
    const listeners = this.config.listeners.map((l) => `${l.protocol === 'http' && l.tls !== undefined ? 'https' : l.protocol}://${l.address}:${l.port} (${l.name})`);
    this.log.info({ listeners, source: undefined }, 'ready');
  }

  /** Resolves with the exit code once a drain finishes. */
  get drained(): Promise<number> | undefined {
    return this.draining;
  }

  /** Graceful drain: /ready turns 503, listeners stop accepting, in-flight requests finish, then exit. */
  drain(reason: string): Promise<number> {
    if (this.draining) return this.draining;
    this.state.setHeader('draining', 1);
    const timeoutMs = this.config.drain_timeout;
    this.log.info({ reason, timeout: formatDuration(timeoutMs) }, 'draining');
    this.draining = (async () => {
      this.post({ type: 'drain', timeoutMs });
      const all = Promise.allSettled([...this.tasks.values()]);
      let timer: NodeJS.Timeout | undefined;
      const hardDeadline = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs + DRAIN_GRACE_MS)));
      const outcome = await Promise.race([all.then(() => 'done' as const), hardDeadline]);
      clearTimeout(timer);
      await this.stopNow();
      if (outcome === 'timeout') {
        this.log.error('workers did not finish draining in time');
        return 1;
      }
      this.log.info('drained');
      return 0;
    })();
    return this.draining;
  }

  private async stopNow(): Promise<void> {
    this.discovery.close();
    this.health.close();
    this.filters.close();
    this.tls.close();
    this.weights.stop();
    this.watcher?.close();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.control.close();
    this.status.close();
    await this.admin.close();
    await this.checker.close();
    await this.pool?.destroy();
  }

  private submit(thread: number): void {
    const task: ServeTask = { thread, buffer: this.state.buffer, snapshot: this.snapshot, filterBuckets: this.filters.bucketsBuffer, faults: this.faults };
    this.applied.set(thread, this.snapshot.generation);
    const p = this.pool!.run(task, { name: 'serve' }).then(
      () => {
        this.listening.delete(thread);
        this.tasks.delete(thread);
      },
      (e: Error) => this.onWorkerDied(thread, e),
    );
    this.tasks.set(thread, p);
  }

  private onWorkerDied(thread: number, e: Error): void {
    this.listening.delete(thread);
    this.tasks.delete(thread);
    this.applied.delete(thread);
    // The thread has stopped: its requests, connections and retries are gone, so are their counts.
    const released = this.state.releaseThread(thread);
    const probes = releaseBreakerProbes(this.state, this.breakerSlots());
    if (released > 0 || probes > 0) this.log.warn({ thread, released, breaker_probes: probes }, 'released the shared counters the dead worker thread held');
    if (this.draining) return;
    if (this.startupFailure) {
      this.startupFailure(new Error(`worker ${thread} failed to start: ${e.message}`));
      return;
    }
    const n = (this.restarts.get(thread) ?? 0) + 1;
    this.restarts.set(thread, n);
    // Back off when a thread keeps dying, so a poison config cannot spin the CPU.
    const delay = Math.min(5000, 50 * 2 ** Math.min(n - 1, 7));
    this.log.error({ thread, err: e.message, restarts: n, delay }, 'worker thread died; starting a new one');
    setTimeout(() => {
      if (!this.draining) this.submit(thread);
    }, delay).unref();
  }

  private onStatus(msg: StatusMessage): void {
    switch (msg.type) {
      case 'listening':
        this.listening.add(msg.thread);
        this.applied.set(msg.thread, msg.generation);
        this.log.debug({ thread: msg.thread }, 'worker listening');
        // Started from an older snapshot and missed the broadcast of the newer one: send it again.
        if (msg.generation < this.snapshot.generation) this.post({ type: 'config', snapshot: this.snapshot });
        break;
      case 'filter-counters':
        this.filterCounters.set(msg.thread, msg.counters);
        break;
      case 'listen-failed':
        this.log.error({ thread: msg.thread, err: msg.error }, 'worker could not listen');
        this.startupFailure?.(new Error(msg.error));
        break;
      case 'applied':
        if (this.tasks.has(msg.thread)) this.applied.set(msg.thread, Math.max(this.applied.get(msg.thread) ?? 0, msg.generation));
        break;
    }
  }

  /** Whether every running worker has applied `generation` (or a later one). */
  private allApplied(generation: number): boolean {
    for (const g of this.applied.values()) if (g < generation) return false;
    return true;
  }

  private sweep(): void {
    this.sweeper.sweep(this.snapshot, (g) => this.allApplied(g));
  }

  // ------------------------------------------------------------------ config changes

  /**
   * Makes `next` the running config: slots for new endpoints, removed ones draining, health checks
   * matched to it, then the new snapshot broadcast to every worker. The caller has validated it.
   */
  applyConfig(declared: Config, reason: string): ApplyResult {
    const next = this.sources.effective(declared, this.discovery);
    const capacity = this.slots.capacityProblem(next);
    if (capacity) return { ok: false, problems: [{ path: 'clusters', message: capacity }] };
    const filters = this.filters.build(next);
    if (!filters.ok) return { ok: false, problems: filters.problems };
    const tls = this.tls.build(next);
    if (!tls.ok) return { ok: false, problems: tls.problems };
    const prev = this.snapshot;
    const snapshot = this.sources.annotate(this.slots.snapshot(next));
    snapshot.filters = filters.specs;
    snapshot.tls = tls.material;
    this.sweeper.retire(prev, snapshot);
    this.declared = declared;
    this.current = next;
    this.snapshot = snapshot;
    this.log.level = next.log.level;
    this.health.sync(snapshot).catch((e: Error) => this.log.error({ err: e.message }, 'health checks'));
    this.post({ type: 'config', snapshot });
    this.log.info({ reason, generation: snapshot.generation }, 'config applied');
    return { ok: true, generation: snapshot.generation };
  }

  /**
   * Re-reads the config file (SIGHUP, file change). A file that does not validate, or that changes
   * what needs a restart, is refused as a whole: every problem is logged and the running config stays.
   */
  async reload(reason: string): Promise<ApplyResult> {
    const r = this.reloadOptions;
    if (!r || this.draining) return { ok: false, problems: [{ path: '', message: this.draining ? 'draining' : 'no config file to reload' }] };
    const result = await this.reloadFrom(r.file, r.transform);
    if (result.ok) {
      this.reloads.success++;
    } else {
      this.reloads.failure++;
      for (const p of result.problems) this.log.error({ file: r.file, path: p.path || undefined, problem: p.message }, `config reload refused: ${formatProblem(p).trim()}`);
      this.log.error({ file: r.file, reason, problems: result.problems.length }, 'config reload failed; the running config was kept');
    }
    return result;
  }

  private async reloadFrom(file: string, transform: ((c: Config) => Config) | undefined): Promise<ApplyResult> {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      return { ok: false, problems: [{ path: '', message: `cannot read ${file}: ${(e as Error).message}` }] };
    }
    let v: ValidationResult;
    try {
      v = await this.checker.config(text);
    } catch (e) {
      return { ok: false, problems: [{ path: '', message: (e as Error).message }] };
    }
    if (!v.ok) return v;
    await this.filters.prepare(v.config);
    if (this.draining) return { ok: false, problems: [{ path: '', message: 'draining' }] };
    const next = transform ? transform(v.config) : v.config;
    const refused = reloadProblems(this.config, next, this.workers, availableParallelism());
    if (refused.length) return { ok: false, problems: refused };
    if (JSON.stringify(next) === JSON.stringify(this.declared)) {
      this.log.info({ file }, 'config reloaded; nothing changed');
      return { ok: true, generation: this.snapshot.generation };
    }
    const unresolved = await this.resolveEndpoints(next);
    if (this.draining) return { ok: false, problems: [{ path: '', message: 'draining' }] };
    if (unresolved.length) {
      await this.discovery.sync(this.declared.clusters);
      return { ok: false, problems: unresolved };
    }
    const adminSet = this.sources.clearAdmin();
    const result = this.applyConfig(next, `reload of ${file}`);
    if (!result.ok) {
      this.sources.restoreAdmin(adminSet);
      await this.discovery.sync(this.declared.clusters);
    }
    return result;
  }

  /**
   * Host names of `config`'s endpoints looked up, and its discovery clusters started (or changed) with
   * their first answers, before it is applied; problems name the endpoint fields that did not resolve.
   */
  private async resolveEndpoints(config: Config): Promise<ConfigProblem[]> {
    const [problems] = await Promise.all([this.sources.resolveConfig(config), this.discovery.sync(config.clusters)]);
    return problems;
  }

  /** A discovery cluster's DNS endpoints changed: applied like any other endpoint change. */
  private onDnsChange(cluster: string): void {
    if (this.draining) return;
    const r = this.applyConfig(this.declared, `DNS answer for cluster ${cluster} changed`);
    const problem = r.ok ? '' : r.problems.map((p) => formatProblem(p).trim()).join('; ');
    if (problem && problem !== this.dnsApplyProblem) this.log.error({ cluster, problem }, 'DNS endpoints cannot be applied; the running endpoints stay');
    this.dnsApplyProblem = problem;
  }

  /** The endpoints of clusters with a failure-rate breaker. */
  private *breakerSlots(): Iterable<number> {
    for (const c of this.snapshot.clusters) if (c.config.failure_breaker) for (const e of c.endpoints) yield e.slot;
  }

  /** `PUT /clusters/NAME/endpoints` */
  private async putEndpoints(name: string, body: unknown): Promise<AdminReply> {
    if (this.draining) return { status: 503, body: { error: 'draining' } };
    if (!this.declared.clusters.some((c) => c.name === name)) return { status: 404, body: { error: `no cluster "${name}"` } };
    const parsed = await this.checker.endpoints(body);
    const unresolved = parsed.ok ? await this.sources.resolve(parsed.value, (j) => `[${j}]`) : [];
    // The config may have changed while the body was checked: look the cluster up again.
    if (this.draining) return { status: 503, body: { error: 'draining' } };
    const index = this.declared.clusters.findIndex((c) => c.name === name);
    if (index < 0) return { status: 404, body: { error: `no cluster "${name}"` } };
    if (this.declared.clusters[index]!.discovery) return { status: 409, body: { error: `cluster "${name}" takes its endpoints from DNS (discovery); change its discovery in the config file` } };
    if (!parsed.ok) return { status: 400, body: { error: 'invalid endpoints', problems: parsed.problems } };
    if (unresolved.length) return { status: 400, body: { error: 'invalid endpoints', problems: unresolved } };
    const total = this.config.clusters.reduce((n, c, i) => n + (i === index ? parsed.value.length : c.endpoints.length), 0);
    const max = this.config.capacity.max_endpoints;
    if (total > max) {
      return { status: 400, body: { error: 'invalid endpoints', problems: [{ path: '', message: `would make ${total} endpoints, more than capacity.max_endpoints (${max})` }] } };
    }
    const clusters = this.declared.clusters.map((c, i) => (i === index ? { ...c, endpoints: parsed.value } : c));
    const r = this.applyConfig({ ...this.declared, clusters }, `PUT /clusters/${name}/endpoints`);
    if (!r.ok) return { status: 409, body: { error: 'cannot apply', problems: r.problems } };
    this.sources.setByAdmin(name);
    // The source shows in /clusters: the snapshot just built still says `config`.
    this.sources.annotate(this.snapshot);
    return { status: 200, body: { cluster: name, generation: r.generation, endpoints: parsed.value } };
  }

  /** `POST /clusters/NAME/endpoints/ADDRESS:PORT/weight` */
  private async setWeight(name: string, endpoint: string, body: unknown): Promise<AdminReply> {
    const known = this.findEndpoint(name, endpoint);
    if ('status' in known) return known;
    const parsed = await this.checker.weight(body);
    // The config may have changed while the body was checked: look the endpoint up again.
    const found = this.findEndpoint(name, endpoint);
    if ('status' in found) return found;
    if (!parsed.ok) return { status: 400, body: { error: 'invalid weight', problems: parsed.problems } };
    const { index, j } = found;
    const cluster = this.declared.clusters[index]!;
    const endpoints = cluster.endpoints.map((e, k) => (k === j ? { ...e, weight: parsed.value } : e));
    const clusters = this.declared.clusters.map((c, i) => (i === index ? { ...c, endpoints } : c));
    const r = this.applyConfig({ ...this.declared, clusters }, `POST /clusters/${name}/endpoints/${endpoint}/weight`);
    if (!r.ok) return { status: 409, body: { error: 'cannot apply', problems: r.problems } };
    return { status: 200, body: { cluster: name, endpoint: cluster.endpoints[j]!.address + ':' + cluster.endpoints[j]!.port, weight: parsed.value, generation: r.generation } };
  }

  /** Where an endpoint is in the running config, or the reply saying it is not there (or that the process drains). */
  private findEndpoint(name: string, endpoint: string): { index: number; j: number } | AdminReply {
    if (this.draining) return { status: 503, body: { error: 'draining' } };
    const index = this.declared.clusters.findIndex((c) => c.name === name);
    if (index < 0) return { status: 404, body: { error: `no cluster "${name}"` } };
    if (this.declared.clusters[index]!.discovery) return { status: 409, body: { error: `cluster "${name}" takes its endpoints and their weights from DNS (discovery)` } };
    const at = splitEndpointKey(endpoint);
    const j = at ? this.declared.clusters[index]!.endpoints.findIndex((e) => e.address === at.address && e.port === at.port) : -1;
    if (j < 0) return { status: 404, body: { error: `cluster "${name}" has no endpoint ${endpoint}` } };
    return { index, j };
  }


  private post(msg: ControlMessage): void {
    this.control.postMessage(msg);
  }

  private crashWorker(thread: number): boolean {
    if (!this.tasks.has(thread)) return false;
    this.post({ type: 'crash', thread });
    return true;
  }

  private readiness(): { ready: boolean; reason: string } {
    if (this.draining) return { ready: false, reason: 'draining' };
    if (this.listening.size < this.workers) return { ready: false, reason: `starting: ${this.listening.size}/${this.workers} workers listening` };
    if (!this.started) return { ready: false, reason: 'starting: first health checks running' };
    return { ready: true, reason: `ready: ${this.workers} workers listening` };
  }
}
