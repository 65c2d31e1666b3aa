/**
 * A TCP listener in one worker. Every worker listens on the same port through `listenShared()` and
 * the kernel spreads connections over them; each connection is proxied by a TcpConnection:
 *
 * - plain (`cluster`): to an endpoint of the listener's cluster, at once;
 * - `tls`: after the TLS handshake and the client certificate check (tls-terminate), the plaintext;
 * - `tls_passthrough`: after the ClientHello has been read (tls-passthrough), to the cluster its SNI
 *   routes to, every byte untouched.
 *
 * A connection in its handshake or ClientHello read already counts as open: it holds a place under
 * `max_connections`, a drain waits for it, and closing the listener closes it.
 *
 * The listener's `max_connections` is a breaker over the whole process: the accept path reads the
 * open-connection count summed over every worker's statistics row, so workers can overshoot it only by
 * connections accepted in the same instant on other threads.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { PeerIdentity, TcpListenerConfig } from '@pillion/core';
import { DrainWaiter } from '../drain-waiter.js';
import type { Logger } from '../logger.js';
import { accessLogOf, sampled, type L4Host } from './l4-host.js';
import { listenShared } from './listen-shared.js';
import { AcceptErrors } from './accept-errors.js';
import { TcpConnection, type TcpEnd } from './tcp-connection.js';
import { CLIENT_HELLO_TIMEOUT_MS, ClientHelloRead, passthroughCluster, type HelloOutcome } from './tls-passthrough.js';
import { TlsHandshake, TlsTerminator, type TlsFailure, type TlsOutcomes } from './tls-terminate.js';

/** How often bytes of long-lived connections are added to the statistics (short ones count at close). */
const BYTES_FLUSH_MS = 1000;

/** A connection not proxied yet: in its TLS handshake, or its ClientHello being read. */
class Pending {
  readonly acceptedAt = performance.now();
  /** ip:port, read at accept when the access log needs it (the socket may be gone when the line is written). */
  readonly client: string;
  /** Stops the handshake or read and closes the socket. */
  cancel: () => void = () => undefined;

  constructor(
    private readonly listener: TcpListener,
    readonly socket: Socket,
  ) {
    this.client = listener.accessLog !== null ? `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}` : '';
  }

  countBytes(): void {}

  closeNow(reason: TcpEnd): void {
    this.cancel();
    this.listener.unproxied(this, reason);
  }
}

export class TcpListener implements TlsOutcomes {
  config: TcpListenerConfig;
  readonly slot: number;
  readonly host: L4Host;
  accessLog: Logger | null = null;
  accessSample = 1;
  /** tls_passthrough: how long a client has to send its whole ClientHello (fixed; settable for tests). */
  clientHelloTimeoutMs = CLIENT_HELLO_TIMEOUT_MS;
  private configSource: unknown = null;
  private readonly server: Server;
  private readonly connections = new Set<TcpConnection | Pending>();
  /** Connections in their handshake or ClientHello read, by their socket. */
  private readonly pending = new Map<Socket, Pending>();
  private readonly terminator = new TlsTerminator(this);
  private draining = false;
  private listening = false;
  private flushTimer: NodeJS.Timeout | null = null;
  private readonly drainWaiter = new DrainWaiter(() => this.connections.size);

  constructor(config: TcpListenerConfig, slot: number, host: L4Host) {
    this.config = config;
    this.slot = slot;
    this.host = host;
    this.refresh();
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, this.onConnection.bind(this));
    const acceptErrors = new AcceptErrors(config.name, () => this.host.stats.listener(this.slot, 'accept_errors', 1), host.log);
    this.server.on('error', acceptErrors.onServerError.bind(acceptErrors));
  }

  /** Connections open on this listener in this worker (those still in a handshake or ClientHello read included). */
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
    const cfg = this.config;
    stats.listener(this.slot, 'tcp_connections_total', 1);
    stats.listener(this.slot, 'downstream_cx_total', 1);
    // A passthrough listener learns its cluster from the ClientHello; the others must have theirs now.
    const known = cfg.tls_passthrough !== undefined || (cfg.cluster !== undefined && this.host.cluster(cfg.cluster) !== undefined);
    if (this.draining || !known) {
      if (!known) stats.listener(this.slot, 'tcp_no_endpoint', 1);
      this.refuse(socket, 'no-endpoint');
      return;
    }
    if (state.listenerStat(this.slot, 'tcp_connections_active') >= cfg.max_connections) {
      stats.listener(this.slot, 'tcp_rejected_max_connections', 1);
      this.refuse(socket, 'overflow');
      return;
    }
    stats.listener(this.slot, 'tcp_connections_active', 1);
    if (cfg.tls_passthrough !== undefined) this.readClientHello(socket);
    else if (cfg.tls !== undefined) this.handshake(socket);
    else this.connections.add(new TcpConnection(this, socket, this.host.cluster(cfg.cluster!)!));
  }

  // ------------------------------------------------------------------ tls

  private handshake(socket: Socket): void {
    const p = this.hold(socket);
    const tls = this.host.tls.listener(this.config.name);
    if (tls === undefined) {
      // Certificates are read before the worker starts; a listener without them cannot serve.
      this.host.log.error({ listener: this.config.name }, 'tls listener has no certificates loaded');
      this.host.stats.listener(this.slot, 'tls_failed_handshake', 1);
      close(socket);
      this.unproxied(p, 'tls-failed', { tls_error: 'handshake' });
      return;
    }
    const h = new TlsHandshake(socket, tls, p.acceptedAt);
    p.cancel = () => this.terminator.cancel(h);
    this.terminator.start(h);
  }

  /** The handshake is done and the client checked: proxy the plaintext to the listener's cluster. */
  secured(h: TlsHandshake, socket: TLSSocket, identity: PeerIdentity | null, resumed: boolean): void {
    const p = this.pending.get(h.raw);
    if (p === undefined) {
      socket.destroy();
      return;
    }
    this.countHandshake(resumed);
    const fields: Record<string, string> = {};
    if (typeof socket.servername === 'string' && socket.servername !== '') fields.sni = socket.servername;
    if (identity !== null && identity.name !== '') fields.client_identity = identity.name;
    this.refresh();
    const name = this.config.cluster;
    // Resolved now, not at accept: a snapshot applied during the handshake replaces the cluster runtimes.
    const cluster = name === undefined ? undefined : this.host.cluster(name);
    if (cluster === undefined) {
      this.host.stats.listener(this.slot, 'tcp_no_endpoint', 1);
      socket.destroy();
      this.unproxied(p, 'no-endpoint', fields);
      return;
    }
    this.proxy(p, new TcpConnection(this, socket, cluster, { transport: h.raw, acceptedAt: p.acceptedAt, logFields: fields }));
  }

  /** The handshake failed or the client was refused (the sockets are already being closed). */
  failed(h: TlsHandshake, reason: TlsFailure, detail: string, completed: boolean, resumed: boolean): void {
    const p = this.pending.get(h.raw);
    if (p === undefined) return;
    if (completed) this.countHandshake(resumed);
    this.host.stats.listener(this.slot, `tls_failed_${reason}`, 1);
    this.host.log.debug({ listener: this.config.name, reason, err: detail }, 'tls connection refused');
    this.unproxied(p, 'tls-failed', { tls_error: reason });
  }

  private countHandshake(resumed: boolean): void {
    this.host.stats.listener(this.slot, 'tls_handshakes', 1);
    if (resumed) this.host.stats.listener(this.slot, 'tls_resumed', 1);
  }

  // ------------------------------------------------------------------ tls_passthrough

  private readClientHello(socket: Socket): void {
    const p = this.hold(socket);
    const read = new ClientHelloRead(socket, this.clientHelloTimeoutMs, (outcome) => this.onClientHello(p, outcome));
    p.cancel = () => {
      read.cancel();
      close(socket);
    };
  }

  private onClientHello(p: Pending, o: HelloOutcome): void {
    const { stats } = this.host;
    if (o.kind !== 'hello') {
      close(p.socket);
      if (o.kind === 'gone') {
        this.unproxied(p, o.error ? 'downstream-reset' : 'closed');
      } else if (o.kind === 'timeout') {
        stats.listener(this.slot, 'tls_failed_timeout', 1);
        this.unproxied(p, 'tls-failed', { tls_error: 'timeout' });
      } else {
        stats.listener(this.slot, 'tls_passthrough_not_tls', 1);
        this.host.log.debug({ listener: this.config.name, reason: o.reason }, 'tls_passthrough: not a TLS ClientHello');
        this.unproxied(p, 'not-tls');
      }
      return;
    }
    this.refresh();
    const cfg = this.config;
    const fields: Record<string, string> = o.serverName !== '' ? { sni: o.serverName } : {};
    const name = cfg.tls_passthrough !== undefined ? passthroughCluster(cfg.tls_passthrough, o.serverName) : cfg.cluster;
    if (name === undefined) {
      stats.listener(this.slot, 'tls_passthrough_no_route', 1);
      close(p.socket);
      this.unproxied(p, 'no-route', fields);
      return;
    }
    const cluster = this.host.cluster(name);
    if (cluster === undefined) {
      stats.listener(this.slot, 'tcp_no_endpoint', 1);
      close(p.socket);
      this.unproxied(p, 'no-endpoint', { ...fields, cluster: name });
      return;
    }
    this.proxy(p, new TcpConnection(this, p.socket, cluster, { initial: o.bytes, acceptedAt: p.acceptedAt, logFields: fields }));
  }

  // ------------------------------------------------------------------ bookkeeping

  /** Counts an accepted connection as open before it is proxied. */
  private hold(socket: Socket): Pending {
    const p = new Pending(this, socket);
    this.pending.set(socket, p);
    this.connections.add(p);
    return p;
  }

  /** Hands a connection over from its handshake or ClientHello read to its proxy (it stays counted as open). */
  private proxy(p: Pending, c: TcpConnection): void {
    this.pending.delete(p.socket);
    this.connections.delete(p);
    this.connections.add(c);
  }

  /** Ends a held connection that was never proxied (its socket is closed by the caller): the log line, the counters. */
  unproxied(p: Pending, end: TcpEnd, fields: Record<string, string> = {}): void {
    if (!this.pending.delete(p.socket)) return;
    if (this.accessLog !== null && sampled(this.accessSample)) {
      this.accessLog.info({
        listener: this.config.name,
        protocol: 'tcp',
        client: p.client,
        cluster: this.config.cluster,
        attempts: 0,
        duration_ms: Math.round((performance.now() - p.acceptedAt) * 1000) / 1000,
        bytes_in: p.socket.bytesRead,
        bytes_out: p.socket.bytesWritten,
        end,
        ...fields,
      });
    }
    this.connectionDone(p);
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
    close(socket);
  }

  connectionDone(c: TcpConnection | Pending): void {
    if (!this.connections.delete(c)) return;
    this.host.stats.listener(this.slot, 'tcp_connections_active', -1);
    this.drainWaiter.check();
  }

  private flushBytes(): void {
    for (const c of this.connections) c.countBytes();
  }

  /** Stops accepting; open connections go on (those in a handshake or ClientHello read too). */
  stopAccepting(): void {
    this.draining = true;
    if (this.listening) {
      this.listening = false;
      this.server.close(ignore);
    }
  }

  /** Resolves when no connection is open, or after `timeoutMs`; returns how many were still open. */
  idle(timeoutMs: number): Promise<number> {
    return this.drainWaiter.wait(timeoutMs);
  }

  /** Stops accepting and closes every connection still open. */
  close(_log?: Logger): void {
    this.stopAccepting();
    if (this.flushTimer !== null) clearInterval(this.flushTimer);
    this.flushTimer = null;
    for (const c of [...this.connections]) c.closeNow('drain');
  }
}

function close(socket: Socket): void {
  socket.on('error', ignore);
  socket.destroy();
}

function ignore(): void {}
