/**
 * An HTTP listener in one worker: a uWS app on the listener's port (every worker binds the same port;
 * uWS sets SO_REUSEPORT and the kernel spreads connections), its compiled route table and limits.
 */
import { RouteTable, type HttpListenerConfig, type RequestLimits, type StatsWriter } from '@pillion/core';
import type { Logger } from '../logger.js';
import type { HttpRequest, HttpResponse, TemplatedApp, Uws, us_listen_socket } from '../uws.js';
import type { FilterChain } from '../wasm/index.js';
import { ProxyExchange } from './proxy-exchange.js';
import type { WorkerRuntime } from './worker-runtime.js';

export class HttpListener {
  config: HttpListenerConfig;
  readonly slot: number;
  routes: RouteTable;
  requestLimits: RequestLimits;
  maxBodyBytes: number;
  readonly stats: StatsWriter;
  accessLog: Logger | null;
  accessSample: number;
  /** The listener's WASM filters; null when it has none (the request path then skips them entirely). */
  filterChain: FilterChain | null = null;
  /** Exchanges in flight on this listener in this worker. */
  active = 0;
  draining = false;
  private app: TemplatedApp | null = null;
  private listenSocket: us_listen_socket | null = null;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly uws: Uws,
    config: HttpListenerConfig,
    slot: number,
    readonly runtime: WorkerRuntime,
  ) {
    this.config = config;
    this.slot = slot;
    this.routes = new RouteTable(config.routes);
    this.requestLimits = limitsOf(config);
    this.maxBodyBytes = config.limits.max_request_body_bytes;
    this.stats = runtime.stats;
    this.accessLog = null;
    this.accessSample = 0;
    this.setAccessLog();
  }

  private setAccessLog(): void {
    const al = this.runtime.config.access_log;
    this.accessLog = al.enabled && al.sample > 0 ? this.runtime.accessLog : null;
    this.accessSample = al.sample;
  }

  /** Applies a new config for the same listener (routes, limits) without closing the port. */
  update(config: HttpListenerConfig): void {
    this.config = config;
    this.routes = new RouteTable(config.routes);
    this.requestLimits = limitsOf(config);
    this.maxBodyBytes = config.limits.max_request_body_bytes;
    this.setAccessLog();
  }

  listen(): Promise<void> {
    const app = this.uws.App();
    this.app = app;
    app.any('/*', this.onRequest.bind(this));
    return new Promise((resolve, reject) => {
      app.listen(this.config.address, this.config.port, (socket) => {
        if (!socket) {
          reject(new Error(`cannot listen on ${this.config.address}:${this.config.port} (listener ${this.config.name})`));
          return;
        }
        this.listenSocket = socket;
        resolve();
      });
    });
  }

  private onRequest(res: HttpResponse, req: HttpRequest): void {
    new ProxyExchange(this, res, req);
  }

  exchangeDone(): void {
    this.active--;
    if (this.active === 0 && this.idleWaiters.length) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Stops accepting connections; requests in flight go on. */
  stopAccepting(): void {
    this.draining = true;
    if (this.listenSocket) {
      this.uws.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
    }
  }

  /** Resolves when no exchange is in flight, or after `timeoutMs`; returns how many were still open. */
  idle(timeoutMs: number): Promise<number> {
    if (this.active === 0) return Promise.resolve(0);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(this.active), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(0);
      });
    });
  }

  /**
   * Closes the listen socket and every connection, idle keep-alive ones included. A worker thread that
   * ends with uWS sockets open aborts the whole process, so this must run before the thread returns.
   */
  close(log: Logger): void {
    this.stopAccepting();
    if (this.app) {
      try {
        (this.app as unknown as { close(): void }).close();
      } catch (e) {
        log.warn({ err: (e as Error).message }, 'closing uWS app');
      }
      this.app = null;
    }
  }
}

function limitsOf(c: HttpListenerConfig): RequestLimits {
  return {
    maxUriBytes: c.limits.max_uri_bytes,
    maxHeaderBytes: c.limits.max_request_headers_bytes,
    maxHeaders: c.limits.max_request_headers_count,
  };
}
