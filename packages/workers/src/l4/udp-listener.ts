/**
 * A UDP listener: sessions per client address over the listener's cluster.
 *
 * How UDP spreads over workers: one worker owns each UDP listener (`udpOwner()`: the listener's slot
 * modulo the worker count, so several UDP listeners land on different workers) and binds its socket;
 * the other workers leave it alone. Why not one SO_REUSEPORT socket per worker as for TCP:
 *  - Node 20's `dgram` cannot set SO_REUSEPORT (`reusePort` arrives in 22.12; the option is ignored
 *    before, and a second bind fails with EADDRINUSE), and `node-unix-socket` makes stream sockets only;
 *  - even where it can, the kernel's reuseport hash is over the current group of sockets: when a worker
 *    restarts, clients are rehashed onto other workers, whose session tables do not know them, and a
 *    session would jump to a newly picked endpoint. With one owner the session table is in one place
 *    and a session's datagrams always reach the same endpoint until it expires.
 * The price is one core per UDP listener; a worker forwards well over 50k datagrams a second.
 * If the owner dies, the supervisor's new thread (same number) binds again; sessions start over.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { ListenerStat, UdpListenerConfig } from '@pillion/core';
import { DrainWaiter } from '../drain-waiter.js';
import type { Logger } from '../logger.js';
import { accessLogOf, sampled, type L4Host } from './l4-host.js';
import { UdpSession, type UdpEnd } from './udp-session.js';

/** The worker (thread number) that serves a UDP listener. */
export function udpOwner(listenerSlot: number, workers: number): number {
  return workers > 0 ? listenerSlot % workers : 0;
}

/** While draining, a session ends after this long without traffic (or its session_timeout if shorter). */
export const DRAIN_QUIET_MS = 1000;

/** Idle sessions are found by a sweep; this is how often it runs relative to the timeout. */
export function sweepInterval(sessionTimeoutMs: number): number {
  return Math.max(10, Math.min(1000, Math.floor(sessionTimeoutMs / 4)));
}

/** A client whose sessions failed lately, and the endpoints they failed on. */
interface FailedClient {
  slots: number[];
  until: number;
}

/** Endpoints remembered per failing client: past this many, the oldest is forgotten. */
const MAX_AVOIDED = 8;

export class UdpListener {
  config: UdpListenerConfig;
  readonly slot: number;
  readonly host: L4Host;
  /** Whether this worker serves the listener (see udpOwner). */
  readonly owner: boolean;
  private accessLog: Logger | null = null;
  private accessSample = 1;
  private configSource: unknown = null;
  private socket: Socket | null = null;
  private readonly sessions = new Map<string, UdpSession>();
  /**
   * Client addresses whose sessions failed lately: the endpoints to avoid, until the entry expires. By
   * address, not address and port: with source-ip hashing every port of the address lands on the
   * same endpoint.
   */
  private readonly failedClients = new Map<string, FailedClient>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private draining = false;
  private readonly drainWaiter = new DrainWaiter(() => this.sessions.size);
  private readonly clock: () => number;

  constructor(config: UdpListenerConfig, slot: number, host: L4Host, clock: () => number = Date.now) {
    this.config = config;
    this.slot = slot;
    this.host = host;
    this.clock = clock;
    this.owner = host.thread === udpOwner(slot, host.state.layout.cap.maxThreads - 1);
    this.refresh();
  }

  now(): number {
    return this.clock();
  }

  /** Sessions open (only the owner has any). */
  get active(): number {
    return this.sessions.size;
  }

  /** The port actually bound, or 0 when this worker is not the owner. */
  get port(): number {
    return this.socket !== null ? this.socket.address().port : 0;
  }

  async listen(): Promise<void> {
    if (!this.owner) return;
    const { address, port, name } = this.config;
    const ip = isIP(address) ? address : (await lookup(address)).address;
    const socket = createSocket(isIP(ip) === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, ip, () => {
        socket.off('error', reject);
        resolve();
      });
    }).catch((e: Error) => {
      socket.close();
      throw new Error(`cannot listen on udp ${address}:${port} (listener ${name}): ${e.message}`);
    });
    socket.on('message', this.onMessage.bind(this));
    socket.on('error', this.onSocketError.bind(this));
    this.socket = socket;
    this.armSweep();
  }

  private refresh(): void {
    const config = this.host.config;
    if (config === this.configSource) return;
    this.configSource = config;
    const next = config.listeners.find((l) => l.name === this.config.name);
    const timeoutChanged = next !== undefined && next.protocol === 'udp' && next.session_timeout !== this.config.session_timeout;
    if (next !== undefined && next.protocol === 'udp') this.config = next;
    const al = accessLogOf(this.host);
    this.accessLog = al.log;
    this.accessSample = al.sample;
    if (timeoutChanged && this.sweepTimer !== null) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = null;
      this.armSweep();
    }
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    const { stats } = this.host;
    stats.listener(this.slot, 'udp_datagrams_in', 1);
    stats.listener(this.slot, 'downstream_bytes_in', msg.length);
    if (msg.length > this.config.max_datagram_size) {
      this.dropped('udp_dropped_oversized');
      return;
    }
    const now = this.clock();
    const key = `${rinfo.address}:${rinfo.port}`;
    const session = this.sessions.get(key) ?? this.newSession(key, rinfo, now);
    if (session !== null) session.send(msg, now);
  }

  private newSession(key: string, rinfo: RemoteInfo, now: number): UdpSession | null {
    this.refresh();
    if (this.draining) {
      this.dropped('udp_dropped_draining');
      return null;
    }
    if (this.sessions.size >= this.config.max_sessions) {
      this.dropped('udp_dropped_max_sessions');
      return null;
    }
    const cluster = this.host.cluster(this.config.cluster);
    const session = cluster === undefined ? null : new UdpSession(this, cluster, key, rinfo.address, rinfo.port, now);
    const failed = this.failedClients.get(rinfo.address);
    if (failed !== undefined && failed.until <= now) this.failedClients.delete(rinfo.address);
    const avoid = failed !== undefined && failed.until > now ? failed.slots : null;
    if (session === null || !session.open(avoid)) {
      this.dropped('udp_dropped_no_endpoint');
      return null;
    }
    this.sessions.set(key, session);
    const { stats } = this.host;
    stats.listener(this.slot, 'udp_sessions_total', 1);
    stats.listener(this.slot, 'udp_sessions_active', 1);
    return session;
  }

  /** Sends a datagram to a client from the listener's own address. */
  reply(msg: Buffer, port: number, address: string): void {
    if (this.socket === null) return;
    this.socket.send(msg, port, address);
    const { stats } = this.host;
    stats.listener(this.slot, 'udp_datagrams_out', 1);
    stats.listener(this.slot, 'downstream_bytes_out', msg.length);
  }

  dropped(reason: ListenerStat): void {
    this.host.stats.listener(this.slot, reason, 1);
  }

  endSession(session: UdpSession, end: UdpEnd): void {
    if (this.sessions.get(session.key) !== session) return;
    this.sessions.delete(session.key);
    if (end === 'upstream-error' && session.endpoint !== null) this.rememberFailure(session.clientAddress, session.endpoint.slot);
    session.close();
    this.host.stats.listener(this.slot, 'udp_sessions_active', -1);
    if (this.accessLog !== null && sampled(this.accessSample)) {
      this.accessLog.info({
        listener: this.config.name,
        protocol: 'udp',
        client: session.key,
        cluster: this.config.cluster,
        upstream: session.endpoint?.key,
        duration_ms: this.clock() - session.started,
        datagrams_in: session.datagramsIn,
        datagrams_out: session.datagramsOut,
        bytes_in: session.bytesIn,
        bytes_out: session.bytesOut,
        end,
      });
    }
    this.drainWaiter.check();
  }

  private armSweep(): void {
    if (this.sweepTimer !== null) return;
    this.sweepTimer = setInterval(this.sweep.bind(this), sweepInterval(this.quietLimit()));
    this.sweepTimer.unref();
  }

  private quietLimit(): number {
    const t = this.config.session_timeout;
    return this.draining ? Math.min(t, DRAIN_QUIET_MS) : t;
  }

  /**
   * The client's session failed on this endpoint: its next sessions avoid it for one session_timeout.
   * Kept for at most max_sessions clients (a flood of failing clients must not grow memory).
   */
  private rememberFailure(address: string, slot: number): void {
    const until = this.clock() + this.config.session_timeout;
    const known = this.failedClients.get(address);
    if (known !== undefined) {
      if (!known.slots.includes(slot)) {
        if (known.slots.length === MAX_AVOIDED) known.slots.shift();
        known.slots.push(slot);
      }
      known.until = until;
      return;
    }
    if (this.failedClients.size >= this.config.max_sessions) return;
    this.failedClients.set(address, { slots: [slot], until });
  }

  /** Ends every session quiet for longer than the session timeout. Public for tests with a fake clock. */
  sweep(): void {
    this.refresh();
    const now = this.clock();
    const deadline = now - this.quietLimit();
    for (const s of this.sessions.values()) if (s.lastActive <= deadline) this.endSession(s, 'idle-timeout');
    for (const [key, f] of this.failedClients) if (f.until <= now) this.failedClients.delete(key);
  }

  private onSocketError(e: Error): void {
    // A failed send to one client (for example a full socket buffer) must not end the listener.
    this.host.log.debug({ listener: this.config.name, err: e.message }, 'udp listener socket error');
  }

  /** New clients are refused from now on; sessions go on until they are quiet for DRAIN_QUIET_MS. */
  stopAccepting(): void {
    if (this.draining) return;
    this.draining = true;
    if (this.sweepTimer !== null) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = null;
      this.armSweep();
    }
  }

  /** Resolves when no session is left, or after `timeoutMs`; returns how many were still open. */
  idle(timeoutMs: number): Promise<number> {
    return this.drainWaiter.wait(timeoutMs);
  }

  /** Ends every session and closes the socket. */
  close(_log?: Logger): void {
    this.draining = true;
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    for (const s of [...this.sessions.values()]) this.endSession(s, 'drain');
    if (this.socket !== null) {
      this.socket.on('error', () => {});
      try {
        this.socket.close();
      } catch {
        // already closed
      }
      this.socket = null;
    }
  }
}
