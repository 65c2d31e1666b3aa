/**
 * Everything one worker thread runs: its listeners, its clusters (with their connection pools), and
 * the handling of control messages from the supervisor (new config, drain, the test fault switch).
 */
import { BroadcastChannel } from 'node:worker_threads';
import { SharedState, type Config, type StatsWriter } from '@pillion/core';
import { createAccessLogger, createLogger, type Logger } from '../logger.js';
import { CONTROL_CHANNEL, STATUS_CHANNEL, type ControlMessage, type RuntimeSnapshot, type ServeTask, type StatusMessage } from '../messages.js';
import { loadUws, type Uws } from '../uws.js';
import { ClusterRuntime } from './cluster-runtime.js';
import { HttpListener } from './http-listener.js';

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
  private readonly control = new BroadcastChannel(CONTROL_CHANNEL);
  private readonly status = new BroadcastChannel(STATUS_CHANNEL);
  private readonly faults: boolean;
  private finished!: () => void;
  private draining = false;

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
        const listener = new HttpListener(this.uws, l, this.snapshot.listenerSlots[l.name]!, this);
        this.listeners.push(listener);
        await listener.listen();
      }
    } catch (e) {
      this.post({ type: 'listen-failed', thread: this.thread, error: (e as Error).message });
      this.closeAll();
      throw e;
    }
    this.post({ type: 'listening', thread: this.thread, generation: this.snapshot.generation });
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

  private apply(snapshot: RuntimeSnapshot): void {
    this.snapshot = snapshot;
    this.config = snapshot.config;
    this.buildClusters(snapshot);
    for (const listener of this.listeners) {
      const next = snapshot.config.listeners.find((l) => l.name === listener.config.name);
      if (next && next.protocol === 'http') listener.update(next);
    }
    this.post({ type: 'applied', thread: this.thread, generation: snapshot.generation });
  }

  private buildClusters(snapshot: RuntimeSnapshot): void {
    const maxHead = Math.max(...snapshot.config.listeners.map((l) => (l.protocol === 'http' ? l.limits.max_response_headers_bytes : 0)), 1024);
    const next = new Map<string, ClusterRuntime>();
    for (const c of snapshot.clusters) next.set(c.name, new ClusterRuntime(c, this.state, this.stats, maxHead, this.clusters.get(c.name)));
    for (const [name, old] of this.clusters) for (const pool of old.retiredPools(next.get(name))) pool.closeIdle();
    this.clusters.clear();
    for (const [k, v] of next) this.clusters.set(k, v);
  }

  private async drain(timeoutMs: number): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    for (const l of this.listeners) l.stopAccepting();
    const left = await Promise.all(this.listeners.map((l) => l.idle(timeoutMs)));
    const open = left.reduce((a, b) => a + b, 0);
    if (open) this.log.warn({ open }, 'drain timeout reached; closing requests still in flight');
    this.closeAll();
    this.finished();
  }

  private closeAll(): void {
    for (const l of this.listeners) l.close(this.log);
    for (const c of this.clusters.values()) for (const e of c.endpoints) e.pool.close();
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
