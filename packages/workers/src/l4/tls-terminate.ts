/**
 * A TCP listener with `tls`: TLS is terminated here and the plaintext proxied. Each accepted connection
 * is handed to a node:tls server that never listens itself, built from the listener's ListenerTls
 * options (certificates by SNI, client certificates, minimum version, ciphers, ALPN, the ticket keys
 * every worker shares, the handshake timeout). A new server is built when those change (a rotated
 * certificate, new ticket keys, a reload): new handshakes use it, handshakes in progress finish on the
 * one they started with.
 *
 * After the handshake `checkPeer` decides about the client certificate; a refusal closes the connection
 * and is reported with its reason, like a failed or timed-out handshake.
 */
import type { Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { PeerIdentity } from '@pillion/core';
import type { ListenerTls, TlsRefusal } from '../worker/worker-tls.js';

/** Why a connection ended before it was proxied: the reasons of `tls_failed_*` and the access log. */
export type TlsFailure = 'handshake' | 'timeout' | TlsRefusal;

/** A connection from accept until its handshake is done and its client checked. */
export class TlsHandshake {
  settled = false;
  constructor(
    /** The accepted TCP socket; the TLSSocket reads and writes through its handle. */
    readonly raw: Socket,
    readonly tls: ListenerTls,
    readonly acceptedAt: number,
  ) {}
}

/** What the terminator reports to its listener, once per handshake. */
export interface TlsOutcomes {
  /** The handshake completed and the client passed `checkPeer`. `resumed`: a session was resumed. */
  secured(h: TlsHandshake, socket: TLSSocket, identity: PeerIdentity | null, resumed: boolean): void;
  /** The handshake failed, timed out, or the client was refused (`completed`: after a full handshake); the sockets are destroyed. */
  failed(h: TlsHandshake, reason: TlsFailure, detail: string, completed: boolean, resumed: boolean): void;
}

export class TlsTerminator {
  private server: TlsServer | null = null;
  private owner: ListenerTls | null = null;
  private generation = -1;
  private readonly pending = new Map<Socket, TlsHandshake>();
  private readonly boundSecure = this.onSecure.bind(this);
  private readonly boundClientError = this.onClientError.bind(this);

  constructor(private readonly outcomes: TlsOutcomes) {}

  /** Handshakes in progress. */
  get size(): number {
    return this.pending.size;
  }

  /** Starts the handshake of a connection the listener accepted (paused, with allowHalfOpen). */
  start(h: TlsHandshake): void {
    const raw = h.raw;
    this.pending.set(raw, h);
    // The TLSSocket copies allowHalfOpen from the socket it wraps. During the handshake a client's FIN
    // must end the connection (not leave it waiting for the handshake timeout); after it, half-closes
    // are passed on like on any TCP listener (see `onSecure`).
    raw.allowHalfOpen = false;
    raw.once('close', () => this.fail(h, null, 'handshake', 'connection closed during the handshake', false, false));
    this.serverFor(h.tls).emit('connection', raw);
  }

  /** Closes a connection still in its handshake, without reporting an outcome. */
  cancel(h: TlsHandshake): void {
    h.settled = true;
    this.pending.delete(h.raw);
    h.raw.on('error', ignore);
    h.raw.destroy();
  }

  private serverFor(tls: ListenerTls): TlsServer {
    if (this.server === null || tls !== this.owner || tls.generation !== this.generation) {
      const server = createTlsServer(tls.serverOptions(tls.config.alpn));
      server.on('secureConnection', this.boundSecure);
      server.on('tlsClientError', this.boundClientError);
      this.server = server;
      this.owner = tls;
      this.generation = tls.generation;
    }
    return this.server;
  }

  private onSecure(socket: TLSSocket): void {
    const h = this.handshakeOf(socket);
    if (h === undefined) {
      socket.destroy();
      return;
    }
    const resumed = socket.isSessionReused();
    const check = h.tls.checkPeer(socket);
    if (!check.ok) {
      this.fail(h, socket, check.reason, check.detail, true, resumed);
      return;
    }
    this.pending.delete(h.raw);
    h.settled = true;
    socket.allowHalfOpen = true;
    this.outcomes.secured(h, socket, check.identity, resumed);
  }

  private onClientError(err: NodeJS.ErrnoException, socket: TLSSocket): void {
    const h = this.handshakeOf(socket);
    if (h === undefined) {
      socket.destroy();
      return;
    }
    this.fail(h, socket, err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'timeout' : 'handshake', err.message, false, false);
  }

  private fail(h: TlsHandshake, socket: TLSSocket | null, reason: TlsFailure, detail: string, completed: boolean, resumed: boolean): void {
    if (h.settled) return;
    h.settled = true;
    this.pending.delete(h.raw);
    if (socket !== null) {
      socket.on('error', ignore);
      socket.destroy();
    }
    h.raw.on('error', ignore);
    h.raw.destroy();
    this.outcomes.failed(h, reason, detail, completed, resumed);
  }

  /** The handshake of a TLSSocket the server made: it wraps the accepted socket (its `_parent`). */
  private handshakeOf(socket: TLSSocket): TlsHandshake | undefined {
    const raw = (socket as TLSSocket & { _parent?: Socket })._parent;
    return raw === undefined ? undefined : this.pending.get(raw);
  }
}

function ignore(): void {}
