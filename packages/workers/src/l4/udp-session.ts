/**
 * One UDP session: the datagrams of one client address (ip:port) through the proxy. The first
 * datagram picked the endpoint; the session's own socket, connected to that endpoint, carries every
 * later datagram there, and what the endpoint sends back goes to the client from the listener's
 * socket, so the client sees replies from the address it wrote to.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { PickRequest } from '@pillion/core';
import { CONNECTED, NO_HEADERS, type L4Cluster, type L4Endpoint } from './l4-host.js';
import type { UdpListener } from './udp-listener.js';

/** How a session ended, as written to the access log. */
export type UdpEnd = 'idle-timeout' | 'upstream-error' | 'drain';

/** Datagrams held while the session's socket connects (it resolves the address asynchronously). */
const MAX_PENDING = 64;

export class UdpSession implements PickRequest {
  readonly headers = NO_HEADERS;
  readonly clientAddress: string;
  readonly clientPort: number;
  /** "ip:port" of the client: the session table's key. */
  readonly key: string;
  lbScratch: unknown = null;
  endpoint: L4Endpoint | null = null;
  lastActive: number;
  readonly started: number;
  datagramsIn = 0;
  datagramsOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  private readonly listener: UdpListener;
  private readonly cluster: L4Cluster;
  private socket: Socket | null = null;
  private pending: Buffer[] | null = [];
  private replied = false;
  closed = false;

  constructor(listener: UdpListener, cluster: L4Cluster, key: string, address: string, port: number, now: number) {
    this.listener = listener;
    this.cluster = cluster;
    this.key = key;
    this.clientAddress = address;
    this.clientPort = port;
    this.lastActive = now;
    this.started = now;
  }

  /**
   * Picks the endpoint and opens the session's socket; false when there is no endpoint to pick.
   * `avoid` lists the endpoints this client's recent sessions failed on: the pick walks on past them
   * (as a retry does) while another endpoint is there, so a client whose hash lands on a dead endpoint
   * is not sent back to it datagram after datagram.
   */
  open(avoid: readonly number[] | null = null): boolean {
    let endpoint = this.cluster.pick(this, 0);
    if (endpoint === null) return false;
    if (avoid !== null) {
      for (let attempt = 1; attempt <= avoid.length && avoid.includes(endpoint.slot); attempt++) {
        const next = this.cluster.pick(this, attempt);
        if (next === null) break;
        endpoint = next;
      }
    }
    this.endpoint = endpoint;
    const state = this.listener.host.state;
    // A session is the UDP counterpart of a connection: least-request balances by open sessions.
    state.addEndpoint(endpoint.slot, 'rq_active', 1);
    state.addEndpoint(endpoint.slot, 'cx_active', 1);
    this.listener.host.stats.endpoint(endpoint.slot, 'requests', 1);
    const socket = createSocket(isIPv6(endpoint.address) ? 'udp6' : 'udp4');
    this.socket = socket;
    socket.on('message', this.onReply.bind(this));
    socket.on('error', this.onError.bind(this));
    socket.on('connect', this.onConnect.bind(this));
    socket.connect(endpoint.port, endpoint.address);
    return true;
  }

  /** A datagram from the client, to the endpoint. */
  send(msg: Buffer, now: number): void {
    this.lastActive = now;
    this.datagramsIn++;
    this.bytesIn += msg.length;
    if (this.pending !== null) {
      if (this.pending.length < MAX_PENDING) this.pending.push(msg);
      else this.listener.dropped('udp_dropped_upstream_error');
      return;
    }
    this.socket!.send(msg);
    this.listener.host.stats.cluster(this.cluster.slot, 'upstream_bytes_out', msg.length);
  }

  private onConnect(): void {
    const pending = this.pending!;
    this.pending = null;
    for (const msg of pending) {
      this.socket!.send(msg);
      this.listener.host.stats.cluster(this.cluster.slot, 'upstream_bytes_out', msg.length);
    }
  }

  /** A datagram from the endpoint, back to the client. */
  private onReply(msg: Buffer): void {
    if (this.closed) return;
    const l = this.listener;
    l.host.stats.cluster(this.cluster.slot, 'upstream_bytes_in', msg.length);
    if (msg.length > l.config.max_datagram_size) {
      l.dropped('udp_dropped_oversized');
      return;
    }
    if (!this.replied) {
      this.replied = true;
      this.cluster.onResult(this.endpoint!, CONNECTED);
    }
    this.lastActive = l.now();
    this.datagramsOut++;
    this.bytesOut += msg.length;
    l.reply(msg, this.clientPort, this.clientAddress);
  }

  /**
   * The endpoint refused (ICMP port unreachable surfaces as ECONNREFUSED on a connected socket) or the
   * socket failed: the session ends, so the client's next datagram picks again.
   */
  private onError(err: Error): void {
    if (this.closed) return;
    this.listener.host.log.debug({ listener: this.listener.config.name, upstream: this.endpoint?.key, err: err.message }, 'udp upstream failed');
    this.listener.host.stats.cluster(this.cluster.slot, 'upstream_connect_failures', 1);
    this.listener.host.stats.endpoint(this.endpoint!.slot, 'connect_failures', 1);
    this.cluster.onResult(this.endpoint!, 'connect-failure');
    this.listener.dropped('udp_dropped_upstream_error');
    this.listener.endSession(this, 'upstream-error');
  }

  /** Releases the socket and the endpoint's counters. Called once, by the listener. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.endpoint !== null) {
      const state = this.listener.host.state;
      state.addEndpoint(this.endpoint.slot, 'rq_active', -1);
      state.addEndpoint(this.endpoint.slot, 'cx_active', -1);
    }
    if (this.socket !== null) {
      this.socket.on('error', ignore);
      try {
        this.socket.close();
      } catch {
        // already closed
      }
      this.socket = null;
    }
    this.pending = null;
  }
}

function ignore(): void {}
