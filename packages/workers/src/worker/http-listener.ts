/**
 * An HTTP listener in one worker: its port (every worker binds the same port with SO_REUSEPORT and the
 * kernel spreads connections), its compiled route table and limits, and the count of exchanges in
 * flight. How HTTP/1.1 is read from the wire is the codec's job (uws-listener.ts, strict-listener.ts);
 * everything after the request head is the protocol-neutral pipeline in proxy-exchange.ts.
 */
import { RouteTable, type Config, type ForwardClientCertMode, type HttpListenerConfig, type PeerIdentity, type RequestLimits, type SharedState, type StatsWriter } from '@pillion/core';
import { DrainWaiter } from '../drain-waiter.js';
import type { Logger } from '../logger.js';
import type { ListenerTracing } from '../tracing/listener-tracing.js';
import type { FilterChain } from '../wasm/index.js';
import type { ClusterRuntime } from './cluster-runtime.js';
import type { Downstream } from './downstream.js';
import type { WorkerTls } from './worker-tls.js';

/** What the HTTP path needs from the worker that runs it (WorkerRuntime provides it). */
export interface HttpHost {
  readonly state: SharedState;
  readonly stats: StatsWriter;
  readonly accessLog: Logger;
  /** The running config; replaced (never mutated) on reload. */
  readonly config: Config;
  cluster(name: string): ClusterRuntime | undefined;
  /** Secure contexts of TLS listeners (absent where no listener has `tls`). */
  readonly tls?: WorkerTls;
}

export abstract class HttpListener {
  config: HttpListenerConfig;
  readonly slot: number;
  routes: RouteTable;
  /** The statistics slot of each route, by route index (empty: routes are not counted); set with `routes`. */
  routeSlots: readonly number[] = [];
  requestLimits: RequestLimits;
  maxBodyBytes: number;
  readonly stats: StatsWriter;
  accessLog: Logger | null;
  accessSample: number;
  /** The listener's WASM filters; null when it has none (the request path then skips them entirely). */
  filterChain: FilterChain | null = null;
  /** Tracing settings; null when tracing is off (the request path then skips it with this one check). */
  tracing: ListenerTracing | null = null;
  /** Exchanges in flight on this listener in this worker. */
  active = 0;
  /** The codec aborts a pending request when another arrives on its connection: see startDeferred. */
  deferForward = false;
  draining = false;
  /** The listener terminates TLS: requests are forwarded with `x-forwarded-proto: https`. */
  secure: boolean;
  /** What becomes of `x-forwarded-client-cert` (sanitize on a listener without TLS: a client never injects it). */
  forwardClientCert: ForwardClientCertMode;
  private readonly drainWaiter = new DrainWaiter(() => this.active + this.openStreams());

  constructor(
    config: HttpListenerConfig,
    slot: number,
    readonly runtime: HttpHost,
  ) {
    this.config = config;
    this.slot = slot;
    this.routes = new RouteTable(config.routes);
    this.requestLimits = limitsOf(config);
    this.maxBodyBytes = config.limits.max_request_body_bytes;
    this.stats = runtime.stats;
    this.accessLog = null;
    this.accessSample = 0;
    this.secure = config.tls !== undefined;
    this.forwardClientCert = config.tls?.forward_client_cert ?? 'sanitize';
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
    this.secure = config.tls !== undefined;
    this.forwardClientCert = config.tls?.forward_client_cert ?? 'sanitize';
    this.setAccessLog();
  }

  abstract listen(): Promise<void>;

  /** The client's address as text, for forwarding headers and hashing. */
  abstract clientAddress(res: Downstream): string;

  /** The verified identity of the client's TLS certificate, kept with its connection; null without one. */
  clientIdentity(_res: Downstream): PeerIdentity | null {
    return null;
  }

  /** The URI SAN of the certificate this listener presents: `By` in x-forwarded-client-cert ('' for none). */
  clientCertBy(): string {
    return this.runtime.tls?.listener(this.config.name)?.by ?? '';
  }

  /** Stops accepting connections; requests in flight go on. */
  abstract stopAccepting(): void;

  /**
   * Closes the listen socket and every connection, idle keep-alive ones included. A worker thread that
   * ends with uWS sockets open aborts the whole process, so this must run before the thread returns.
   */
  abstract close(log: Logger): void;

  exchangeDone(): void {
    this.active--;
    this.drainWaiter.check();
  }

  /**
   * HTTP/2 streams still open on the listener's connections. A stream outlives its exchange: the
   * exchange is done once the response is handed over, while the stream still sends what flow
   * control held back and, for gRPC, the trailers. A drain waits for those too.
   */
  protected openStreams(): number {
    return 0;
  }

  /** An HTTP/2 stream closed (see openStreams). */
  streamClosed(): void {
    this.drainWaiter.check();
  }

  /** Resolves when no exchange (or HTTP/2 stream) is in flight, or after `timeoutMs`; returns how many were still open. */
  idle(timeoutMs: number): Promise<number> {
    return this.drainWaiter.wait(timeoutMs);
  }
}

function limitsOf(c: HttpListenerConfig): RequestLimits {
  return {
    maxUriBytes: c.limits.max_uri_bytes,
    maxHeaderBytes: c.limits.max_request_headers_bytes,
    maxHeaders: c.limits.max_request_headers_count,
  };
}
