/**
 * What a layer-4 listener needs from the worker that runs it. WorkerRuntime provides all of it; unit
 * tests provide a small stand-in with scripted picks, so the socket handling can be tested against
 * real sockets without a whole worker.
 */
import { HeaderList, type Config, type PickRequest, type SharedState, type StatsWriter } from '@pillion/core';
import type { Logger } from '../logger.js';
import type { ClusterSnapshot } from '../messages.js';
import type { UpstreamResult } from '../worker/cluster-runtime.js';
import type { ListenerTls } from '../worker/worker-tls.js';

/** The parts of an upstream endpoint a layer-4 proxy uses. */
export interface L4Endpoint {
  readonly slot: number;
  readonly key: string;
  readonly address: string;
  readonly port: number;
}

/** The parts of a cluster a layer-4 proxy uses (ClusterRuntime has them). */
export interface L4Cluster {
  readonly name: string;
  readonly slot: number;
  readonly snapshot: ClusterSnapshot;
  pick(req: PickRequest, attempt: number): L4Endpoint | null;
  onResult(endpoint: L4Endpoint, result: UpstreamResult): void;
}

export interface L4Host {
  readonly thread: number;
  readonly state: SharedState;
  readonly stats: StatsWriter;
  readonly log: Logger;
  readonly accessLog: Logger;
  /** The running config; replaced (never mutated) on reload, so a listener notices by identity. */
  readonly config: Config;
  cluster(name: string): L4Cluster | undefined;
  /** The TLS of listeners with `tls` (WorkerTls): their contexts follow the snapshots the worker applies. */
  readonly tls: { listener(name: string): ListenerTls | undefined };
}

/** Layer 4 has no headers; hashing policies read `clientAddress` (hash_on: source-ip). */
export const NO_HEADERS = new HeaderList([]);

/** A successful connect, reported to the cluster like a 2xx so passive health counts it as a success. */
export const CONNECTED = 200;

/** The access logger when access logging is on, else null; plus the sampled fraction. */
export function accessLogOf(host: L4Host): { log: Logger | null; sample: number } {
  const al = host.config.access_log;
  return { log: al.enabled && al.sample > 0 ? host.accessLog : null, sample: al.sample };
}

/** Whether this connection or session is logged (access_log.sample). */
export function sampled(sample: number): boolean {
  return sample >= 1 || Math.random() < sample;
}
