/**
 * Every message between the supervisor and the worker threads, in one place. None of them is on the
 * request path: requests only touch SharedState.
 */
import type { ClusterConfig, Config } from '@pillion/core';

export interface EndpointSnapshot {
  slot: number;
  address: string;
  port: number;
  weight: number;
  zone: string;
  /** "address:port", the endpoint's identity inside its cluster. */
  key: string;
  /** Priority level, 0 (default) the highest (see LbEndpoint.priority). */
  priority?: number;
  /**
   * The name the supervisor resolved `address` from (a host name in the config, a DNS-discovered
   * name): the TLS server name and the Host of health checks, as if the endpoint were still that name.
   */
  hostname?: string;
  /** Where the endpoint came from: the config file, the admin API, or DNS. */
  source?: EndpointSource;
}

export type EndpointSource = 'config' | 'admin' | 'dns';

export interface ClusterSnapshot {
  slot: number;
  name: string;
  config: ClusterConfig;
  endpoints: EndpointSnapshot[];
}

/** What a worker's filters counted: reported to the supervisor now and then, never per request. */
export interface FilterCounters {
  /** `listener/filter` → failures since start */
  errors: Record<string, number>;
  /** `listener/filter` → the filter's own counters and gauges */
  metrics: Record<string, Record<string, number>>;
}

/** One WASM filter of a listener, compiled once by the supervisor; each worker instantiates its own. */
export interface FilterSpec {
  name: string;
  module: WebAssembly.Module;
  /** The filter's `config:` as JSON text. */
  config: string;
  failOpen: boolean;
  maxMemory: number;
  /** The filter's range of shared token buckets (local-rate-limit and friends). */
  bucketBase: number;
  bucketCount: number;
  /** Set when the module speaks Envoy's proxy-wasm ABI (told by its exports); null for Pillion's own. */
  proxyWasm: ProxyWasmSpec | null;
}

/** What a proxy-wasm filter needs beyond a Pillion one. */
export interface ProxyWasmSpec {
  rootId: string;
  /** Per direction (request, response): hand the module the whole body. */
  bufferBody: [boolean, boolean];
  maxBodyBytes: number;
  /** The store shared by every worker's VMs of this filter; null when the module does not use it. */
  sharedData: { buffer: SharedArrayBuffer; keys: number; keyBytes: number; valueBytes: number } | null;
  /** The queues shared by every worker's VMs of this filter; null when the module does not use them. */
  sharedQueues: { buffer: SharedArrayBuffer; queues: number; items: number; itemBytes: number } | null;
}

/** A TLS listener's certificates and keys (PEM), read and checked by the supervisor. */
export interface ListenerTlsMaterial {
  /** In config order: the first is the default; others serve their SNI names. */
  certificates: { cert: string; key: string; serverNames: string[]; /** Its first URI SAN ('' for none): x-forwarded-client-cert's By. */ uri: string }[];
  /** CA bundle client certificates must chain to (client_certificate.ca_file), or null. */
  ca: string | null;
  /** Session ticket keys (48 bytes), the same in every worker so a client resumes on any thread. */
  ticketKeys: Uint8Array;
}

/** A cluster's TLS files (PEM), read and checked by the supervisor. */
export interface ClusterTlsMaterial {
  /** null: the system's trust store. */
  ca: string | null;
  cert: string | null;
  key: string | null;
}

export interface TlsMaterial {
  listeners: Record<string, ListenerTlsMaterial>;
  clusters: Record<string, ClusterTlsMaterial>;
}

/** What a worker needs to serve: the validated config plus the shared-memory slots assigned to it. */
export interface RuntimeSnapshot {
  generation: number;
  config: Config;
  listenerSlots: Record<string, number>;
  clusters: ClusterSnapshot[];
  /** HTTP listener name → the statistics slot of each of its routes, by route index. */
  routeSlots?: Record<string, number[]>;
  /** Listener name → its filter chain, in order. */
  filters?: Record<string, FilterSpec[]>;
  /** Certificates and keys of TLS listeners and clusters. */
  tls?: TlsMaterial;
}

/** The argument of the long-running `serve` task, one per worker thread. */
export interface ServeTask {
  thread: number;
  buffer: SharedArrayBuffer;
  snapshot: RuntimeSnapshot;
  /** Token buckets shared by every worker's filters. */
  filterBuckets: SharedArrayBuffer | null;
  /** Test-only fault switch (PILLION_TEST_FAULTS=1): lets the admin API crash a worker. */
  faults: boolean;
}

/** supervisor → workers */
export type ControlMessage =
  | { type: 'config'; snapshot: RuntimeSnapshot }
  | { type: 'drain'; timeoutMs: number }
  | { type: 'crash'; thread: number };

/** workers → supervisor */
export type StatusMessage =
  | { type: 'listening'; thread: number; generation: number }
  | { type: 'listen-failed'; thread: number; error: string }
  | { type: 'applied'; thread: number; generation: number }
  | { type: 'filter-counters'; thread: number; counters: FilterCounters };

export const CONTROL_CHANNEL = 'pillion:control';
export const STATUS_CHANNEL = 'pillion:status';
