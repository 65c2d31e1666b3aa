/**
 * Test fixtures for the layer-4 listeners: a stand-in worker (real SharedState and statistics, a
 * captured access log) whose clusters pick by script, and small real upstream servers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import pino from 'pino';
import { SharedState, parseConfig, type Config, type ListenerStat, type PickRequest, type StatsWriter } from '@pillion/core';
import type { L4Cluster, L4Endpoint, L4Host } from '../src/l4/l4-host.js';
import type { ClusterSnapshot, TlsMaterial } from '../src/messages.js';
import type { UpstreamResult } from '../src/worker/cluster-runtime.js';
import { WorkerTls } from '../src/worker/worker-tls.js';

/** Chooses an index into the cluster's endpoints (or -1 for none) for one pick. */
export type Chooser = (req: PickRequest, attempt: number, pickNumber: number) => number;

export class ScriptedCluster implements L4Cluster {
  readonly name: string;
  readonly slot: number;
  readonly snapshot: ClusterSnapshot;
  readonly endpoints: L4Endpoint[];
  readonly picks: { client: string; attempt: number }[] = [];
  readonly results: [string, UpstreamResult][] = [];
  choose: Chooser = (_req, attempt) => attempt % this.endpoints.length;

  constructor(snapshot: ClusterSnapshot) {
    this.name = snapshot.name;
    this.slot = snapshot.slot;
    this.snapshot = snapshot;
    this.endpoints = snapshot.endpoints.map((e) => ({ slot: e.slot, key: e.key, address: e.address, port: e.port }));
  }

  pick(req: PickRequest, attempt: number): L4Endpoint | null {
    const i = this.choose(req, attempt, this.picks.length);
    this.picks.push({ client: req.clientAddress, attempt });
    return i < 0 ? null : this.endpoints[i]!;
  }

  onResult(endpoint: L4Endpoint, result: UpstreamResult): void {
    this.results.push([endpoint.key, result]);
  }
}

export class TestHost implements L4Host {
  readonly thread: number;
  readonly state: SharedState;
  readonly stats: StatsWriter;
  readonly log = pino({ level: 'silent' });
  readonly accessLog: pino.Logger;
  readonly lines: Record<string, unknown>[] = [];
  config: Config;
  readonly clusters = new Map<string, ScriptedCluster>();
  /** Listener TLS as a worker keeps it; `setTls` applies certificates as a snapshot would. */
  readonly tls = new WorkerTls();
  private tlsGeneration = 0;

  /** `doc` is a config document; cluster slots follow their order, endpoint slots count on across clusters. */
  constructor(doc: Record<string, unknown>, opts: { thread?: number; workers?: number } = {}) {
    this.config = parseConfig({ admin: { port: 0 }, ...doc });
    this.thread = opts.thread ?? 0;
    this.state = SharedState.create({ maxClusters: 4, maxEndpoints: 16, maxListeners: 4, maxThreads: (opts.workers ?? 1) + 1 });
    this.stats = this.state.statsWriter(this.thread);
    this.accessLog = pino({ base: null }, { write: (s: string) => void this.lines.push(JSON.parse(s)) });
    let endpointSlot = 0;
    this.config.clusters.forEach((c, slot) => {
      const endpoints = c.endpoints.map((e) => ({ slot: endpointSlot++, address: e.address, port: e.port, weight: e.weight, zone: e.zone, key: `${e.address}:${e.port}` }));
      this.clusters.set(c.name, new ScriptedCluster({ slot, name: c.name, config: c, endpoints }));
    });
  }

  cluster(name: string): ScriptedCluster | undefined {
    return this.clusters.get(name);
  }

  /** Applies TLS material (certificates, CA, ticket keys) the way a worker applies a snapshot. */
  setTls(material: TlsMaterial): void {
    this.tls.update({ generation: ++this.tlsGeneration, config: this.config, listenerSlots: {}, clusters: [], tls: material });
  }

  /** A listener statistic of this thread's row. */
  stat(listenerSlot: number, stat: ListenerStat): number {
    return this.state.threadListenerStat(this.thread, listenerSlot, stat);
  }
}

export function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A TCP echo server (half-close aware: it ends its side when the client ends). */
export async function tcpEcho(): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  return { server, port: await listen(server), sockets };
}

/** A port nothing listens on (bound then released). */
export async function deadPort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await closeServer(s);
  return port;
}

/**
 * A TCP port whose connects hang: a child process listens with a backlog of 1 and blocks its event
 * loop in the listen callback, right after writing its port (synchronously, so the line is out before
 * it blocks), so it never accepts; once two connections fill the accept queue the kernel drops
 * further SYNs.
 */
export async function blackhole(): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('net').createServer();
       s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
         require('fs').writeSync(1, s.address().port + '\\n');
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
       });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (d) => resolve(Number(String(d).trim()))));
  const { connect } = await import('node:net');
  const fill = [connect(port, '127.0.0.1'), connect(port, '127.0.0.1')];
  await Promise.all(fill.map((s) => new Promise((r) => s.once('connect', r))));
  for (const s of fill) s.on('error', () => {});
  return { port, child };
}

/** A UDP server that answers every datagram with "<tag>:<datagram>". */
export function udpTagged(tag: string): Promise<{ socket: UdpSocket; port: number; received: string[] }> {
  const socket = createSocket('udp4');
  const received: string[] = [];
  socket.on('message', (m, r) => {
    received.push(String(m));
    socket.send(Buffer.concat([Buffer.from(`${tag}:`), m]), r.port, r.address);
  });
  return new Promise((resolve) => socket.bind(0, '127.0.0.1', () => resolve({ socket, port: socket.address().port, received })));
}
