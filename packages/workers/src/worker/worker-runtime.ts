/**
 * Everything one worker thread runs: its listeners, its clusters (with their connection pools), and
 * the handling of control messages from the supervisor (new config, drain, the test fault switch).
 */
import { BroadcastChannel } from 'node:worker_threads';
import { SharedState, type Config, type StatsWriter } from '@pillion/core';
import { createAccessLogger, createLogger, type Logger } from '../logger.js';
import { CONTROL_CHANNEL, STATUS_CHANNEL, type ControlMessage, type RuntimeSnapshot, type ServeTask, type StatusMessage } from '../messages.js';
import { loadUws, type Uws } from '../uws.js';
import type { EndpointPool } from '../upstream/endpoint-pool.js';
import { ClusterRuntime } from './cluster-runtime.js';
import type { HttpListener } from './http-listener.js';
import { StrictHttpListener } from './strict-listener.js';
import { UwsHttpListener } from './uws-listener.js';
import { WorkerFilters } from './filter-chains.js';

const FILTER_REPORT_MS = 1000;
import { L4Listeners } from '../l4/l4-listeners.js';

/** How often a retired pool with queued requests is looked at again. */
const RETIRE_CHECK_MS = 50;

export class WorkerRuntime {
  readonly thread: number;
  readonly state: SharedState;
  readonly stats: StatsWriter;
  readonly log: Logger;
  readonly accessLog: Logger;
  config: Config;
  private snapshot: RuntimeSnapshot;
  private readonly uws: Uws;
  private readonly clusters = new Map<string, ClusterRuntime>();
  private readonly listeners: HttpListener[] = [];
  /** tcp and udp listeners */
  private readonly l4 = new L4Listeners(this);
  private readonly control = new BroadcastChannel(CONTROL_CHANNEL);
  private readonly status = new BroadcastChannel(STATUS_CHANNEL);
  private readonly faults: boolean;
  private finished!: () => void;
  private draining = false;
  private readonly filters: WorkerFilters;
  private filterReportTimer: NodeJS.Timeout | null = null;

  constructor(task: ServeTask) {
    this.thread = task.thread;
    this.state = SharedState.attach(task.buffer);
    this.stats = this.state.statsWriter(task.thread);
    this.snapshot = task.snapshot;
    this.config = task.snapshot.config;
    this.faults = task.faults;
    this.log = createLogger(this.config.log.level, { name: 'pillion', worker: task.thread });
    this.accessLog = createAccessLogger();
    this.uws = loadUws();
    this.filters = new WorkerFilters(task.filterBuckets, this.log);
    this.buildClusters(task.snapshot);
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
      for (const l of this.config.listeners) {
        if (l.protocol !== 'http') continue;
        const slot = this.snapshot.listenerSlots[l.name]!;
        const listener: HttpListener = l.codec === 'http1-strict' ? new StrictHttpListener(l, slot, this) : new UwsHttpListener(this.uws, l, slot, this);
        listener.filterChain = this.filters.chainFor(l.name, this.snapshot.filters?.[l.name], null);
        this.listeners.push(listener);
        await listener.listen();
      }
      await this.l4.listen(this.snapshot.listenerSlots);
    } catch (e) {
      this.post({ type: 'listen-failed', thread: this.thread, error: (e as Error).message });
      this.closeAll();
      throw e;
    }
    this.post({ type: 'listening', thread: this.thread, generation: this.snapshot.generation });
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
      this.buildClusters(snapshot);
      for (const listener of this.listeners) {
        const next = snapshot.config.listeners.find((l) => l.name === listener.config.name);
        if (next && next.protocol === 'http') {
          listener.update(next);
          listener.filterChain = this.filters.chainFor(next.name, snapshot.filters?.[next.name], listener.filterChain);
        }
      }
    }
    this.post({ type: 'applied', thread: this.thread, generation: this.snapshot.generation });
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
    for (const c of snapshot.clusters) next.set(c.name, new ClusterRuntime(c, this.state, this.stats, maxHead, this.clusters.get(c.name)));
    for (const [name, old] of this.clusters) for (const pool of old.retiredPools(next.get(name))) this.retire(pool);
    this.clusters.clear();
    for (const [k, v] of next) this.clusters.set(k, v);
  }

  /** Pools of removed endpoints, waiting for the requests still queued on them to get a connection. */
  private readonly retiring = new Set<EndpointPool>();
  private retireTimer: NodeJS.Timeout | null = null;

  /**
   * Retires the pool of an endpoint that left: its requests in flight finish, then its connections
   * close. A pool still connecting for queued requests is left alone until they have a connection,
   * because a closed pool drops a connection that completes and would leave them waiting.
   */
  private retire(pool: EndpointPool): void {
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
    this.l4.stopAccepting();
    const left = await Promise.all([...this.listeners.map((l) => l.idle(timeoutMs)), this.l4.idle(timeoutMs)]);
    const open = left.reduce((a, b) => a + b, 0);
    if (open) this.log.warn({ open }, 'drain timeout reached; closing requests still in flight');
    this.closeAll();
    this.finished();
  }

  private closeAll(): void {
    for (const l of this.listeners) l.close(this.log);
    this.l4.close(this.log);
    for (const c of this.clusters.values()) for (const e of c.endpoints) e.pool.close();
    if (this.filterReportTimer) {
      clearInterval(this.filterReportTimer);
      this.filterReportTimer = null;
      this.reportFilters();
    }
    this.control.close();
    this.status.close();
    this.accessLog.flush();
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
