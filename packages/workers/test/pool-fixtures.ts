/** Endpoint pool options for tests: one endpoint on 127.0.0.1, no limits, no warm-up; `o` overrides. */
import type { EndpointPoolOptions, PoolLimits } from '../src/upstream/endpoint-pool.js';

export function poolOptions(port: number, o: Partial<EndpointPoolOptions & PoolLimits> = {}): EndpointPoolOptions & PoolLimits {
  return {
    host: '127.0.0.1',
    port,
    endpointSlot: 0,
    clusterSlot: 0,
    maxConnections: 16,
    connectTimeoutMs: 1000,
    idleTimeoutMs: 60_000,
    maxRequestsPerConnection: 0,
    maxResponseHeadBytes: 65536,
    warmup: null,
    preconnectRatio: 1,
    minIdle: 0,
    maxConnectionAgeMs: 0,
    clusterMaxConnections: Infinity,
    clusterMaxPending: Infinity,
    endpointMaxConnections: Infinity,
    endpointMaxPending: Infinity,
    ...o,
  };
}
