/**
 * How many file descriptors a config may hold open at its limits, to compare with the process's
 * open-file limit (RLIMIT_NOFILE). Out of descriptors, a listener cannot accept: uWS then spins a core
 * without JavaScript hearing of it, and Node's listeners accept and close each connection at once. So
 * `pillion validate` and start-up warn when the limit is below this budget. The budget:
 *
 *   PROCESS_DESCRIPTORS + THREAD_DESCRIPTORS x workers      the process's own (stdio, event loops, ports,
 *                                                           admin, health checks, watched files, logs)
 * + per tcp listener: max_connections                      its client connections
 * + per udp listener: max_sessions                         a socket to the endpoint per session
 * + per http listener: HTTP_LISTENER_CONNECTIONS           client connections: an HTTP listener has no
 *                                                           connection limit to read, so this is assumed
 * + per cluster: circuit_breaker.max_connections           upstream connections (HTTP pools and TCP)
 * + per cluster: endpoints                                 an active health check's connection each
 */
import type { Config } from './schema.js';

export const PROCESS_DESCRIPTORS = 64;
export const THREAD_DESCRIPTORS = 16;
export const HTTP_LISTENER_CONNECTIONS = 1024;

export interface DescriptorBudget {
  total: number;
  /** What each part of the config counts for, largest first. */
  parts: { what: string; descriptors: number }[];
}

export function descriptorBudget(config: Config, workers: number): DescriptorBudget {
  const parts: { what: string; descriptors: number }[] = [{ what: `the process and ${workers} worker threads`, descriptors: PROCESS_DESCRIPTORS + THREAD_DESCRIPTORS * workers }];
  config.listeners.forEach((l, i) => {
    if (l.protocol === 'tcp') parts.push({ what: `listeners[${i}].max_connections`, descriptors: l.max_connections });
    else if (l.protocol === 'udp') parts.push({ what: `listeners[${i}].max_sessions`, descriptors: l.max_sessions });
    else parts.push({ what: `listeners[${i}] (http: ${HTTP_LISTENER_CONNECTIONS} client connections assumed)`, descriptors: HTTP_LISTENER_CONNECTIONS });
  });
  config.clusters.forEach((c, i) => {
    parts.push({ what: `clusters[${i}].circuit_breaker.max_connections`, descriptors: c.circuit_breaker.max_connections });
    if (c.health_check) parts.push({ what: `clusters[${i}].health_check`, descriptors: c.endpoints.length });
  });
  parts.sort((a, b) => b.descriptors - a.descriptors);
  return { total: parts.reduce((n, p) => n + p.descriptors, 0), parts };
}
