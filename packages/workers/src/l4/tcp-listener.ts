/**
 * A TCP listener in one worker. Every worker listens on the same port through `listenShared()` and
 * the kernel spreads connections over them; each connection is proxied by a TcpConnection to an
 * endpoint of the listener's cluster.
 *
 * The listener's `max_connections` is a breaker over the whole process: the accept path reads the
 * open-connection count summed over every worker's statistics row, so workers can overshoot it only by
 * connections accepted in the same instant on other threads.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { TcpListenerConfig } from '@pillion/core';
import type { Logger } from '../logger.js';
import { accessLogOf, sampled, type L4Host } from './l4-host.js';
import { listenShared } from './listen-shared.js';
import { TcpConnection } from './tcp-connection.js';

/** How often bytes of long-lived connections are added to the statistics (short ones count at close). */
const BYTES_FLUSH_MS = 1000;

export class TcpListener {
  config: TcpListenerConfig;
  readonly slot: number;
  readonly host: L4Host;
  accessLog: Logger | null = null;
  accessSample = 1;
  private configSource: unknown = null;
  private readonly server: Server;
  private readonly connections = new Set<TcpConnection>();
  private draining = false;
  private listening = false;
  private flushTimer: NodeJS.Timeout | null = null;
  private idleWaiters: (() => void)[] = [];

  constructor(config: TcpListenerConfig, slot: number, host: L4Host) {
    this.config = config;
    this.slot = slot;
    this.host = host;
    this.refresh();
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, this.onConnection.bind(this));
    this.server.on('error', this.onServerError.bind(this));
  }

  /** Connections open on this listener in this worker. */
  get active(): number {
    return this.connections.size;
  }

  async listen(): Promise<void> {
    try {
      await listenShared(this.server, this.config.address, this.config.port);
    } catch (e) {
      throw new Error(`cannot listen on ${this.config.address}:${this.config.port} (listener ${this.config.name}): ${(e as Error).message}`);
    }
    this.listening = true;
    this.flushTimer = setInterval(this.flushBytes.bind(this), BYTES_FLUSH_MS);
    this.flushTimer.unref();
  }

  /** The port actually bound (differs from the config's only when it asks for port 0). */
  get port(): number {
    const a = this.server.address();
    return a !== null && typeof a === 'object' ? a.port : this.config.port;
  }

  /** Picks up a reloaded config for this listener (the worker swaps the whole config object on reload). */
  private refresh(): void {
    const config = this.host.config;
    if (config === this.configSource) return;
    this.configSource = config;
    const next = config.listeners.find((l) => l.name === this.config.name);
    if (next !== undefined && next.protocol === 'tcp') this.config = next;
    const al = accessLogOf(this.host);
    this.accessLog = al.log;
    this.accessSample = al.sample;
  }

  private onConnection(socket: Socket): void {
    this.refresh();
    const { stats, state } = this.host;
    stats.listener(this.slot, 'tcp_connections_total', 1);
    stats.listener(this.slot, 'downstream_cx_total', 1);
    const cluster = this.host.cluster(this.config.cluster);
    if (this.draining || cluster === undefined) {
      if (cluster === undefined) stats.listener(this.slot, 'tcp_no_endpoint', 1);
      this.refuse(socket, 'no-endpoint');
      return;
    }
    if (state.listenerStat(this.slot, 'tcp_connections_active') >= this.config.max_connections) {
      stats.listener(this.slot, 'tcp_rejected_max_connections', 1);
      this.refuse(socket, 'overflow');
      return;
    }
    stats.listener(this.slot, 'tcp_connections_active', 1);
    this.connections.add(new TcpConnection(this, socket, cluster));
  }

  /** Closes a connection that is not proxied at all, with its access-log line. */
  private refuse(socket: Socket, end: 'overflow' | 'no-endpoint'): void {
    if (this.accessLog !== null && sampled(this.accessSample)) {
      this.accessLog.info({
        listener: this.config.name,
        protocol: 'tcp',
        client: `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`,
        cluster: this.config.cluster,
        attempts: 0,
        duration_ms: 0,
        bytes_in: 0,
        bytes_out: 0,
        end,
      });
    }
    socket.on('error', ignore);
    socket.destroy();
  }

  connectionDone(c: TcpConnection): void {
    if (!this.connections.delete(c)) return;
    this.host.stats.listener(this.slot, 'tcp_connections_active', -1);
    if (this.connections.size === 0 && this.idleWaiters.length) for (const w of this.idleWaiters.splice(0)) w();
  }

  private flushBytes(): void {
    for (const c of this.connections) c.countBytes();
  }

  private onServerError(e: Error): void {
    this.host.log.error({ listener: this.config.name, err: e.message }, 'tcp listener failed');
  }

  /** Stops accepting; open connections go on. */
  stopAccepting(): void {
    this.draining = true;
    if (this.listening) {
      this.listening = false;
      this.server.close(ignore);
    }
  }

  /** Resolves when no connection is open, or after `timeoutMs`; returns how many were still open. */
  idle(timeoutMs: number): Promise<number> {
    if (this.connections.size === 0) return Promise.resolve(0);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.connections.size), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(0);
      });
    });
  }

  /** Stops accepting and closes every connection still open. */
  close(_log?: Logger): void {
    this.stopAccepting();
    if (this.flushTimer !== null) clearInterval(this.flushTimer);
    this.flushTimer = null;
    for (const c of [...this.connections]) c.closeNow('drain');
  }
}

function ignore(): void {}
