/**
 * Everything one worker thread runs: its listeners, its clusters (with their connection pools), and
 * the handling of control messages from the supervisor (new config, drain, the test fault switch).
 */
import { BroadcastChannel } from 'node:worker_threads';
import { SharedState, httpCodecOf, type Config, type StatsWriter } from '@pillion/core';
import { createAccessLogger, createLogger, type Logger } from '../logger.js';
import { CONTROL_CHANNEL, STATUS_CHANNEL, type ControlMessage, type RuntimeSnapshot, type ServeTask, type StatusMessage } from '../messages.js';
import { loadUws } from '../uws.js';
import type { ManagedPool } from '../upstream/managed-pool.js';
import { ClusterRuntime } from './cluster-runtime.js';
import type { HttpListener } from './http-listener.js';
import { UwsHttpListener } from './uws-listener.js';
import { WorkerFilters } from './filter-chains.js';
import { IdleCollector } from './idle-collector.js';
import { WorkerTls } from './worker-tls.js';
import type { L4Listeners } from '../l4/l4-listeners.js';
import type { WorkerTracing } from '../tracing/worker-tracing.js';

const FILTER_REPORT_MS = 1000;

/** How often a retired pool with queued requests is looked at again. */
const RETIRE_CHECK_MS = 50;

export class WorkerRuntime {
  readonly thread: number;
  readonly state: SharedState;
  readonly stats: StatsWriter;
  readonly log: Logger;
  private accessLogger: Logger | null = null;
  config: Config;
  private snapshot: RuntimeSnapshot;
  private readonly clusters = new Map<string, ClusterRuntime>();
  private readonly listeners: HttpListener[] = [];
  /**
   * tcp and udp listeners. Like the http1-strict codec (node:http) and uWS, the layer-4 code is loaded
   * only by a worker whose config has such a listener; the set of listeners is fixed at start.
   */
  private l4: L4Listeners | null = null;
  private readonly control = new BroadcastChannel(CONTROL_CHANNEL);
  private readonly status = new BroadcastChannel(STATUS_CHANNEL);
  private readonly faults: boolean;
  private finished!: () => void;
  private draining = false;
  private readonly filters: WorkerFilters;
  /** Secure contexts of TLS listeners and clusters, kept in step with the snapshots. */
  readonly tls = new WorkerTls();
  private filterReportTimer: NodeJS.Timeout | null = null;
  /** Loaded when a config first has a `tracing` block. */
  private tracing: WorkerTracing | null = null;
  private readonly idleCollector = new IdleCollector(
    () => this.activity(),
    () => this.idleTimeout(),
  );

  constructor(task: ServeTask) {
    this.thread = task.thread;
    this.state = SharedState.attach(task.buffer);
    this.state.holdAs(task.thread);
    this.stats = this.state.statsWriter(task.thread);
    this.snapshot = task.snapshot;
    this.config = task.snapshot.config;
    this.faults = task.faults;
    this.log = createLogger(this.config.log.level, { name: 'pillion', worker: task.thread });
    this.filters = new WorkerFilters(task.filterBuckets, this.log);
    this.tls.update(task.snapshot);
    this.buildClusters(task.snapshot);
  }

  /** The access logger, made when a listener first logs (access_log.enabled), not before. */
  get accessLog(): Logger {
    this.accessLogger ??= createAccessLogger();
    return this.accessLogger;
  }

  cluster(name: string): ClusterRuntime | undefined {
    return this.clusters.get(name);
  }

  /** Listens on every listener; resolves when the worker has drained and closed everything. */
  async run(): Promise<void> {
    const done = new Promise<void>((resolve) => (this.finished = resolve));
    this.control.onmessage = (ev) => this.onControl((ev as unknown as { data: ControlMessage }).data);
    process.on('uncaughtException', (err) => this.crash(err));
    try {
      const codecs = new Set(this.config.listeners.map((l) => (l.protocol === 'http' ? httpCodecOf(l) : null)));
      const strict = codecs.has('http1-strict') ? await import('./strict-listener.js') : null;
      const h2c = codecs.has('h2c') ? await import('../h2/h2c-listener.js') : null;
      for (const l of this.config.listeners) {
        if (l.protocol !== 'http') continue;
        const slot = this.snapshot.listenerSlots[l.name]!;
        const codec = httpCodecOf(l);
        const listener: HttpListener =
          codec === 'http1-strict' ? new strict!.StrictHttpListener(l, slot, this) : codec === 'h2c' ? new h2c!.H2cListener(l, slot, this) : new UwsHttpListener(loadUws(), l, slot, this);
        listener.filterChain = this.filters.chainFor(l.name, this.snapshot.filters?.[l.name], null);
        listener.routeSlots = this.snapshot.routeSlots?.[l.name] ?? [];
        this.listeners.push(listener);
        await listener.listen();
      }
      await this.updateTracing();
      if (this.config.listeners.some((l) => l.protocol !== 'http')) {
        const { L4Listeners } = await import('../l4/l4-listeners.js');
        this.l4 = new L4Listeners(this);
        await this.l4.listen(this.snapshot.listenerSlots);
      }
    } catch (e) {
      this.post({ type: 'listen-failed', thread: this.thread, error: (e as Error).message });
      this.closeAll();
      throw e;
    }
    this.post({ type: 'listening', thread: this.thread, generation: this.snapshot.generation });
    this.idleCollector.start();
    if (this.snapshot.filters && Object.keys(this.snapshot.filters).length) this.startFilterReports();
    await done;
  }

  private onControl(msg: ControlMessage): void {
    switch (msg.type) {
      case 'drain':
        void this.drain(msg.timeoutMs);
        break;
      case 'config':
        this.apply(msg.snapshot);
        break;
      case 'crash':
        if (this.faults && msg.thread === this.thread) {
          setImmediate(() => {
            throw new Error('test fault: worker crash requested through the admin API');
          });
        }
        break;
    }
  }

  /**
   * A new snapshot from the supervisor (reload, endpoint change). Requests in flight keep the
   * endpoint and pool they hold; new requests see the new clusters and routes. A snapshot this
   * worker already runs (re-sent for a worker that started meanwhile) is only acknowledged.
   */
  private apply(snapshot: RuntimeSnapshot): void {
    if (snapshot.generation > this.snapshot.generation) {
      this.snapshot = snapshot;
      this.config = snapshot.config;
      this.log.level = snapshot.config.log.level;
      this.tls.update(snapshot);
      this.buildClusters(snapshot);
      for (const listener of this.listeners) {
        const next = snapshot.config.listeners.find((l) => l.name === listener.config.name);
        if (next && next.protocol === 'http') {
          listener.update(next);
          listener.routeSlots = snapshot.routeSlots?.[next.name] ?? [];
          listener.filterChain = this.filters.chainFor(next.name, snapshot.filters?.[next.name], listener.filterChain);
        }
      }
      void this.updateTracing();
    }
    this.post({ type: 'applied', thread: this.thread, generation: this.snapshot.generation });
  }

  /** Gives the HTTP listeners the running config's tracing settings, loading the tracing code on first need. */
  private async updateTracing(): Promise<void> {
    if (this.tracing === null) {
      if (this.config.tracing === undefined) return;
      const { WorkerTracing } = await import('../tracing/worker-tracing.js');
      this.tracing ??= new WorkerTracing(this.stats);
    }
    this.tracing.configure(this.config, this.listeners);
  }

  /** Filter counters go to the supervisor once a second (and once more at drain), never per request. */
  private startFilterReports(): void {
    if (this.filterReportTimer) return;
    this.filterReportTimer = setInterval(() => this.reportFilters(), FILTER_REPORT_MS);
    this.filterReportTimer.unref();
  }

  private reportFilters(): void {
    this.post({ type: 'filter-counters', thread: this.thread, counters: this.filters.counters() });
  }

  private buildClusters(snapshot: RuntimeSnapshot): void {
    const maxHead = Math.max(...snapshot.config.listeners.map((l) => (l.protocol === 'http' ? l.limits.max_response_headers_bytes : 0)), 1024);
    const next = new Map<string, ClusterRuntime>();
    const tls = (name: string) => this.tls.cluster(name);
    for (const c of snapshot.clusters) next.set(c.name, new ClusterRuntime(c, this.state, this.stats, maxHead, this.clusters.get(c.name), { tls }));
    for (const [name, old] of this.clusters) for (const pool of old.retiredPools(next.get(name))) this.retire(pool);
    this.clusters.clear();
    for (const [k, v] of next) this.clusters.set(k, v);
  }

  /** Pools of removed endpoints, waiting for the requests still queued on them to get a connection. */
  private readonly retiring = new Set<ManagedPool>();
  private retireTimer: NodeJS.Timeout | null = null;

  /**
   * Retires the pool of an endpoint that left: its requests in flight finish, then its connections
   * close. A pool still connecting for queued requests is left alone until they have a connection,
   * because a closed pool drops a connection that completes and would leave them waiting.
   */
  private retire(pool: ManagedPool): void {
    if (pool.pending === 0) {
      pool.closeIdle();
      return;
    }
    this.retiring.add(pool);
    if (this.retireTimer === null) {
      this.retireTimer = setInterval(() => this.retireQueued(), RETIRE_CHECK_MS);
      this.retireTimer.unref();
    }
  }

  private retireQueued(): void {
    for (const pool of this.retiring) {
      if (pool.pending !== 0) continue;
      pool.closeIdle();
      this.retiring.delete(pool);
    }
    if (this.retiring.size === 0 && this.retireTimer !== null) {
      clearInterval(this.retireTimer);
      this.retireTimer = null;
    }
  }

  private async drain(timeoutMs: number): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    for (const l of this.listeners) l.stopAccepting();
    this.l4?.stopAccepting();
    const left = await Promise.all([...this.listeners.map((l) => l.idle(timeoutMs)), this.l4?.idle(timeoutMs) ?? 0]);
    const open = left.reduce((a, b) => a + b, 0);
    if (open) this.log.warn({ open }, 'drain timeout reached; closing requests still in flight');
    this.closeAll();
    this.finished();
  }

  /** This worker's traffic so far: requests and connections accepted, datagrams received. */
  private activity(): number {
    let n = 0;
    for (const slot of Object.values(this.snapshot.listenerSlots)) {
      n += this.state.threadListenerStat(this.thread, slot, 'downstream_cx_total') + this.state.threadListenerStat(this.thread, slot, 'udp_datagrams_in');
    }
    return n;
  }

  /** The longest a busy spell's leftovers stay open: upstream pool connections, UDP sessions. */
  private idleTimeout(): number {
    let ms = 0;
    for (const c of this.config.clusters) ms = Math.max(ms, c.pool.idle_timeout);
    for (const l of this.config.listeners) if (l.protocol === 'udp') ms = Math.max(ms, l.session_timeout);
    return ms;
  }

  private closeAll(): void {
    this.idleCollector.stop();
    for (const l of this.listeners) l.close(this.log);
    this.l4?.close(this.log);
    for (const c of this.clusters.values()) for (const e of c.endpoints) e.pool.close();
    if (this.filterReportTimer) {
      clearInterval(this.filterReportTimer);
      this.filterReportTimer = null;
      this.reportFilters();
    }
    this.tracing?.close();
    this.control.close();
    this.status.close();
    this.accessLogger?.flush();
  }

  /**
   * An uncaught error: close every uWS socket first (a thread ending with them open aborts the whole
   * process), then let the thread die so the supervisor starts a fresh one.
   */
  private crash(err: Error): void {
    this.log.fatal({ err: err.message, stack: err.stack }, 'worker thread failed; closing its sockets');
    try {
      this.closeAll();
    } finally {
      process.exit(1);
    }
  }

  private post(msg: StatusMessage): void {
    this.status.postMessage(msg);
  }
}
