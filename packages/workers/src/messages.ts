/**
 * Every message between the supervisor and the worker threads, in one place. None of them is on the
 * request path: requests only touch SharedState.
 */
import type { ClusterConfig, Config } from '@pillion/core';
import type { FilterCounters } from './worker/filter-chains.js';

export interface EndpointSnapshot {
  slot: number;
  address: string;
  port: number;
  weight: number;
  zone: string;
  /** "address:port", the endpoint's identity inside its cluster. */
  key: string;
}

export interface ClusterSnapshot {
  slot: number;
  name: string;
  config: ClusterConfig;
  endpoints: EndpointSnapshot[];
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
}

/** What a worker needs to serve: the validated config plus the shared-memory slots assigned to it. */
export interface RuntimeSnapshot {
  generation: number;
  config: Config;
  listenerSlots: Record<string, number>;
  clusters: ClusterSnapshot[];
  /** Listener name → its filter chain, in order. */
  filters?: Record<string, FilterSpec[]>;
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
