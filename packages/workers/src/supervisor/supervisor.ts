/**
 * The supervisor: the main thread of a Pillion process. It loads the config, lays out SharedState,
 * starts one long-running `serve` task per worker thread in a piscina pool (and a new one whenever a
 * thread dies), serves the admin API and turns SIGTERM/SIGINT into a graceful drain.
 */
import { availableParallelism } from 'node:os';
import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import {
  EndpointState,
  HEALTH_ACTIVE_FAILED,
  HEALTH_EJECTED,
  HEALTH_UNKNOWN,
  SharedState,
  formatDuration,
  type Config,
} from '@pillion/core';
import { createLogger, type Logger } from '../logger.js';
import { loadUws } from '../uws.js';
import { CONTROL_CHANNEL, STATUS_CHANNEL, type ControlMessage, type RuntimeSnapshot, type ServeTask, type StatusMessage } from '../messages.js';
import { AdminServer } from './admin-server.js';
import { createMetricsRegistry } from './metrics.js';
import { SlotRegistry } from './slot-registry.js';

export interface SupervisorOptions {
  config: Config;
  /** Where the config came from, for logs. */
  source?: string;
  logger?: Logger;
  /** Enables the test-only fault switch on the admin API. */
  faults?: boolean;
}

const SERVE_TASK = new URL('../worker/serve.js', import.meta.url).href;
/** How long to wait, after the drain timeout, for workers to finish closing before giving up. */
const DRAIN_GRACE_MS = 5000;

export class Supervisor {
  readonly config: Config;
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
  adminPort = 0;

  constructor(opts: SupervisorOptions) {
    this.config = opts.config;
    this.workers = opts.config.workers === 'auto' ? availableParallelism() : opts.config.workers;
    this.log = opts.logger ?? createLogger(opts.config.log.level, { name: 'pillion' });
    this.faults = opts.faults ?? false;
    const cap = opts.config.capacity;
    this.state = SharedState.create({
      maxClusters: cap.max_clusters,
      maxEndpoints: cap.max_endpoints,
      maxListeners: cap.max_listeners,
      maxThreads: this.workers + 1,
    });
    this.slots = new SlotRegistry(this.state);
    this.snapshot = this.slots.snapshot(this.config);
    for (const c of this.snapshot.clusters) {
      if (!c.config.health_check) continue;
      for (const e of c.endpoints) this.state.orEndpoint(e.slot, 'health', HEALTH_UNKNOWN);
    }
    const registry = createMetricsRegistry({
      state: this.state,
      snapshot: () => this.snapshot,
      workersRunning: () => this.listening.size,
    });
    this.admin = new AdminServer(
      {
        ready: () => this.readiness(),
        config: () => this.config,
        clusters: () => this.clustersView(),
        drain: () => void this.drain('admin'),
        crashWorker: this.faults ? (t) => this.crashWorker(t) : undefined,
      },
      registry,
    );
    this.status.onmessage = (ev) => this.onStatus((ev as unknown as { data: StatusMessage }).data);
  }

  /** Starts the admin API and every worker; resolves once all of them listen. */
  async start(): Promise<void> {
    loadUws(); // fail here, before any thread starts, when only the JS fallback would load
    this.adminPort = await this.admin.listen(this.config.admin.address, this.config.admin.port);
    this.log.info({ admin: `http://${this.config.admin.address}:${this.adminPort}`, workers: this.workers }, 'starting');
    this.pool = new Piscina({
      filename: SERVE_TASK,
      minThreads: this.workers,
      maxThreads: this.workers,
      idleTimeout: Infinity,
      atomics: 'disabled',
      concurrentTasksPerWorker: 1,
      maxQueue: this.workers * 2,
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
    } catch (e) {
      await this.stopNow();
      throw e;
    }
    const listeners = this.config.listeners.map((l) => `${l.protocol}://${l.address}:${l.port} (${l.name})`);
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
    this.control.close();
    this.status.close();
    await this.admin.close();
    await this.pool?.destroy();
  }

  private submit(thread: number): void {
    const task: ServeTask = { thread, buffer: this.state.buffer, snapshot: this.snapshot, faults: this.faults };
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
        this.log.debug({ thread: msg.thread }, 'worker listening');
        break;
      case 'listen-failed':
        this.log.error({ thread: msg.thread, err: msg.error }, 'worker could not listen');
        this.startupFailure?.(new Error(msg.error));
        break;
      case 'applied':
        break;
    }
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
    return { ready: true, reason: `ready: ${this.workers} workers listening` };
  }

  private clustersView(): unknown {
    const s = this.state;
    return this.snapshot.clusters.map((c) => ({
      name: c.name,
      lb_policy: c.config.lb.policy,
      active_requests: s.cluster(c.slot, 'rq_active'),
      active_connections: s.cluster(c.slot, 'cx_active'),
      endpoints: c.endpoints.map((e) => {
        const health = s.endpoint(e.slot, 'health');
        const ejectedUntil = s.endpointTime(e.slot, 'ejected_until');
        return {
          address: e.address,
          port: e.port,
          zone: e.zone,
          weight: s.endpoint(e.slot, 'weight'),
          effective_weight: s.endpoint(e.slot, 'effective_weight_milli') / 1000,
          state: s.endpoint(e.slot, 'state') === EndpointState.Draining ? 'draining' : 'active',
          health: {
            active: c.config.health_check ? (health & HEALTH_UNKNOWN ? 'unknown' : health & HEALTH_ACTIVE_FAILED ? 'unhealthy' : 'healthy') : 'unchecked',
            ejected: (health & HEALTH_EJECTED) !== 0,
            ejected_until: ejectedUntil > 0 ? new Date(ejectedUntil).toISOString() : null,
          },
          active_requests: s.endpoint(e.slot, 'rq_active'),
          active_connections: s.endpoint(e.slot, 'cx_active'),
          warm_connections: s.endpoint(e.slot, 'warm_connections'),
          requests_total: s.endpointStat(e.slot, 'requests'),
        };
      }),
    }));
  }
}
